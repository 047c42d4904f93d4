// The save header's decoding (proto/PROTOCOL.md, "Client -> daemon", "Decoder checks"): one
// reader per key, and the table kSaveFields tying them to the keys' canonical order, which the
// encoder (codec_save_encode.cc) writes.
#include "codec_save.h"

#include <bitset>
#include <cstdint>
#include <iterator>
#include <limits>

#include "codec_requests.h"
#include "codec_tensorboard.h"
#include "msgpack_reader.h"

namespace imgsink {
namespace proto_internal {
namespace {

constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();

using Value = msgpack::object;
using Limits = DecodeLimits;

Status Skip(const Value&, std::string_view, const Limits&, SaveRequest*) {
  return Status::OK();  // v and kind are checked before the fields are read
}

Status ReadId(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return proto_internal::ReadUint64(o, key, &r->request_id);
}

Status ReadDType(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return proto_internal::ReadEnum(o, key, ParseDType, ErrorCode::kBadDtype, &r->dtype);
}

Status ReadShape(const Value& o, std::string_view key, const Limits& limits, SaveRequest* r) {
  if (o.type != msgpack::type::ARRAY)
    return KeyError(ErrorCode::kBadRequest, key, "must be an array");
  if (o.via.array.size > limits.max_rank) {
    return KeyError(ErrorCode::kBadShape, key,
                    "more than " + std::to_string(limits.max_rank) + " dims");
  }
  r->shape.clear();
  for (uint32_t i = 0; i < o.via.array.size; ++i) {
    int64_t dim;
    Status s =
        proto_internal::ReadInt(o.via.array.ptr[i], key, 1, std::numeric_limits<int64_t>::max(),
                                ErrorCode::kBadShape, &dim);
    if (!s.ok()) return s;
    r->shape.push_back(dim);
  }
  return Status::OK();
}

Status ReadLayout(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return proto_internal::ReadEnum(o, key, ParseLayout, ErrorCode::kBadShape, &r->layout);
}

Status ReadPath(const Value& o, std::string_view key, const Limits& limits, SaveRequest* r) {
  std::string_view path;
  Status s = proto_internal::ReadStr(o, key, limits.max_string_bytes, ErrorCode::kBadPath, &path);
  if (s.ok()) r->path.assign(path);
  return s;
}

// The caller's working directory: an absolute path (PROTOCOL.md "Paths"); absent is "".
Status ReadCwd(const Value& o, std::string_view key, const Limits& limits, SaveRequest* r) {
  std::string_view cwd;
  Status s = proto_internal::ReadStr(o, key, limits.max_string_bytes, ErrorCode::kBadPath, &cwd);
  if (s.ok() && (cwd.empty() || cwd.front() != '/')) {
    return KeyError(ErrorCode::kBadPath, key, "must be an absolute path (starting with '/')");
  }
  if (s.ok() && cwd.find('\0') != std::string_view::npos) {
    return KeyError(ErrorCode::kBadPath, key, "contains a NUL byte");
  }
  if (s.ok()) r->cwd.assign(cwd);
  return s;
}

Status ReadFormat(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  if (o.type == msgpack::type::NIL) {
    r->format.reset();
    return Status::OK();
  }
  OutputFormat f;
  Status s = proto_internal::ReadEnum(o, key, ParseOutputFormat, ErrorCode::kBadFormat, &f);
  if (s.ok()) r->format = f;
  return s;
}

Status ReadMode(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return proto_internal::ReadEnum(o, key, ParseOutputMode, ErrorCode::kBadOption, &r->mode);
}

// Reads an int option in lo..hi (bad_option outside) into *out.
Status ReadIntOption(const Value& o, std::string_view key, int64_t lo, int64_t hi, int* out) {
  int64_t v;
  Status s = proto_internal::ReadInt(o, key, lo, hi, ErrorCode::kBadOption, &v);
  if (s.ok()) *out = static_cast<int>(v);
  return s;
}

Status ReadNrow(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return ReadIntOption(o, key, 1, kIntMax, &r->render.nrow);
}

Status ReadPadding(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return ReadIntOption(o, key, 0, kIntMax, &r->render.padding);
}

Status ReadPadValue(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return proto_internal::ReadFiniteNumber(o, key, &r->render.pad_value);
}

Status ReadNormalize(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return proto_internal::ReadBool(o, key, &r->render.normalize);
}

Status ReadValueRange(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  if (o.type == msgpack::type::NIL) {
    r->render.value_range.reset();
    return Status::OK();
  }
  if (o.type != msgpack::type::ARRAY) {
    return KeyError(ErrorCode::kBadRequest, key, "must be nil or an array");
  }
  if (o.via.array.size != 2) return KeyError(ErrorCode::kBadOption, key, "must have 2 entries");
  double low, high;
  Status s = proto_internal::ReadFiniteNumber(o.via.array.ptr[0], key, &low);
  if (s.ok()) s = proto_internal::ReadFiniteNumber(o.via.array.ptr[1], key, &high);
  if (s.ok()) r->render.value_range.emplace(low, high);
  return s;
}

Status ReadScaleEach(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return proto_internal::ReadBool(o, key, &r->render.scale_each);
}

Status ReadKeepGray(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return proto_internal::ReadBool(o, key, &r->render.keep_gray);
}

Status ReadPngLevel(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return ReadIntOption(o, key, 0, 9, &r->png.compress_level);
}

Status ReadPngBits(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  Status s = ReadIntOption(o, key, 8, 16, &r->png.bit_depth);
  if (s.ok() && r->png.bit_depth != 8 && r->png.bit_depth != 16) {
    return KeyError(ErrorCode::kBadOption, key, "must be 8 or 16");
  }
  return s;
}

Status ReadPngFilter(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return proto_internal::ReadEnum(o, key, ParsePngFilter, ErrorCode::kBadOption, &r->png.filter);
}

Status ReadPngStrategy(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return proto_internal::ReadEnum(o, key, ParsePngStrategy, ErrorCode::kBadOption,
                                  &r->png.strategy);
}

Status ReadJpegQuality(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return ReadIntOption(o, key, 1, 100, &r->jpeg.quality);
}

Status ReadJpegSubsampling(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return proto_internal::ReadEnum(o, key, ParseJpegSubsampling, ErrorCode::kBadOption,
                                  &r->jpeg.subsampling);
}

Status ReadWebpLossless(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return proto_internal::ReadBool(o, key, &r->webp.lossless);
}

Status ReadWebpQuality(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return ReadIntOption(o, key, 0, 100, &r->webp.quality);
}

Status ReadPolicy(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  return proto_internal::ReadEnum(o, key, ParseBusyPolicy, ErrorCode::kBadOption, &r->policy);
}

Status ReadBlockTimeout(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  int64_t v;
  Status s = proto_internal::ReadInt(o, key, 0, std::numeric_limits<uint32_t>::max(),
                                     ErrorCode::kBadOption, &v);
  if (s.ok()) r->block_timeout_ms = static_cast<uint32_t>(v);
  return s;
}

Status ReadMeta(const Value& o, std::string_view key, const Limits& limits, SaveRequest* r) {
  if (o.type != msgpack::type::MAP) return KeyError(ErrorCode::kBadRequest, key, "must be a map");
  if (o.via.map.size > limits.max_metadata_entries) {
    return KeyError(ErrorCode::kBadOption, key,
                    "more than " + std::to_string(limits.max_metadata_entries) + " entries");
  }
  r->metadata.clear();
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    std::string_view k, v;
    Status s = proto_internal::ReadStr(o.via.map.ptr[i].key, key, limits.max_string_bytes,
                                       ErrorCode::kBadOption, &k);
    if (s.ok()) {
      s = proto_internal::ReadStr(o.via.map.ptr[i].val, key, limits.max_string_bytes,
                                  ErrorCode::kBadOption, &v);
    }
    if (!s.ok()) return s;
    if (!r->metadata.emplace(k, v).second)
      return KeyError(ErrorCode::kBadRequest, key, "duplicate entry");
  }
  return Status::OK();
}

// `shm`: [segment token, byte offset], two uint64.
Status ReadShm(const Value& o, std::string_view key, const Limits&, SaveRequest* r) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size != 2 ||
      o.via.array.ptr[0].type != msgpack::type::POSITIVE_INTEGER ||
      o.via.array.ptr[1].type != msgpack::type::POSITIVE_INTEGER) {
    return KeyError(ErrorCode::kBadRequest, key, "must be an array of 2 unsigned integers");
  }
  r->shm = ShmRef{o.via.array.ptr[0].via.u64, o.via.array.ptr[1].via.u64};
  return Status::OK();
}

