// The save header's TensorBoard keys (proto/PROTOCOL.md, "TensorBoard"): "quantize" and the
// "tb" map.  Internal to the codec; codec.cc lists them in its key table (kSaveFields).
// Thread-safety: all functions are pure.
#pragma once

#include <msgpack.hpp>
#include <string_view>

#include "imgsink/proto/codec.h"
#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"
#include "msgpack_writer.h"

namespace imgsink {
namespace proto_internal {

// Writes the "tb" key and its map {"tag", "step", "wall_time"} (that order, all present).
void WriteTensorBoardKey(const TensorBoardImage& tb, CanonicalWriter* w);

// Readers of the two keys, in the FieldSpec<SaveRequest> signature.  "quantize": a Quantize
// wire name (bad_option otherwise).  "tb": nil (no target), or a map of exactly "tag" (str, 1..max_string_bytes
// bytes; bad_option), "step" (int64; bad_option) and "wall_time" (finite number, >= 0;
// bad_option); a missing, unknown or repeated entry is bad_request.
Status ReadQuantizeKey(const msgpack::object& o, std::string_view key, const DecodeLimits& limits,
                       SaveRequest* r);
Status ReadTensorBoardKey(const msgpack::object& o, std::string_view key,
                          const DecodeLimits& limits, SaveRequest* r);

}  // namespace proto_internal
}  // namespace imgsink
