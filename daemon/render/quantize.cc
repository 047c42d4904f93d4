#include "daemon/render/quantize.h"

#include <cstring>
#include <string>
#include <vector>

#include "daemon/render/dtype_math.h"

namespace imgsink {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "tensor bytes and 16-bit samples are little-endian; loads assume a LE host");

// save_image: mul(255), add_(0.5) (each rounded to the dtype), clamp_(0, 255), to(uint8).
template <class M>
inline uint8_t Quantize8(typename M::Value x) {
  using V = typename M::Value;
  x = M::Round(x * V(255));
  x = M::Round(x + V(0.5));
  x = x > V(0) ? x : V(0);  // also NaN -> 0
  x = x < V(255) ? x : V(255);
  return uint8_t(int32_t(x));  // truncation, x in [0, 255]
}

// Our 16-bit extension: x65535 + 0.5, clamp, truncate, in M::Wide (float, or double for f64).
template <class M>
inline uint16_t Quantize16(typename M::Value x) {
  using W = typename M::Wide;
  W y = W(x) * W(65535);
  y = y + W(0.5);
  y = y > W(0) ? y : W(0);  // also NaN -> 0
  y = y < W(65535) ? y : W(65535);
  return uint16_t(int32_t(y));
}


// Converts runs of elements of one dtype into output samples of type Out.
template <class M, bool kNormalize>
struct FloatKernel {
  using V = typename M::Value;
  V lo, hi, divisor;  // already converted to the dtype, as torch converts the scalars

  explicit FloatKernel(const NormRange& r)
      : lo(M::Scalar(r.low)), hi(M::Scalar(r.high)), divisor(M::Scalar(r.divisor)) {}

  V Normalized(V x) const {
    if (kNormalize) {
      // clamp_(low, high): NaN stays NaN as in torch's minimum(maximum(x, lo), hi).
      x = x < lo ? lo : x;
      x = x > hi ? hi : x;
      x = M::Round(x - lo);
      x = M::Round(x / divisor);
    }
    return x;
  }
  void operator()(const uint8_t* src, size_t count, uint8_t* dst) const {
    for (size_t i = 0; i < count; ++i) dst[i] = Quantize8<M>(Normalized(M::Load(src + i * M::kSize)));
  }
  void operator()(const uint8_t* src, size_t count, uint16_t* dst) const {
    for (size_t i = 0; i < count; ++i) dst[i] = Quantize16<M>(Normalized(M::Load(src + i * M::kSize)));
  }
};

// uint8 / uint16 tensors: the elements are the samples.
struct CopyKernel {
  void operator()(const uint8_t* src, size_t count, uint8_t* dst) const {
    std::memcpy(dst, src, count);
  }
  void operator()(const uint8_t* src, size_t count, uint16_t* dst) const {
    std::memcpy(dst, src, count * sizeof(uint16_t));
  }
};

template <int C, class Out>
void Interleave(const Out* planes, size_t w, Out* row) {
  for (size_t x = 0; x < w; ++x) {
    for (int c = 0; c < C; ++c) row[x * C + c] = planes[size_t(c) * w + x];
  }
}

template <class Out>
void RepeatTo3(const Out* plane, size_t w, Out* row) {
  for (size_t x = 0; x < w; ++x) row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = plane[x];
}

// Produces one HWC output row of `out_c` channels from `planes` (NCHW: c planes of w samples;
// NHWC: w pixels of c interleaved samples).  Returns the row (planes itself or row).
template <class Out>
const Out* AssembleRow(const Out* planes, size_t w, int c, int out_c, bool channels_last,
                       Out* row) {
  if (c == 1 && out_c == 3) {
    RepeatTo3(planes, w, row);
    return row;
  }
  if (channels_last || c == 1) return planes;
  switch (c) {
    case 2: Interleave<2>(planes, w, row); break;
    case 3: Interleave<3>(planes, w, row); break;
    default: Interleave<4>(planes, w, row); break;
  }
  return row;
}

