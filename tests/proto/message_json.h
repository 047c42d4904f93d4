// Test helper: the JSON form of messages used by proto/vectors/vectors.json ("message"), built
// from the vector files' field tables, independently of the codec under test.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "imgsink/proto/messages.h"

namespace imgsink::test {

using Json = nlohmann::ordered_json;  // keeps the canonical key order of the vectors

// Builds the message a vector's "message" describes.  Fails the current test (REQUIRE) on a
// field the helper cannot map.
ClientMessage ClientMessageFromJson(const Json& j);
ServerMessage ServerMessageFromJson(const Json& j);

// The inverse: every wire key in canonical order, as the vectors write them.
Json ToJson(const ClientMessage& msg);
Json ToJson(const ServerMessage& msg);

std::vector<uint8_t> FromHex(const std::string& hex);
std::string ToHex(const std::string& bytes);

}  // namespace imgsink::test
