#include "msgpack_reader.h"

#include <cmath>
#include <exception>

#include "imgsink/proto/messages.h"

namespace imgsink {
namespace proto_internal {
namespace {

// Protocol values nest at most one level inside the header map (shape, value_range, meta,
// counters).  msgpack-cxx counts the root map as depth 1.
constexpr size_t kMaxDepth = 2;

// Every value and every key takes at least one byte, so no header of `max_header_bytes` can
// hold a container with more entries than this; str/bin/ext cannot be longer than the frame.
// With these limits msgpack-cxx allocates at most a small multiple of the frame size (it
// allocates a container's entries when it reads the container's length, before the entries).
msgpack::unpack_limit UnpackLimit(const DecodeLimits& limits) {
  const size_t n = limits.max_header_bytes;
  return msgpack::unpack_limit(/*array=*/n, /*map=*/n / 2, /*str=*/n, /*bin=*/n, /*ext=*/n,
                               /*depth=*/kMaxDepth);
}

// Strings and bins stay in the caller's buffer instead of being copied into the zone.
bool ReferenceAll(msgpack::type::object_type, size_t, void*) { return true; }

std::string Printable(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > kMax) out += "...";
  return out;
}

bool IsInteger(const msgpack::object& o) {
  return o.type == msgpack::type::POSITIVE_INTEGER || o.type == msgpack::type::NEGATIVE_INTEGER;
}

std::string IntToString(const msgpack::object& o) {
  return o.type == msgpack::type::POSITIVE_INTEGER ? std::to_string(o.via.u64)
                                                   : std::to_string(o.via.i64);
}

}  // namespace

Status UnpackMap(const void* data, size_t size, const DecodeLimits& limits,
                 msgpack::object_handle* out) {
  if (size > limits.max_header_bytes) {
    return Status(ErrorCode::kTooLarge, "header frame of " + std::to_string(size) +
                                            " bytes is over the limit of " +
                                            std::to_string(limits.max_header_bytes));
  }
  if (size == 0) return Status(ErrorCode::kBadMessage, "empty header frame");
  size_t offset = 0;
  try {
    *out = msgpack::unpack(static_cast<const char*>(data), size, offset, ReferenceAll, nullptr,
                           UnpackLimit(limits));
  } catch (const std::exception& e) {
    // msgpack::unpack_error (parse_error, insufficient_bytes, *_size_overflow), bad_alloc.
    return Status(ErrorCode::kBadMessage,
                  std::string("header is not msgpack within limits: ") + e.what());
  }
  if (offset != size) {
    return Status(ErrorCode::kBadMessage,
                  std::to_string(size - offset) + " trailing bytes after the header map");
  }
  if (out->get().type != msgpack::type::MAP) {
    return Status(ErrorCode::kBadMessage, "header is not a msgpack map");
  }
  return Status::OK();
}

const msgpack::object* FindValue(const msgpack::object_map& map, std::string_view key) {
  for (uint32_t i = 0; i < map.size; ++i) {
    const msgpack::object& k = map.ptr[i].key;
    if (k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == key) {
      return &map.ptr[i].val;
    }
  }
  return nullptr;
}

Status CheckVersion(const msgpack::object_map& map) {
  const msgpack::object* v = FindValue(map, "v");
  if (v == nullptr) return KeyError(ErrorCode::kBadRequest, "v", "missing");
  if (!IsInteger(*v)) return KeyError(ErrorCode::kBadRequest, "v", "must be an integer");
  if (v->type != msgpack::type::POSITIVE_INTEGER || v->via.u64 != kProtocolVersion) {
    return Status(ErrorCode::kUnsupportedVersion, "protocol version " + IntToString(*v) +
                                                      " is not spoken here (this is " +
                                                      std::to_string(kProtocolVersion) + ")");
  }
  return Status::OK();
}

Status ReadKind(const msgpack::object_map& map, std::string_view* kind) {
  const msgpack::object* v = FindValue(map, "kind");
  if (v == nullptr) return KeyError(ErrorCode::kBadRequest, "kind", "missing");
  return ReadStr(*v, "kind", 64, ErrorCode::kBadRequest, kind);
}

Status KeyError(ErrorCode code, std::string_view key, std::string_view what) {
  return Status(code, "key '" + Printable(key) + "': " + std::string(what));
}

Status ReadUint64(const msgpack::object& o, std::string_view key, uint64_t* out) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) {
    return KeyError(ErrorCode::kBadRequest, key, "must be a non-negative integer");
  }
  *out = o.via.u64;
  return Status::OK();
}

Status ReadInt(const msgpack::object& o, std::string_view key, int64_t lo, int64_t hi,
               ErrorCode range_code, int64_t* out) {
  if (!IsInteger(o)) return KeyError(ErrorCode::kBadRequest, key, "must be an integer");
  // A POSITIVE_INTEGER may exceed INT64_MAX; compare in uint64 before converting.
  const bool in_range = o.type == msgpack::type::POSITIVE_INTEGER
                            ? hi >= 0 && o.via.u64 <= static_cast<uint64_t>(hi) &&
                                  (lo < 0 || o.via.u64 >= static_cast<uint64_t>(lo))
                            : o.via.i64 >= lo && o.via.i64 <= hi;
  if (!in_range) {
    return KeyError(
        range_code, key,
        IntToString(o) + " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  *out = o.type == msgpack::type::POSITIVE_INTEGER ? static_cast<int64_t>(o.via.u64) : o.via.i64;
  return Status::OK();
}

Status ReadFiniteNumber(const msgpack::object& o, std::string_view key, double* out) {
  double v;
  switch (o.type) {
    case msgpack::type::FLOAT32:  // msgpack-cxx widens float32 into via.f64
    case msgpack::type::FLOAT64:
      v = o.via.f64;
      break;
    case msgpack::type::POSITIVE_INTEGER:
      v = static_cast<double>(o.via.u64);
      break;
    case msgpack::type::NEGATIVE_INTEGER:
      v = static_cast<double>(o.via.i64);
      break;
    default:
      return KeyError(ErrorCode::kBadRequest, key, "must be a number");
  }
  if (!std::isfinite(v)) return KeyError(ErrorCode::kBadOption, key, "must be finite");
  *out = v;
  return Status::OK();
}

Status ReadBool(const msgpack::object& o, std::string_view key, bool* out) {
  if (o.type != msgpack::type::BOOLEAN)
    return KeyError(ErrorCode::kBadRequest, key, "must be a bool");
  *out = o.via.boolean;
  return Status::OK();
}

Status ReadStr(const msgpack::object& o, std::string_view key, size_t max_bytes,
               ErrorCode too_long_code, std::string_view* out) {
  if (o.type != msgpack::type::STR) return KeyError(ErrorCode::kBadRequest, key, "must be a str");
  if (o.via.str.size > max_bytes) {
    return KeyError(too_long_code, key, "longer than " + std::to_string(max_bytes) + " bytes");
  }
  *out = std::string_view(o.via.str.ptr, o.via.str.size);
  return Status::OK();
}

}  // namespace proto_internal
}  // namespace imgsink