template <class Out, class Kernel>
void WriteImage(const TensorBatch& img, size_t elem_size, const Kernel& kernel, int out_c,
                int64_t x0, int64_t y0, Image* out) {
  const size_t w = size_t(img.w), h = size_t(img.h), c = size_t(img.c);
  std::vector<Out> planes(w * c);
  std::vector<Out> row(w * size_t(out_c));
  const size_t stride = out->row_bytes();
  const size_t row_bytes = w * size_t(out_c) * sizeof(Out);
  uint8_t* dst = out->pixels.data() + size_t(y0) * stride + size_t(x0) * size_t(out_c) * sizeof(Out);
  for (size_t y = 0; y < h; ++y, dst += stride) {
    if (img.channels_last) {
      kernel(img.data + y * w * c * elem_size, w * c, planes.data());
    } else {
      for (size_t ch = 0; ch < c; ++ch) {
        kernel(img.data + (ch * h + y) * w * elem_size, w, planes.data() + ch * w);
      }
    }
    const Out* r = AssembleRow(planes.data(), w, int(c), out_c, img.channels_last, row.data());
    std::memcpy(dst, r, row_bytes);
  }
}

template <class Kernel>
void WriteImageAtDepth(const TensorBatch& img, size_t elem_size, const Kernel& kernel,
                       const QuantizeSpec& spec, int64_t x0, int64_t y0, Image* out) {
  if (spec.bit_depth == 16) {
    WriteImage<uint16_t>(img, elem_size, kernel, spec.out_channels, x0, y0, out);
  } else {
    WriteImage<uint8_t>(img, elem_size, kernel, spec.out_channels, x0, y0, out);
  }
}

template <class M>
void QuantizeFloatImage(const TensorBatch& img, const QuantizeSpec& spec, int64_t x0, int64_t y0,
                        Image* out) {
  if (spec.normalize) {
    WriteImageAtDepth(img, M::kSize, FloatKernel<M, true>(spec.range), spec, x0, y0, out);
  } else {
    WriteImageAtDepth(img, M::kSize, FloatKernel<M, false>(NormRange()), spec, x0, y0, out);
  }
}

template <class M>
Status PadSample(double pad_value, int bit_depth, DType dtype, bool checked, uint16_t* sample) {
  if (checked && !ScalarFitsDType<M>(pad_value)) {
    return Status(ErrorCode::kBadOption, "pad_value " + std::to_string(pad_value) +
                                             " is beyond the largest finite " +
                                             std::string(DTypeName(dtype)) +
                                             " (torch's new_full raises here)");
  }
  const typename M::Value v = M::Scalar(pad_value);
  *sample = bit_depth == 16 ? Quantize16<M>(v) : Quantize8<M>(v);
  return Status::OK();
}

}  // namespace

void QuantizeImage(const TensorBatch& image, const QuantizeSpec& spec, int64_t x0, int64_t y0,
                   Image* out) {
  switch (image.dtype) {
    case DType::kUint8:
    case DType::kUint16:
      WriteImageAtDepth(image, DTypeSize(image.dtype), CopyKernel(), spec, x0, y0, out);
      return;
    case DType::kFloat16: return QuantizeFloatImage<HalfMath>(image, spec, x0, y0, out);
    case DType::kBFloat16: return QuantizeFloatImage<BFloat16Math>(image, spec, x0, y0, out);
    case DType::kFloat32: return QuantizeFloatImage<Float32Math>(image, spec, x0, y0, out);
    case DType::kFloat64: return QuantizeFloatImage<Float64Math>(image, spec, x0, y0, out);
  }
}

Status QuantizePadValue(DType dtype, double pad_value, int bit_depth, uint16_t* sample) {
  switch (dtype) {
    case DType::kFloat16: return PadSample<HalfMath>(pad_value, bit_depth, dtype, true, sample);
    case DType::kBFloat16: return PadSample<BFloat16Math>(pad_value, bit_depth, dtype, true, sample);
    case DType::kFloat32: return PadSample<Float32Math>(pad_value, bit_depth, dtype, true, sample);
    case DType::kFloat64: return PadSample<Float64Math>(pad_value, bit_depth, dtype, true, sample);
    case DType::kUint8:
    case DType::kUint16: break;
  }
  // Integer tensors (our extension): pad_value quantized in float32, never an error.
  return PadSample<Float32Math>(pad_value, bit_depth, dtype, false, sample);
}

}  // namespace imgsink
