// Every vector of proto/vectors/vectors.json against the codec: valid vectors decode to their
// message, error vectors to their error code, and canonical messages encode to their bytes.
#include <catch.hpp>
#include <fstream>
#include <set>

#include "imgsink/proto/codec.h"
#include "message_json.h"

namespace imgsink {
namespace {

using test::Json;

Json LoadVectors() {
  std::ifstream in(IMGSINK_SOURCE_DIR "/proto/vectors/vectors.json");
  REQUIRE(in.good());
  Json doc = Json::parse(in);
  REQUIRE(doc.at("version") == 1);
  return doc;
}

std::string BytesOf(const Json& vector) {
  const std::vector<uint8_t> b = test::FromHex(vector.at("hex").get<std::string>());
  return std::string(b.begin(), b.end());
}

// Decodes `bytes` in `direction`; on success *decoded is the message as JSON.
Status Decode(const std::string& direction, const std::string& bytes, Json* decoded) {
  if (direction == "client") {
    ClientMessage msg;
    uint64_t id;
    Status s = DecodeClientMessage(bytes.data(), bytes.size(), &msg, &id);
    if (s.ok()) *decoded = test::ToJson(msg);
    return s;
  }
  REQUIRE(direction == "server");
  ServerMessage msg;
  Status s = DecodeServerMessage(bytes.data(), bytes.size(), &msg);
  if (s.ok()) *decoded = test::ToJson(msg);
  return s;
}

std::string Encode(const std::string& direction, const Json& message) {
  if (direction == "client") return EncodeClientMessage(test::ClientMessageFromJson(message));
  return EncodeServerMessage(test::ServerMessageFromJson(message));
}

TEST_CASE("vectors: every vector decodes to its message or its error", "[proto][vectors]") {
  const Json doc = LoadVectors();
  std::set<std::string> codes_seen;
  size_t valid = 0, errors = 0;
  for (const Json& v : doc.at("vectors")) {
    const std::string name = v.at("name").get<std::string>();
    const std::string direction = v.at("direction").get<std::string>();
    INFO("vector " << name);
    Json decoded;
    const Status s = Decode(direction, BytesOf(v), &decoded);
    INFO("status " << s.ToString());
    if (v.contains("error")) {
      ++errors;
      REQUIRE_FALSE(v.contains("message"));
      CHECK_FALSE(v.at("canonical").get<bool>());
      CHECK_FALSE(s.ok());
      CHECK(ErrorCodeName(s.code()) == v.at("error").get<std::string>());
      codes_seen.insert(v.at("error").get<std::string>());
    } else {
      ++valid;
      REQUIRE(s.ok());
      CHECK(decoded.dump() == v.at("message").dump());
    }
  }
  // The file must cover what the brief asked for; a truncated file must not pass silently.
  CHECK(valid >= 10);
  CHECK(errors >= 30);
  for (const char* code : {"bad_message", "unsupported_version", "bad_request", "bad_dtype",
                           "bad_shape", "bad_path", "bad_format", "bad_option"}) {
    CHECK(codes_seen.count(code) == 1);
  }
}

TEST_CASE("vectors: canonical messages encode to exactly their bytes", "[proto][vectors]") {
  const Json doc = LoadVectors();
  size_t canonical = 0;
  for (const Json& v : doc.at("vectors")) {
    if (!v.at("canonical").get<bool>()) continue;
    ++canonical;
    INFO("vector " << v.at("name").get<std::string>());
    const std::string direction = v.at("direction").get<std::string>();
    CHECK(test::ToHex(Encode(direction, v.at("message"))) == v.at("hex").get<std::string>());
  }
  CHECK(canonical >= 8);
}

TEST_CASE("vectors: non-canonical valid vectors re-encode canonically", "[proto][vectors]") {
  // Decoding then encoding yields the canonical bytes, which decode to the same message.
  const Json doc = LoadVectors();
  for (const Json& v : doc.at("vectors")) {
    if (v.at("canonical").get<bool>() || v.contains("error")) continue;
    INFO("vector " << v.at("name").get<std::string>());
    const std::string direction = v.at("direction").get<std::string>();
    const std::string canonical = Encode(direction, v.at("message"));
    CHECK(canonical != BytesOf(v));
    Json decoded;
    REQUIRE(Decode(direction, canonical, &decoded).ok());
    CHECK(decoded.dump() == v.at("message").dump());
  }
}

TEST_CASE("vectors: make_vectors.py reproduces vectors.json", "[proto][vectors][python]") {
  const std::string cmd =
      std::string(IMGSINK_PYTHON) + " " IMGSINK_SOURCE_DIR "/proto/vectors/make_vectors.py --check";
  CHECK(std::system(cmd.c_str()) == 0);
}

}  // namespace
}  // namespace imgsink
