// CURVE keys: loading them, and a client talking to a CURVE server over loopback tcp.
#include <zmq.h>

#include <catch.hpp>
#include <chrono>
#include <fstream>

#include "fake_daemon.h"
#include "imgsink/client.h"
#include "imgsink/curve_keys.h"
#include "test_util.h"

namespace imgsink {
namespace {

using namespace std::chrono_literals;
using test::FakeDaemon;
using test::TempDir;

struct KeyPair {
  std::string public_key, secret_key;
  KeyPair() {
    char pub[41], sec[41];
    REQUIRE(zmq_curve_keypair(pub, sec) == 0);
    public_key = pub;
    secret_key = sec;
  }
};

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  REQUIRE(out.good());
}

TEST_CASE("LoadCurveKey takes a key or reads it from a key file", "[client][curve]") {
  TempDir dir;
  const KeyPair keys;
  std::string z85;
  REQUIRE(LoadCurveKey(keys.public_key, &z85).ok());
  CHECK(z85 == keys.public_key);
  // imgsinkctl keygen's format (key + newline), with comments and blank lines allowed first.
  WriteFile(dir.File("c.key"), "# client secret\n\n  " + keys.secret_key + "  \n");
  REQUIRE(LoadCurveKey(dir.File("c.key"), &z85).ok());
  CHECK(z85 == keys.secret_key);
  WriteFile(dir.File("short.key"), "abc\n");
  CHECK(LoadCurveKey(dir.File("short.key"), &z85).code() == ErrorCode::kBadOption);
  CHECK(LoadCurveKey(dir.File("missing.key"), &z85).code() ==
        ErrorCode::kBadOption);
}

TEST_CASE("ParseCurveKeys reads SERVER,PUBLIC,SECRET", "[client][curve]") {
  TempDir dir;
  const KeyPair server, client;
  WriteFile(dir.File("server.pub"), server.public_key + "\n");
  CurveKeys keys;
  REQUIRE(ParseCurveKeys(dir.File("server.pub") + "," + client.public_key + "," +
                             client.secret_key, &keys).ok());
  CHECK(keys.server_public_key == server.public_key);
  CHECK(keys.public_key == client.public_key);
  CHECK(keys.secret_key == client.secret_key);
  CHECK(ParseCurveKeys(server.public_key + "," + client.public_key, &keys).code() ==
        ErrorCode::kBadOption);
}

TEST_CASE("Open refuses malformed CURVE keys", "[client][curve]") {
  ClientOptions options;
  options.curve = CurveKeys{std::string(40, ' '), std::string(40, 'a'), std::string(40, 'a')};
  std::unique_ptr<Client> client;
  const Status s = Client::Open("tcp://127.0.0.1:1", options, &client);
  CHECK(s.code() == ErrorCode::kBadOption);
  CHECK(s.message().find("server public key") != std::string::npos);
}

TEST_CASE("a client with the server's key saves over CURVE; a wrong key never connects",
          "[client][curve]") {
  if (!zmq_has("curve")) return;  // Debian's libzmq has it; nothing to test without
  const KeyPair server, client_keys, stranger;
  FakeDaemon daemon("tcp://127.0.0.1:*", FakeDaemon::AcceptAndWrite, FakeDaemon::GrantCredit,
                    server.secret_key);
  test::Uint8Image image(4, 4, 1);
  {
    ClientOptions options;
    options.curve = CurveKeys{server.public_key, client_keys.public_key, client_keys.secret_key};
    auto client = test::OpenClient(daemon.endpoint(), options);
    REQUIRE(client->save_image(image.view, "curve.png").wait(20s).ok());
  }
  {
    ClientOptions options;
    options.connect_timeout = 200ms;
    options.curve = CurveKeys{stranger.public_key, client_keys.public_key,
                              client_keys.secret_key};
    auto client = test::OpenClient(daemon.endpoint(), options);
    const Status s = client->save_image(image.view, "wrong.png").wait(20s);
    CHECK(s.code() == ErrorCode::kDisconnected);
    CHECK(s.message().find("handshake failed") != std::string::npos);
  }
  {
    ClientOptions plain;  // no CURVE at all: the server refuses the handshake
    plain.connect_timeout = 200ms;
    auto client = test::OpenClient(daemon.endpoint(), plain);
    CHECK(client->save_image(image.view, "plain.png").wait(20s).code() ==
          ErrorCode::kDisconnected);
  }
  const auto got = daemon.received();
  REQUIRE(got.size() == 1);
  CHECK(std::get<SaveRequest>(got[0].message).path == "curve.png");
}

TEST_CASE("CURVE keys apply to tcp endpoints only: an ipc endpoint in the list stays plain",
          "[client][curve]") {
  if (!zmq_has("curve")) return;
  const KeyPair server, client_keys;
  test::TempDir dir;
  FakeDaemon plain(dir.Endpoint("plain.sock"), FakeDaemon::AcceptAndWrite,
                   FakeDaemon::GrantCredit);
  ClientOptions options;
  options.curve = CurveKeys{server.public_key, client_keys.public_key, client_keys.secret_key};
  options.connect_timeout = 5s;
  auto client = test::OpenClient(plain.endpoint(), options);
  test::Uint8Image image(4, 4, 1);
  REQUIRE(client->save_image(image.view, "ipc.png").wait(20s).ok());
  REQUIRE(plain.received().size() == 1);
}

}  // namespace
}  // namespace imgsink