// Every key of a save header, in canonical order.
constexpr FieldSpec<SaveRequest> kSaveFields[] = {
    {"v", true, Skip},
    {"kind", true, Skip},
    {"id", true, ReadId},
    {"dtype", true, ReadDType},
    {"shape", true, ReadShape},
    {"layout", true, ReadLayout},
    {"path", true, ReadPath},
    {"cwd", false, ReadCwd},
    {"format", false, ReadFormat},
    {"mode", false, ReadMode},
    {"nrow", false, ReadNrow},
    {"padding", false, ReadPadding},
    {"pad_value", false, ReadPadValue},
    {"normalize", false, ReadNormalize},
    {"value_range", false, ReadValueRange},
    {"scale_each", false, ReadScaleEach},
    {"keep_gray", false, ReadKeepGray},
    {"png_level", false, ReadPngLevel},
    {"png_bits", false, ReadPngBits},
    {"png_filter", false, ReadPngFilter},
    {"png_strategy", false, ReadPngStrategy},
    {"jpeg_quality", false, ReadJpegQuality},
    {"jpeg_subsampling", false, ReadJpegSubsampling},
    {"webp_lossless", false, ReadWebpLossless},
    {"webp_quality", false, ReadWebpQuality},
    {"policy", false, ReadPolicy},
    {"block_timeout_ms", false, ReadBlockTimeout},
    {"meta", false, ReadMeta},
    {"quantize", false, proto_internal::ReadQuantizeKey},
    {"tb", false, proto_internal::ReadTensorBoardKey},
    {"shm", false, ReadShm},
};
static_assert(std::size(kSaveFields) == kSaveKeyCount, "EncodeSave knows every key");
constexpr bool RequiredKeysFirst() {
  for (size_t i = 0; i < kSaveKeyCount; ++i) {
    if (kSaveFields[i].required != (i < kRequiredSaveKeys)) return false;
  }
  return true;
}
static_assert(RequiredKeysFirst(), "EncodeSave always writes exactly the first 7 keys");

// Checks what no single key can: the rank against the layout, and that the tensor's byte size
// fits in int64 so later size arithmetic cannot overflow.
Status CheckShape(const SaveRequest& r) {
  if (r.shape.size() != static_cast<size_t>(LayoutRank(r.layout))) {
    return KeyError(
        ErrorCode::kBadShape, "shape",
        std::to_string(r.shape.size()) + " dims for layout " + std::string(LayoutName(r.layout)));
  }
  uint64_t bytes = DTypeSize(r.dtype);
  for (int64_t d : r.shape) {
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes) ||
        bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return KeyError(ErrorCode::kBadShape, "shape", "tensor byte size overflows int64");
    }
  }
  return Status::OK();
}

}  // namespace

Status DecodeSaveRequest(const msgpack::object_map& map, const DecodeLimits& limits,
                         SaveRequest* out) {
  std::bitset<std::size(kSaveFields)> seen;
  Status s = proto_internal::ReadFields(map, kSaveFields, limits, out, &seen);
  if (s.ok()) s = proto_internal::CheckRequired(kSaveFields, seen);
  if (s.ok()) s = CheckShape(*out);
  return s;
}

}  // namespace proto_internal
}  // namespace imgsink
