#include "codec_tensorboard.h"

#include <bitset>
#include <iterator>
#include <limits>

#include "msgpack_reader.h"

namespace imgsink {
namespace proto_internal {
namespace {

Status ReadTbTag(const msgpack::object& o, std::string_view key, const DecodeLimits& limits,
                 TensorBoardImage* tb) {
  std::string_view tag;
  Status s = ReadStr(o, key, limits.max_string_bytes, ErrorCode::kBadOption, &tag);
  if (s.ok() && tag.empty()) return KeyError(ErrorCode::kBadOption, key, "must not be empty");
  if (s.ok()) tb->tag.assign(tag);
  return s;
}

Status ReadTbStep(const msgpack::object& o, std::string_view key, const DecodeLimits&,
                  TensorBoardImage* tb) {
  return ReadInt(o, key, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
                 ErrorCode::kBadOption, &tb->step);
}

Status ReadTbWallTime(const msgpack::object& o, std::string_view key, const DecodeLimits&,
                      TensorBoardImage* tb) {
  Status s = ReadFiniteNumber(o, key, &tb->wall_time);
  if (s.ok() && tb->wall_time < 0) return KeyError(ErrorCode::kBadOption, key, "must be >= 0");
  return s;
}

const FieldSpec<TensorBoardImage> kTbFields[] = {
    {"tag", true, ReadTbTag},
    {"step", true, ReadTbStep},
    {"wall_time", true, ReadTbWallTime},
};

}  // namespace

void WriteTensorBoardKey(const TensorBoardImage& tb, CanonicalWriter* w) {
  w->Str("tb");
  w->Map(std::size(kTbFields));
  w->KeyStr("tag", tb.tag);
  w->KeyInt("step", tb.step);
  w->KeyFloat64("wall_time", tb.wall_time);
}

Status ReadQuantizeKey(const msgpack::object& o, std::string_view key, const DecodeLimits&,
                       SaveRequest* r) {
  return ReadEnum(o, key, ParseQuantize, ErrorCode::kBadOption, &r->render.quantize);
}

Status ReadTensorBoardKey(const msgpack::object& o, std::string_view key,
                          const DecodeLimits& limits, SaveRequest* r) {
  if (o.type == msgpack::type::NIL) {
    r->tensorboard.reset();
    return Status::OK();
  }
  if (o.type != msgpack::type::MAP) {
    return KeyError(ErrorCode::kBadRequest, key, "must be nil or a map");
  }
  TensorBoardImage tb;
  std::bitset<std::size(kTbFields)> seen;
  Status s = ReadFields(o.via.map, kTbFields, limits, &tb, &seen);
  if (s.ok()) s = CheckRequired(kTbFields, seen);
  if (!s.ok()) return Status(s.code(), "tb: " + s.message());
  r->tensorboard = std::move(tb);
  return Status::OK();
}

}  // namespace proto_internal
}  // namespace imgsink
