// Codec behaviour beyond the shared vectors: round trips of random messages, request ids on
// refusals, limits, server-side details, and robustness against hostile bytes.
#include "imgsink/proto/codec.h"

#include <catch.hpp>
#include <fstream>
#include <random>

#include "message_json.h"

namespace imgsink {
namespace {

using test::Json;

Status DecodeClient(const std::string& bytes, ClientMessage* out, uint64_t* id,
                    const DecodeLimits& limits = DecodeLimits()) {
  return DecodeClientMessage(bytes.data(), bytes.size(), out, id, limits);
}

Status DecodeServer(const std::string& bytes, ServerMessage* out,
                    const DecodeLimits& limits = DecodeLimits()) {
  return DecodeServerMessage(bytes.data(), bytes.size(), out, limits);
}

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

// msgpack str header + body, for hand-built frames.
std::string Str(const std::string& s) {
  REQUIRE(s.size() < 32);
  return static_cast<char>(0xa0 | s.size()) + s;
}

template <typename T>
T Pick(std::mt19937_64& rng, std::initializer_list<T> choices) {
  std::uniform_int_distribution<size_t> d(0, choices.size() - 1);
  return *(choices.begin() + d(rng));
}

// A valid save request with every field drawn at random from its legal range.
SaveRequest RandomSave(std::mt19937_64& rng) {
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  SaveRequest r;
  r.request_id = rng();
  r.dtype = static_cast<DType>(uniform(0, 5));
  r.layout = static_cast<Layout>(uniform(0, 4));
  for (int i = 0; i < LayoutRank(r.layout); ++i) r.shape.push_back(uniform(1, 1 << 12));
  r.path =
      "run/" + std::to_string(rng()) + Pick<std::string>(rng, {".png", ".jpg", "_{index}.png"});
  if (uniform(0, 1)) r.format = static_cast<OutputFormat>(uniform(0, 1));
  r.mode = static_cast<OutputMode>(uniform(0, 1));
  r.render.nrow = static_cast<int>(uniform(1, INT32_MAX));
  r.render.padding = static_cast<int>(uniform(0, 100));
  r.render.pad_value = std::uniform_real_distribution<double>(-1e6, 1e6)(rng);
  r.render.normalize = uniform(0, 1);
  if (uniform(0, 1)) r.render.value_range.emplace(-uniform(0, 5) * 0.1, uniform(0, 1 << 16) / 3.0);
  r.render.scale_each = uniform(0, 1);
  r.render.keep_gray = uniform(0, 1);
  r.png.compress_level = static_cast<int>(uniform(0, 9));
  r.png.bit_depth = Pick(rng, {8, 16});
  r.png.filter = static_cast<PngFilter>(uniform(0, 5));
  r.png.strategy = static_cast<PngStrategy>(uniform(0, 3));
  r.jpeg.quality = static_cast<int>(uniform(1, 100));
  r.jpeg.subsampling = static_cast<JpegSubsampling>(uniform(0, 2));
  r.webp.lossless = uniform(0, 1);
  r.webp.quality = static_cast<int>(uniform(0, 100));
  r.policy = static_cast<BusyPolicy>(uniform(0, 2));
  r.block_timeout_ms = static_cast<uint32_t>(rng());
  for (int64_t i = uniform(0, 64); i > 0; --i) {
    r.metadata[std::to_string(rng() % 1000)] =
        std::string(static_cast<size_t>(uniform(0, 40)), 'x');
  }
  return r;
}

TEST_CASE("codec: random save requests round-trip", "[proto][codec]") {
  std::mt19937_64 rng(20240601);
  for (int i = 0; i < 2000; ++i) {
    const ClientMessage msg = RandomSave(rng);
    const std::string bytes = EncodeClientMessage(msg);
    ClientMessage decoded;
    uint64_t id = 0;
    const Status s = DecodeClient(bytes, &decoded, &id);
    INFO(test::ToJson(msg).dump());
    REQUIRE(s.ok());
    CHECK(id == std::get<SaveRequest>(msg).request_id);
    REQUIRE(test::ToJson(decoded) == test::ToJson(msg));
    REQUIRE(EncodeClientMessage(decoded) == bytes);
  }
}

TEST_CASE("codec: status request round-trips", "[proto][codec]") {
  for (uint64_t id : {uint64_t{0}, uint64_t{127}, uint64_t{128}, ~uint64_t{0}}) {
    const std::string bytes = EncodeClientMessage(StatusRequest{id});
    ClientMessage decoded;
    uint64_t got = 1;
    REQUIRE(DecodeClient(bytes, &decoded, &got).ok());
    REQUIRE(std::holds_alternative<StatusRequest>(decoded));
    CHECK(std::get<StatusRequest>(decoded).request_id == id);
    CHECK(got == id);
  }
}

TEST_CASE("codec: server messages round-trip", "[proto][codec]") {
  Reply save_ok;
  save_ok.request_id = 5;
  save_ok.job_id = 9;
  Reply status_ok;
  status_ok.request_id = 6;
  status_ok.counters = {{"jobs_accepted", 3}, {"bytes_written", ~uint64_t{0}}};
  Reply refused;
  refused.request_id = 7;
  refused.status = Status(ErrorCode::kBusy, "queue full");
  Reply credit_ok;
  credit_ok.request_id = 12;
  credit_ok.credit = ~uint64_t{0};
  Reply no_credit;
  no_credit.request_id = 13;
  no_credit.status = Status(ErrorCode::kNoCredit, "save of 10 bytes, remaining credit 4");
  DoneEvent done_ok;
  done_ok.request_id = 8;
  done_ok.job_id = 10;
  DoneEvent done_failed;
  done_failed.request_id = 9;
  done_failed.job_id = 11;
  done_failed.status = Status(ErrorCode::kWriteFailed, "x.png: EIO");
  for (const ServerMessage& msg :
       std::vector<ServerMessage>{save_ok, status_ok, refused, credit_ok, no_credit, done_ok,
                                  done_failed}) {
    INFO(test::ToJson(msg).dump());
    const std::string bytes = EncodeServerMessage(msg);
    ServerMessage decoded;
    REQUIRE(DecodeServer(bytes, &decoded).ok());
    CHECK(decoded.index() == msg.index());
    CHECK(test::ToJson(decoded) == test::ToJson(msg));
    CHECK(EncodeServerMessage(decoded) == bytes);
  }
}

TEST_CASE("codec: a reply is a status reply iff it carries counters", "[proto][codec]") {
  Reply status_ok;
  status_ok.counters = {{"jobs_accepted", 1}};
  const std::string with_counters = EncodeServerMessage(status_ok);
  CHECK(with_counters.find("counters") != std::string::npos);
  CHECK(with_counters.find("\xa3job") == std::string::npos);
  // No counters: written as a save reply (job); it decodes to the same Reply value.
  Reply empty;
  empty.request_id = 3;
  const std::string without = EncodeServerMessage(empty);
  CHECK(without.find("counters") == std::string::npos);
  CHECK(without.find("\xa3job") != std::string::npos);
  ServerMessage decoded;
  REQUIRE(DecodeServer(without, &decoded).ok());
  CHECK(std::get<Reply>(decoded).job_id == 0);
  CHECK(std::get<Reply>(decoded).counters.empty());
}

TEST_CASE("codec: an unknown error code from a newer daemon still arrives", "[proto][codec]") {
  const std::string bytes = Bytes({0x86}) + Str("v") + Bytes({1}) + Str("kind") + Str("reply") +
                            Str("id") + Bytes({4}) + Str("ok") + Bytes({0xc2}) + Str("code") +
                            Str("over_quota") + Str("message") + Str("try later");
  ServerMessage decoded;
  REQUIRE(DecodeServer(bytes, &decoded).ok());
  const Reply& r = std::get<Reply>(decoded);
  CHECK(r.request_id == 4);
  CHECK(r.status.code() == ErrorCode::kInternal);
  CHECK(r.status.message() == "unknown error code 'over_quota': try later");
}

TEST_CASE("codec: long messages are cut at a UTF-8 boundary", "[proto][codec]") {
  // 8191 ASCII bytes then a 2-byte character straddling the 8192-byte cut.
  DoneEvent d;
  d.status = Status(ErrorCode::kWriteFailed, std::string(8191, 'a') + "\xc3\xa9" + "tail");
  ServerMessage decoded;
  REQUIRE(DecodeServer(EncodeServerMessage(d), &decoded).ok());
  CHECK(std::get<DoneEvent>(decoded).status.message() == std::string(8191, 'a'));
}

TEST_CASE("codec: refusals name the request id when it was readable", "[proto][codec]") {
  ClientMessage msg;
  uint64_t id = 99;
  // {"v": 2, "kind": "status", "id": 77}
  const std::string v2 =
      Bytes({0x83}) + Str("v") + Bytes({2}) + Str("kind") + Str("status") + Str("id") + Bytes({77});
  CHECK(DecodeClient(v2, &msg, &id).code() == ErrorCode::kUnsupportedVersion);
  CHECK(id == 77);
  // {"id": 78, "v": 1, "kind": "save", "bogus": 1}: id before the failing key.
  const std::string unknown = Bytes({0x84}) + Str("id") + Bytes({78}) + Str("v") + Bytes({1}) +
                              Str("kind") + Str("save") + Str("bogus") + Bytes({1});
  CHECK(DecodeClient(unknown, &msg, &id).code() == ErrorCode::kBadRequest);
  CHECK(id == 78);
  // {"bogus": 1, "v": 1, "kind": "save", "id": 79}: id after the failing key.
  const std::string late = Bytes({0x84}) + Str("bogus") + Bytes({1}) + Str("v") + Bytes({1}) +
                           Str("kind") + Str("save") + Str("id") + Bytes({79});
  CHECK(DecodeClient(late, &msg, &id).code() == ErrorCode::kBadRequest);
  CHECK(id == 79);
  CHECK(DecodeClient(Bytes({0xc1}), &msg, &id).code() == ErrorCode::kBadMessage);
  CHECK(id == 0);
  // A negative id is unreadable: 0.
  const std::string negative = Bytes({0x83}) + Str("v") + Bytes({1}) + Str("kind") + Str("status") +
                               Str("id") + Bytes({0xff});
  CHECK(DecodeClient(negative, &msg, &id).code() == ErrorCode::kBadRequest);
  CHECK(id == 0);
}

TEST_CASE("codec: errors name the offending key", "[proto][codec]") {
  SaveRequest r;
  r.shape = {1, 3, 8, 8};
  r.path = "x.png";
  r.render.nrow = 5;  // not the default, so the key is written
  std::string bytes = EncodeClientMessage(r);
  // Turn "nrow": 5 into "nrow": 0 (the value byte follows the key).
  const size_t at = bytes.find("nrow") + 4;
  REQUIRE(bytes[at] == 5);
  bytes[at] = 0;
  ClientMessage msg;
  uint64_t id;
  const Status s = DecodeClient(bytes, &msg, &id);
  CHECK(s.code() == ErrorCode::kBadOption);
  CHECK(s.message().find("'nrow'") != std::string::npos);
}

TEST_CASE("codec: limits", "[proto][codec][limits]") {
  ClientMessage msg;
  uint64_t id;
  SECTION("a frame over max_header_bytes is too_large before it is parsed") {
    DecodeLimits limits;
    limits.max_header_bytes = 16;
    const std::string status = EncodeClientMessage(StatusRequest{7});
    CHECK(DecodeClient(status, &msg, &id).ok());  // 20 bytes fit the default
    CHECK(DecodeClient(std::string(64 * 1024 + 1, '\x80'), &msg, &id).code() ==
          ErrorCode::kTooLarge);
    CHECK(DecodeClient(status, &msg, &id, limits).code() == ErrorCode::kTooLarge);
  }
  SECTION("declared container lengths are refused by the unpack limits, before allocation") {
    // msgpack-cxx checks its limits before it allocates a container's entries, so the message
    // naming the limit proves the ~96 GB (2^32-1 x 24 bytes) allocation never happened.
    for (const std::string& frame :
         {Bytes({0xdd, 0xff, 0xff, 0xff, 0xff}), Bytes({0xdf, 0xff, 0xff, 0xff, 0xff}),
          Bytes({0x81, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xff}),
          Bytes({0x81, 0xa1, 'x', 0xdf, 0xff, 0xff, 0xff, 0xff})}) {
      INFO(test::ToHex(frame));
      const Status s = DecodeClient(frame, &msg, &id);
      CHECK(s.code() == ErrorCode::kBadMessage);
      CHECK(s.message().find("size overflow") != std::string::npos);
      ServerMessage server;
      CHECK(DecodeServer(frame, &server).code() == ErrorCode::kBadMessage);
    }
  }
  SECTION("declared str/bin/ext lengths beyond the frame are bad_message") {
    // msgpack-cxx waits for all of a str's bytes before it looks at them (and references them
    // in place), so these fail as truncated input.
    for (const std::string& frame : {Bytes({0x81, 0xa1, 'x', 0xdb, 0xff, 0xff, 0xff, 0xff}),
                                     Bytes({0x81, 0xa1, 'x', 0xc6, 0xff, 0xff, 0xff, 0xff}),
                                     Bytes({0x81, 0xa1, 'x', 0xc9, 0xff, 0xff, 0xff, 0xff, 1})}) {
      INFO(test::ToHex(frame));
      CHECK(DecodeClient(frame, &msg, &id).code() == ErrorCode::kBadMessage);
    }
  }
  SECTION("an array may declare at most as many entries as the frame has bytes") {
    DecodeLimits limits;
    limits.max_header_bytes = 40;
    // {"x": [nil x 41]} cannot fit in 40 bytes, so its declared length is over the limit...
    std::string frame = Bytes({0x81, 0xa1, 'x', 0xdc, 0, 41});
    CHECK(DecodeClient(frame, &msg, &id, limits).message().find("array size overflow") !=
          std::string::npos);
    // ...while 34 entries (the rest of a 40-byte frame) are parsed and then judged as keys.
    frame = Bytes({0x81, 0xa1, 'x', 0xdc, 0, 34}) + std::string(34, '\xc0');
    REQUIRE(frame.size() == 40);
    CHECK(DecodeClient(frame, &msg, &id, limits).code() == ErrorCode::kBadRequest);
  }
  SECTION("nesting deeper than one level inside the header is bad_message") {
    // {"v":1,"kind":"status","id":7,"x":[[nil]]}
    const std::string frame = Bytes({0x84}) + Str("v") + Bytes({1}) + Str("kind") + Str("status") +
                              Str("id") + Bytes({7}) + Str("x") + Bytes({0x91, 0x91, 0xc0});
    const Status s = DecodeClient(frame, &msg, &id);
    CHECK(s.code() == ErrorCode::kBadMessage);
    CHECK(s.message().find("depth") != std::string::npos);
  }
  SECTION("custom rank, string and metadata limits") {
    SaveRequest r;
    r.shape = {2, 3, 4, 5};
    r.path = "abcdefgh.png";
    r.metadata = {{"a", "1"}, {"b", "2"}};
    const std::string bytes = EncodeClientMessage(r);
    CHECK(DecodeClient(bytes, &msg, &id).ok());
    DecodeLimits rank;
    rank.max_rank = 3;
    CHECK(DecodeClient(bytes, &msg, &id, rank).code() == ErrorCode::kBadShape);
    DecodeLimits strings;
    strings.max_string_bytes = 11;
    CHECK(DecodeClient(bytes, &msg, &id, strings).code() == ErrorCode::kBadPath);
    DecodeLimits meta;
    meta.max_metadata_entries = 1;
    CHECK(DecodeClient(bytes, &msg, &id, meta).code() == ErrorCode::kBadOption);
  }
}

// ---- Robustness: hostile bytes never crash, throw or pass ----

std::vector<std::string> ValidVectorBytes() {
  std::ifstream in(IMGSINK_SOURCE_DIR "/proto/vectors/vectors.json");
  REQUIRE(in.good());
  const Json doc = Json::parse(in);
  std::vector<std::string> out;
  for (const Json& v : doc.at("vectors")) {
    if (v.contains("error")) continue;
    const std::vector<uint8_t> b = test::FromHex(v.at("hex").get<std::string>());
    out.emplace_back(b.begin(), b.end());
  }
  REQUIRE(out.size() >= 10);
  return out;
}

// Decodes `bytes` both ways; returns true iff either side accepted them.
bool DecodesAnywhere(const std::string& bytes) {
  ClientMessage client;
  ServerMessage server;
  uint64_t id;
  bool ok = false;
  REQUIRE_NOTHROW(ok = DecodeClient(bytes, &client, &id).ok());
  if (ok) {  // whatever is accepted must be stable under re-encoding
    ClientMessage again;
    REQUIRE(DecodeClient(EncodeClientMessage(client), &again, &id).ok());
    REQUIRE(test::ToJson(again) == test::ToJson(client));
  }
  bool server_ok = false;
  REQUIRE_NOTHROW(server_ok = DecodeServer(bytes, &server).ok());
  if (server_ok) {
    ServerMessage again;
    REQUIRE(DecodeServer(EncodeServerMessage(server), &again).ok());
    REQUIRE(test::ToJson(again) == test::ToJson(server));
  }
  return ok || server_ok;
}

TEST_CASE("codec: every truncation of a valid vector is bad_message", "[proto][fuzz]") {
  for (const std::string& bytes : ValidVectorBytes()) {
    for (size_t n = 0; n < bytes.size(); ++n) {
      const std::string prefix = bytes.substr(0, n);
      ClientMessage client;
      ServerMessage server;
      uint64_t id;
      INFO(test::ToHex(prefix));
      REQUIRE(DecodeClient(prefix, &client, &id).code() == ErrorCode::kBadMessage);
      REQUIRE(DecodeServer(prefix, &server).code() == ErrorCode::kBadMessage);
    }
  }
}

TEST_CASE("codec: random bytes are refused without crashing", "[proto][fuzz]") {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(rng() % 48, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    if (i % 2) bytes.insert(0, 1, static_cast<char>(0x80 | (rng() % 16)));  // look like a map
    INFO(test::ToHex(bytes));
    REQUIRE_FALSE(DecodesAnywhere(bytes));
  }
}

TEST_CASE("codec: mutated valid vectors never crash and stay stable", "[proto][fuzz]") {
  std::mt19937_64 rng(11);
  const std::vector<std::string> valid = ValidVectorBytes();
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = valid[rng() % valid.size()];
    for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips) {
      bytes[rng() % bytes.size()] = static_cast<char>(rng());
    }
    INFO(test::ToHex(bytes));
    DecodesAnywhere(bytes);  // accepted or refused, but no crash, throw or instability
  }
}

}  // namespace
}  // namespace imgsink
