// daemon/socket/zap_handler: key files, the ZAP (RFC 27) answers, and a CURVE ROUTER that admits
// exactly the allowed client keys.
#include "daemon/socket/zap_handler.h"

#include <zmq.h>

#include <catch.hpp>
#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "daemon/socket/socket_thread.h"
#include "socket/socket_test_util.h"
#include "test_util/temp_dir.h"

namespace imgsink::daemon {
namespace {

using namespace sockettest;
using namespace std::chrono_literals;
using testutil::TempDir;

struct KeyPair {
  std::string public_key, secret_key;  // Z85
  KeyPair() {
    char pub[41], sec[41];
    REQUIRE(zmq_curve_keypair(pub, sec) == 0);
    public_key = pub;
    secret_key = sec;
  }
};

std::string Binary(const std::string& z85) {
  uint8_t out[32];
  REQUIRE(z85.size() == 40);
  REQUIRE(zmq_z85_decode(out, z85.c_str()) != nullptr);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  REQUIRE(out.good());
}

TEST_CASE("LoadPublicKeys reads a key file: comments, blank lines and spaces ignored", "[zap]") {
  TempDir dir("zap-test");
  const KeyPair a, b;
  WriteText(dir.File("keys"), "# trainers\n\n  " + a.public_key + "\t\n" + b.public_key + "\n");
  std::set<std::string> keys;
  const Status s = LoadPublicKeys(dir.File("keys"), &keys);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(keys == std::set<std::string>{Binary(a.public_key), Binary(b.public_key)});
}

TEST_CASE("LoadPublicKeys reads every *.pub file of a directory, and only those", "[zap]") {
  TempDir dir("zap-test");
  const KeyPair a, b;
  WriteText(dir.File("a.pub"), a.public_key + "\n");
  WriteText(dir.File("b.pub"), b.public_key + "\n");
  WriteText(dir.File("README"), "not a key\n");
  WriteText(dir.File("c.pub.bak"), "not a key either\n");
  std::set<std::string> keys;
  REQUIRE(LoadPublicKeys(dir.path(), &keys).ok());
  CHECK(keys == std::set<std::string>{Binary(a.public_key), Binary(b.public_key)});
}

TEST_CASE("LoadPublicKeys names the file and line of a malformed key", "[zap]") {
  TempDir dir("zap-test");
  const KeyPair a;
  std::set<std::string> keys;
  SECTION("too short") {
    WriteText(dir.File("keys"), "# one good, one short\n" + a.public_key + "\nabc\n");
    const Status s = LoadPublicKeys(dir.File("keys"), &keys);
    CHECK(s.code() == ErrorCode::kBadOption);
    CHECK(s.message().find(dir.File("keys") + ":3") != std::string::npos);
  }
  SECTION("40 characters, not Z85") {
    WriteText(dir.File("bad.pub"), std::string(40, '"') + "\n");
    const Status s = LoadPublicKeys(dir.path(), &keys);
    CHECK(s.code() == ErrorCode::kBadOption);
    CHECK(s.message().find(dir.File("bad.pub") + ":1") != std::string::npos);
  }
  SECTION("missing") {
    CHECK(LoadPublicKeys(dir.File("nothing-here"), &keys).code() == ErrorCode::kBadOption);
  }
}

TEST_CASE("LoadKeyFile returns the file's one key as Z85", "[zap]") {
  TempDir dir("zap-test");
  const KeyPair a, b;
  std::string z85;
  WriteText(dir.File("one"), "# the server's secret key\n" + a.secret_key + "\n");
  REQUIRE(LoadKeyFile(dir.File("one"), &z85).ok());
  CHECK(z85 == a.secret_key);
  WriteText(dir.File("two"), a.secret_key + "\n" + b.secret_key + "\n");
  CHECK(LoadKeyFile(dir.File("two"), &z85).code() == ErrorCode::kBadOption);
  WriteText(dir.File("none"), "# nothing\n");
  CHECK(LoadKeyFile(dir.File("none"), &z85).code() == ErrorCode::kBadOption);
}

// Sends one ZAP request to the handler of `context` and returns the reply's frames.
std::vector<std::string> AskZap(zmq::context_t* context, const std::vector<std::string>& request) {
  zmq::socket_t req(*context, zmq::socket_type::req);
  req.set(zmq::sockopt::linger, 0);
  req.connect("inproc://zeromq.zap.01");
  SendFrames(&req, request);
  std::vector<std::string> reply;
  zmq::pollitem_t item{req.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(kLong));
  REQUIRE((item.revents & ZMQ_POLLIN));
  do {
    zmq::message_t frame;
    REQUIRE(req.recv(frame, zmq::recv_flags::none));
    reply.push_back(frame.to_string());
  } while (req.get(zmq::sockopt::rcvmore));
  return reply;
}

TEST_CASE("ZapHandler answers RFC 27 requests: allowed CURVE keys and NULL only", "[zap]") {
  zmq::context_t context;
  const KeyPair allowed, stranger;
  ZapHandler zap(&context, {Binary(allowed.public_key)});
  REQUIRE(zap.Start().ok());
  auto request = [](const std::string& id, const std::string& mechanism,
                    const std::vector<std::string>& credentials) {
    std::vector<std::string> r = {"1.0", id, "imgsink", "10.0.0.7", "", mechanism};
    r.insert(r.end(), credentials.begin(), credentials.end());
    return r;
  };
  CHECK(AskZap(&context, request("r1", "CURVE", {Binary(allowed.public_key)})) ==
        std::vector<std::string>{"1.0", "r1", "200", "OK", "", ""});
  CHECK(zap.denied() == 0);
  CHECK(AskZap(&context, request("r2", "CURVE", {Binary(stranger.public_key)})) ==
        std::vector<std::string>{"1.0", "r2", "400", "key not allowed", "", ""});
  CHECK(zap.denied() == 1);
  CHECK(AskZap(&context, request("r3", "NULL", {})) ==
        std::vector<std::string>{"1.0", "r3", "200", "OK", "", ""});
  CHECK(AskZap(&context, request("r4", "PLAIN", {"user", "password"}))[2] == "400");
  CHECK(AskZap(&context, {"1.0", "r5", "imgsink"})[2] == "400");  // too short
  CHECK(zap.denied() == 3);
  zap.Stop();
  zap.Stop();  // idempotent
}

TEST_CASE("The CURVE socket admits allowed client keys only; the plain one needs none",
          "[zap][socket]") {
  TempDir dir("zap-test");
  zmq::context_t context;
  const KeyPair server, allowed, stranger;
  ZapHandler zap(&context, {Binary(allowed.public_key)});
  REQUIRE(zap.Start().ok());
  Inbox inbox;
  SocketThread* self = nullptr;
  SocketOptions options;
  options.endpoints = {dir.Endpoint()};
  options.curve_endpoints = {"tcp://127.0.0.1:*"};
  options.curve_secret_key = server.secret_key;
  SocketThread thread(&context, options, Recorder(&inbox, &self));
  self = &thread;
  REQUIRE(thread.Start().ok());
  REQUIRE(thread.bound_endpoints().size() == 2);
  const std::string curve_endpoint = thread.bound_endpoints()[1];

  auto curve_dealer = [&](const KeyPair& keys, const std::string& id) {
    zmq::socket_t dealer(context, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::routing_id, id);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.set(zmq::sockopt::curve_serverkey, server.public_key);
    dealer.set(zmq::sockopt::curve_publickey, keys.public_key);
    dealer.set(zmq::sockopt::curve_secretkey, keys.secret_key);
    dealer.connect(curve_endpoint);
    return dealer;
  };
  zmq::socket_t intruder = curve_dealer(stranger, "intruder");
  SendFrames(&intruder, {"let me in"});
  zmq::socket_t trainer = curve_dealer(allowed, "trainer");
  SendFrames(&trainer, {"save"});
  zmq::socket_t local = Dealer(&context, dir.Endpoint(), "local");
  SendFrames(&local, {"plain"});

  REQUIRE(inbox.WaitFor(2));
  for (auto deadline = std::chrono::steady_clock::now() + kLong;
       zap.denied() == 0 && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(zap.denied() >= 1);
  std::this_thread::sleep_for(200ms);
  std::set<std::string> clients;
  for (const Received& r : inbox.Get()) {
    CHECK(r.frames[0] != "let me in");
    clients.insert(r.client);
  }
  const std::string trainer_client = std::string(1, '\1') + "trainer";  // socket 1: CURVE
  CHECK(clients == std::set<std::string>{trainer_client, std::string(1, '\0') + "local"});
  thread.Send(trainer_client, "done");
  std::string frame;
  REQUIRE(ReceiveOne(&trainer, &frame));
  CHECK(frame == "done");
  thread.Stop();
  zap.Stop();
}

}  // namespace
}  // namespace imgsink::daemon
