// The flow-control messages (PROTOCOL.md, "Flow control (credits)") beyond the shared vectors:
// random round trips, bytes written by hand, refusals, and which answer an ok reply carries.
#include <algorithm>
#include <catch.hpp>
#include <random>

#include "imgsink/proto/codec.h"
#include "message_json.h"

namespace imgsink {
namespace {

Status DecodeClient(const std::string& bytes, ClientMessage* out, uint64_t* id) {
  return DecodeClientMessage(bytes.data(), bytes.size(), out, id);
}

Status DecodeServer(const std::string& bytes, ServerMessage* out) {
  return DecodeServerMessage(bytes.data(), bytes.size(), out);
}

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

// msgpack fixstr header + body, for hand-built frames.
std::string Str(const std::string& s) {
  REQUIRE(s.size() < 32);
  return static_cast<char>(0xa0 | s.size()) + s;
}

TEST_CASE("codec: random credit requests round-trip", "[proto][codec][credit]") {
  std::mt19937_64 rng(20240602);
  for (int i = 0; i < 2000; ++i) {
    CreditRequest c;
    c.request_id = rng();
    c.bytes = std::max<uint64_t>(1, rng() >> (rng() % 64));  // every magnitude, never 0
    c.policy = static_cast<BusyPolicy>(rng() % 3);
    c.timeout_ms = static_cast<uint32_t>(rng() >> (rng() % 64));
    const std::string bytes = EncodeClientMessage(c);
    ClientMessage decoded;
    uint64_t id = 0;
    INFO(test::ToJson(ClientMessage(c)).dump());
    REQUIRE(DecodeClient(bytes, &decoded, &id).ok());
    CHECK(id == c.request_id);
    REQUIRE(std::holds_alternative<CreditRequest>(decoded));
    const CreditRequest& d = std::get<CreditRequest>(decoded);
    CHECK(d.request_id == c.request_id);
    CHECK(d.bytes == c.bytes);
    CHECK(d.policy == c.policy);
    CHECK(d.timeout_ms == c.timeout_ms);
    REQUIRE(EncodeClientMessage(decoded) == bytes);
  }
}

TEST_CASE("codec: credit request bytes, independently of the vectors", "[proto][codec][credit]") {
  CreditRequest c;
  c.request_id = 3;
  c.bytes = 1;
  c.policy = BusyPolicy::kError;
  c.timeout_ms = 0;
  // {"v":1,"kind":"credit","id":3,"bytes":1,"policy":"error","timeout_ms":0}, written by hand.
  const std::string expected = Bytes({0x86}) + Str("v") + Bytes({1}) + Str("kind") + Str("credit") +
                               Str("id") + Bytes({3}) + Str("bytes") + Bytes({1}) + Str("policy") +
                               Str("error") + Str("timeout_ms") + Bytes({0});
  CHECK(test::ToHex(EncodeClientMessage(c)) == test::ToHex(expected));
}

TEST_CASE("codec: credit request refusals name the key and the id", "[proto][codec][credit]") {
  CreditRequest c;
  c.request_id = 41;
  c.bytes = 7;
  std::string bytes = EncodeClientMessage(c);
  const size_t at = bytes.find("bytes") + 5;
  REQUIRE(bytes[at] == 7);
  bytes[at] = 0;
  ClientMessage msg;
  uint64_t id = 0;
  Status s = DecodeClient(bytes, &msg, &id);
  CHECK(s.code() == ErrorCode::kBadOption);
  CHECK(s.message().find("'bytes'") != std::string::npos);
  CHECK(id == 41);
  // A save key in a credit header is unknown there.
  const std::string with_path = Bytes({0x84}) + Str("v") + Bytes({1}) + Str("kind") +
                                Str("credit") + Str("id") + Bytes({42}) + Str("path") + Str("x");
  s = DecodeClient(with_path, &msg, &id);
  CHECK(s.code() == ErrorCode::kBadRequest);
  CHECK(s.message().find("'path'") != std::string::npos);
  CHECK(id == 42);
  // Only "v", "kind", "id": the first missing key in canonical order is named.
  const std::string bare =
      Bytes({0x83}) + Str("v") + Bytes({1}) + Str("kind") + Str("credit") + Str("id") + Bytes({43});
  s = DecodeClient(bare, &msg, &id);
  CHECK(s.code() == ErrorCode::kBadRequest);
  CHECK(s.message().find("'bytes'") != std::string::npos);
}

TEST_CASE("codec: an ok reply writes credit, else counters, else job", "[proto][codec][credit]") {
  Reply r;
  r.request_id = 1;
  r.job_id = 5;
  r.counters = {{"jobs_accepted", 1}};
  r.credit = 4096;
  ServerMessage decoded;
  REQUIRE(DecodeServer(EncodeServerMessage(r), &decoded).ok());
  CHECK(std::get<Reply>(decoded).credit == 4096);
  CHECK(std::get<Reply>(decoded).job_id == 0);
  CHECK(std::get<Reply>(decoded).counters.empty());
  r.credit = 0;
  REQUIRE(DecodeServer(EncodeServerMessage(r), &decoded).ok());
  CHECK(std::get<Reply>(decoded).credit == 0);
  CHECK(std::get<Reply>(decoded).counters.size() == 1);
  // A refusal carries none of the three, whatever the struct holds.
  r.credit = 4096;
  r.status = Status(ErrorCode::kBusy, "full");
  const std::string refused = EncodeServerMessage(r);
  CHECK(refused.find("credit") == std::string::npos);
  CHECK(refused.find("counters") == std::string::npos);
  REQUIRE(DecodeServer(refused, &decoded).ok());
  CHECK(std::get<Reply>(decoded).credit == 0);
}

}  // namespace
}  // namespace imgsink
