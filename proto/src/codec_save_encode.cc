// The save header's canonical encoding (proto/PROTOCOL.md, "Canonical form"): the keys in the
// order of kSaveFields (codec_save.cc), the optional ones only when not at their default.
#include "codec_save.h"

#include <algorithm>
#include <cstring>
#include <iterator>

#include "codec_requests.h"
#include "codec_tensorboard.h"
#include "msgpack_writer.h"

namespace imgsink {
namespace proto_internal {
namespace {

// Returns true iff a and b are the same float64 (bit for bit: -0.0 is not the default 0.0).
bool SameFloat64(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

std::string EncodeSaveRequest(const SaveRequest& r) {
  static const SaveRequest kDefaults;  // every optional key at its default
  const RenderOptions& dr = kDefaults.render;
  // One flag per optional key, in canonical order: write it iff it is not the default.
  const bool present[kSaveKeyCount - kRequiredSaveKeys] = {
      !r.cwd.empty(),
      r.format.has_value(),
      r.mode != kDefaults.mode,
      r.render.nrow != dr.nrow,
      r.render.padding != dr.padding,
      !SameFloat64(r.render.pad_value, dr.pad_value),
      r.render.normalize != dr.normalize,
      r.render.value_range.has_value(),
      r.render.scale_each != dr.scale_each,
      r.render.keep_gray != dr.keep_gray,
      r.png.compress_level != kDefaults.png.compress_level,
      r.png.bit_depth != kDefaults.png.bit_depth,
      r.png.filter != kDefaults.png.filter,
      r.png.strategy != kDefaults.png.strategy,
      r.jpeg.quality != kDefaults.jpeg.quality,
      r.jpeg.subsampling != kDefaults.jpeg.subsampling,
      r.webp.lossless != kDefaults.webp.lossless,
      r.webp.quality != kDefaults.webp.quality,
      r.policy != kDefaults.policy,
      r.block_timeout_ms != kDefaults.block_timeout_ms,
      !r.metadata.empty(),
      r.render.quantize != dr.quantize,
      r.tensorboard.has_value(),
      r.shm.has_value(),
  };
  const bool* next = present;
  CanonicalWriter w;
  w.Map(kRequiredSaveKeys + size_t(std::count(std::begin(present), std::end(present), true)));
  w.KeyUint("v", kProtocolVersion);
  w.KeyStr("kind", "save");
  w.KeyUint("id", r.request_id);
  w.KeyStr("dtype", DTypeName(r.dtype));
  w.Str("shape");
  w.Array(r.shape.size());
  for (int64_t d : r.shape) w.Int(d);
  w.KeyStr("layout", LayoutName(r.layout));
  w.KeyStr("path", r.path);
  if (*next++) w.KeyStr("cwd", r.cwd);
  if (*next++) w.KeyStr("format", OutputFormatName(*r.format));
  if (*next++) w.KeyStr("mode", OutputModeName(r.mode));
  if (*next++) w.KeyInt("nrow", r.render.nrow);
  if (*next++) w.KeyInt("padding", r.render.padding);
  if (*next++) w.KeyFloat64("pad_value", r.render.pad_value);
  if (*next++) w.KeyBool("normalize", r.render.normalize);
  if (*next++) {
    w.Str("value_range");
    w.Array(2);
    w.Float64(r.render.value_range->first);
    w.Float64(r.render.value_range->second);
  }
  if (*next++) w.KeyBool("scale_each", r.render.scale_each);
  if (*next++) w.KeyBool("keep_gray", r.render.keep_gray);
  if (*next++) w.KeyInt("png_level", r.png.compress_level);
  if (*next++) w.KeyInt("png_bits", r.png.bit_depth);
  if (*next++) w.KeyStr("png_filter", PngFilterName(r.png.filter));
  if (*next++) w.KeyStr("png_strategy", PngStrategyName(r.png.strategy));
  if (*next++) w.KeyInt("jpeg_quality", r.jpeg.quality);
  if (*next++) w.KeyStr("jpeg_subsampling", JpegSubsamplingName(r.jpeg.subsampling));
  if (*next++) w.KeyBool("webp_lossless", r.webp.lossless);
  if (*next++) w.KeyInt("webp_quality", r.webp.quality);
  if (*next++) w.KeyStr("policy", BusyPolicyName(r.policy));
  if (*next++) w.KeyUint("block_timeout_ms", r.block_timeout_ms);
  if (*next++) {
    w.Str("meta");
    w.Map(r.metadata.size());
    for (const auto& [k, v] : r.metadata) {  // std::map: byte order, as the canonical form wants
      w.Str(k);
      w.Str(v);
    }
  }
  if (*next++) w.KeyStr("quantize", QuantizeName(r.render.quantize));
  if (*next++) proto_internal::WriteTensorBoardKey(*r.tensorboard, &w);
  if (*next++) {
    w.Str("shm");
    w.Array(2);
    w.Uint(r.shm->segment);
    w.Uint(r.shm->offset);
  }
  return w.Take();
}

}  // namespace proto_internal
}  // namespace imgsink
