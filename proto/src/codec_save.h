// The save header: canonical encoding and decoding (PROTOCOL.md "Client -> daemon",
// "Canonical form", "Decoder checks").  Internal to the codec; codec.cc dispatches on "kind".
// Thread-safety: all functions are pure.
#pragma once

#include <cstddef>
#include <msgpack.hpp>
#include <string>

#include "imgsink/proto/codec.h"
#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"

namespace imgsink {
namespace proto_internal {

// A save header has 31 keys (kSaveFields, codec_save.cc); the first 7 are required, the others
// are written only when their value is not the default (PROTOCOL.md, "Canonical form").
inline constexpr size_t kSaveKeyCount = 31;
inline constexpr size_t kRequiredSaveKeys = 7;

// The canonical header frame of `r`: keys in table order, optional keys only when not default.
std::string EncodeSaveRequest(const SaveRequest& r);

// Decodes the entries of a save header map whose "v" and "kind" were already checked, with the
// per-key checks of PROTOCOL.md "Decoder checks" and the shape's rank and byte size.  *out is
// unspecified on failure.
Status DecodeSaveRequest(const msgpack::object_map& map, const DecodeLimits& limits,
                         SaveRequest* out);

}  // namespace proto_internal
}  // namespace imgsink
