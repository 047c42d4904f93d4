// Checked access to an untrusted msgpack header: unpacking within limits and typed reads that
// turn every mismatch into the Status that proto/PROTOCOL.md prescribes.  Internal to the codec.
// Thread-safety: all functions are pure.
#pragma once

#include <bitset>
#include <cstdint>
#include <msgpack.hpp>
#include <string>
#include <string_view>

#include "imgsink/proto/codec.h"
#include "imgsink/proto/status.h"

namespace imgsink {
namespace proto_internal {

// Unpacks `data` as exactly one msgpack map.  Returns kTooLarge when size exceeds
// limits.max_header_bytes; kBadMessage when the bytes are not msgpack, break the unpack limits
// derived from `limits` (PROTOCOL.md, "Limits"), are followed by trailing bytes or are not a map.
// On success *out owns the map; strings in it point into `data`, which must outlive *out.
Status UnpackMap(const void* data, size_t size, const DecodeLimits& limits,
                 msgpack::object_handle* out);

// Returns the value of the first entry whose key is the str `key`, or nullptr.
const msgpack::object* FindValue(const msgpack::object_map& map, std::string_view key);

// Checks the "v" entry: bad_request when missing or not an integer, unsupported_version when it
// is not kProtocolVersion.  Decoders check it before any other key so that a future version's
// new keys are reported as a version mismatch.
Status CheckVersion(const msgpack::object_map& map);

// Reads the "kind" entry; bad_request when missing or not a str.
Status ReadKind(const msgpack::object_map& map, std::string_view* kind);

// "key 'name': what" with the key made printable and cut short (keys are untrusted bytes).
Status KeyError(ErrorCode code, std::string_view key, std::string_view what);

// Typed reads.  Each returns bad_request naming `key` when `o` has the wrong msgpack type, and
// the stated code when the value is out of range.  Integers may arrive in any msgpack integer
// format; floats as float32 or float64.
Status ReadUint64(const msgpack::object& o, std::string_view key, uint64_t* out);
// Range error: `range_code` unless lo <= value <= hi.
Status ReadInt(const msgpack::object& o, std::string_view key, int64_t lo, int64_t hi,
               ErrorCode range_code, int64_t* out);
// An int or a float; bad_option unless finite.
Status ReadFiniteNumber(const msgpack::object& o, std::string_view key, double* out);
Status ReadBool(const msgpack::object& o, std::string_view key, bool* out);
// Range error: `too_long_code` when longer than max_bytes.
Status ReadStr(const msgpack::object& o, std::string_view key, size_t max_bytes,
               ErrorCode too_long_code, std::string_view* out);

// Reads a str naming an enum value with `parse`; `unknown_code` when parse rejects it.
template <typename Enum>
Status ReadEnum(const msgpack::object& o, std::string_view key,
                bool (*parse)(std::string_view, Enum*), ErrorCode unknown_code, Enum* out) {
  std::string_view name;
  Status s = ReadStr(o, key, 64, unknown_code, &name);
  if (!s.ok()) return s;
  if (!parse(name, out)) return KeyError(unknown_code, key, "unknown value");
  return Status::OK();
}

// One known key of a map and how to read its value into a Target.
template <typename Target>
struct FieldSpec {
  std::string_view key;
  bool required;
  Status (*read)(const msgpack::object& value, std::string_view key, const DecodeLimits& limits,
                 Target* out);
};

// Reads every entry of `map` with the spec of its key, in wire order; stops at the first
// failure.  A key that is not a str, not in `specs`, or seen twice is bad_request.  On return
// (*seen)[i] tells whether specs[i].key was present.
template <typename Target, size_t N>
Status ReadFields(const msgpack::object_map& map, const FieldSpec<Target> (&specs)[N],
                  const DecodeLimits& limits, Target* out, std::bitset<N>* seen) {
  for (uint32_t e = 0; e < map.size; ++e) {
    const msgpack::object& k = map.ptr[e].key;
    if (k.type != msgpack::type::STR) {
      return Status(ErrorCode::kBadRequest, "header keys must be strings");
    }
    const std::string_view key(k.via.str.ptr, k.via.str.size);
    size_t i = 0;
    while (i < N && specs[i].key != key) ++i;
    if (i == N) return KeyError(ErrorCode::kBadRequest, key, "unknown key");
    if (seen->test(i)) return KeyError(ErrorCode::kBadRequest, key, "duplicate key");
    seen->set(i);
    Status s = specs[i].read(map.ptr[e].val, specs[i].key, limits, out);
    if (!s.ok()) return s;
  }
  return Status::OK();
}

// Returns bad_request naming the first required spec (in table order) not in `seen`, else OK.
template <typename Target, size_t N>
Status CheckRequired(const FieldSpec<Target> (&specs)[N], const std::bitset<N>& seen) {
  for (size_t i = 0; i < N; ++i) {
    if (specs[i].required && !seen.test(i)) {
      return KeyError(ErrorCode::kBadRequest, specs[i].key, "missing");
    }
  }
  return Status::OK();
}

}  // namespace proto_internal
}  // namespace imgsink
