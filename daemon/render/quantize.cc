#include "daemon/render/quantize.h"

#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "daemon/render/dtype_math.h"
#include "daemon/render/render_isa.h"

namespace imgsink::daemon {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "tensor bytes and 16-bit samples are little-endian; loads assume a LE host");

// Returns v, hidden from the optimizer (one store and load; callers keep it out of loops).
template <class T>
T Opaque(T v) {
  asm("" : "+m"(v));
  return v;
}

// clamp_(0, kTop), NaN -> 0.  The bounds are Opaque: with the constants in view GCC rewrites
// clamp-then-convert into compare-and-mask sequences of twice the instructions of the plain
// min/max it emits otherwise (same results either way).  Construct once per run of elements.
template <class T, int kTop>
struct SampleClamp {
  T zero = Opaque(T(0));
  T top = Opaque(T(kTop));

  T operator()(T x) const {
    x = x > zero ? x : zero;  // also NaN -> 0
    return x < top ? x : top;
  }
};

// save_image: mul(255), add_(0.5) (each rounded to the dtype), clamp_(0, 255), to(uint8).
template <class M>
inline uint8_t Quantize8(typename M::Value x, const SampleClamp<typename M::Value, 255>& clamp) {
  using V = typename M::Value;
  x = M::Round(x * V(255));
  x = M::Round(x + V(0.5));
  return uint8_t(int32_t(clamp(x)));  // truncation, x in [0, 255]
}

// Our 16-bit extension: x65535 + 0.5, clamp, truncate, in M::Wide (float, or double for f64).
template <class M>
inline uint16_t Quantize16(typename M::Value x, const SampleClamp<typename M::Wide, 65535>& clamp) {
  using W = typename M::Wide;
  W y = W(x) * W(65535);
  y = y + W(0.5);
  return uint16_t(int32_t(clamp(y)));
}

enum class Norm { kNone, kDivide, kMultiply };

// Returns true iff x / d == x * (1 / d) for every x: 1 / d is exact (d a power of two) and finite.
// Both sides are then the correctly rounded value of the same real number, so replacing the
// division changes no bit (NaN and +-inf included); for any other d they differ (EXACTNESS.md).
template <class V>
bool HasExactReciprocal(V d) {
  int exponent;
  return std::frexp(d, &exponent) == V(0.5) && std::isfinite(V(1) / d);
}

// Converts runs of elements of one dtype into output samples of type Out.
template <class M, Norm kNorm>
struct FloatKernel {
  using V = typename M::Value;
  V lo, hi, divisor;  // already converted to the dtype, as torch converts the scalars
  V reciprocal;       // 1 / divisor, used iff kNorm == kMultiply (then exact)

  explicit FloatKernel(const NormRange& r)
      : lo(M::Scalar(r.low)), hi(M::Scalar(r.high)), divisor(M::Scalar(r.divisor)),
        reciprocal(V(1) / divisor) {}

  V Normalized(V x) const {
    if (kNorm != Norm::kNone) {
      // clamp_(low, high): NaN stays NaN as in torch's minimum(maximum(x, lo), hi).
      x = x < lo ? lo : x;
      x = x > hi ? hi : x;
      x = M::Round(x - lo);
      x = M::Round(kNorm == Norm::kDivide ? x / divisor : x * reciprocal);
    }
    return x;
  }
  void operator()(const uint8_t* src, size_t count, uint8_t* dst) const {
    const SampleClamp<V, 255> clamp;
    for (size_t i = 0; i < count; ++i) {
      dst[i] = Quantize8<M>(Normalized(M::Load(src + i * M::kSize)), clamp);
    }
  }
  void operator()(const uint8_t* src, size_t count, uint16_t* dst) const {
    const SampleClamp<typename M::Wide, 65535> clamp;
    for (size_t i = 0; i < count; ++i) {
      dst[i] = Quantize16<M>(Normalized(M::Load(src + i * M::kSize)), clamp);
    }
  }
};

// torch.utils.tensorboard's image(): tensor.astype(float32), * 255, clip(0, 255) (torch >= 2.0;
// 1.13 had no clip, see EXACTNESS.md), astype(uint8).  M::Load widens half/bfloat16 exactly;
// float(double) rounds to nearest as astype(float32) does.  NaN -> 0, as numpy gives on x86-64.
template <class M>
struct TensorBoardKernel {
  void operator()(const uint8_t* src, size_t count, uint8_t* dst) const {
    const SampleClamp<float, 255> clamp;
    for (size_t i = 0; i < count; ++i) {
      const float x = float(M::Load(src + i * M::kSize)) * 255.0f;
      dst[i] = uint8_t(int32_t(clamp(x)));  // truncation, x in [0, 255]
    }
  }
};

// uint16 elements for TensorBoardKernel (converted exactly to float).
struct Uint16AsFloat {
  static constexpr size_t kSize = 2;
  static float Load(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, sizeof v);
    return float(v);
  }
};

// uint16 tensors: the elements are the samples (copied, since the tensor may be unaligned).
struct CopyKernel {
  void operator()(const uint8_t* src, size_t count, uint16_t* dst) const {
    std::memcpy(dst, src, count * sizeof(uint16_t));
  }
};

// Interleaves C planes (plane k at planes + k * stride) into w pixels of C samples.
template <int C, class Out>
void Interleave(const Out* planes, size_t stride, size_t w, Out* __restrict dst) {
  const Out* p[C];
  for (int c = 0; c < C; ++c) p[c] = planes + size_t(c) * stride;
  for (size_t x = 0; x < w; ++x) {
    for (int c = 0; c < C; ++c) dst[x * C + c] = p[c][x];
  }
}

template <class Out>
void RepeatTo3(const Out* plane, size_t w, Out* __restrict dst) {
  for (size_t x = 0; x < w; ++x) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = plane[x];
}

// Writes one HWC canvas row of `out_c` channels from c planes of w samples (plane k at
// planes + k * stride).  REQUIRES: c == out_c, or c == 1 and out_c == 3.
template <class Out>
void AssembleRow(const Out* planes, size_t stride, size_t w, int c, int out_c, Out* dst) {
  if (c == 1 && out_c == 3) return RepeatTo3(planes, w, dst);
  switch (c) {
    case 1: std::memcpy(dst, planes, w * sizeof(Out)); break;
    case 2: Interleave<2>(planes, stride, w, dst); break;
    case 3: Interleave<3>(planes, stride, w, dst); break;
    default: Interleave<4>(planes, stride, w, dst); break;
  }
}

// One image's rows and the canvas cell they go to.
template <class Out>
struct ImageTarget {
  const TensorBatch* img;
  int out_c;
  Out* cell;          // canvas sample of the image's top-left pixel
  size_t row_stride;  // canvas row, in samples
  Out* planes;        // scratch of img->c * img->w samples
};

// Converts every element with `kernel` and writes the rows straight into the canvas: a
// channels_last (or kept gray) row is converted in place, NCHW rows through L1-sized planes.
template <class Out, class Kernel>
void WriteImage(const ImageTarget<Out>& t, size_t elem_size, const Kernel& kernel) {
  const TensorBatch& img = *t.img;
  const size_t w = size_t(img.w), h = size_t(img.h), c = size_t(img.c);
  const bool direct = img.channels_last ? int(c) == t.out_c : t.out_c == 1;
  Out* dst = t.cell;
  for (size_t y = 0; y < h; ++y, dst += t.row_stride) {
    if (img.channels_last) {
      if (direct) {
        kernel(img.data + y * w * c * elem_size, w * c, dst);
        continue;
      }
      kernel(img.data + y * w * c * elem_size, w * c, t.planes);
      AssembleRow(t.planes, w, w, int(c), t.out_c, dst);  // c == 1 here: a repeat
      continue;
    }
    if (direct) {
      kernel(img.data + y * w * elem_size, w, dst);
      continue;
    }
    for (size_t ch = 0; ch < c; ++ch) {
      kernel(img.data + (ch * h + y) * w * elem_size, w, t.planes + ch * w);
    }
    AssembleRow(t.planes, w, w, int(c), t.out_c, dst);
  }
}

// uint8 tensors are already samples: NCHW planes are interleaved from the tensor itself.
void WriteUint8Image(const ImageTarget<uint8_t>& t) {
  const TensorBatch& img = *t.img;
  const size_t w = size_t(img.w), h = size_t(img.h), c = size_t(img.c);
  uint8_t* dst = t.cell;
  for (size_t y = 0; y < h; ++y, dst += t.row_stride) {
    if (img.channels_last && int(c) == t.out_c) {
      std::memcpy(dst, img.data + y * w * c, w * c);
    } else {  // NCHW, or a channels_last gray image (w * 1 samples) to repeat
      AssembleRow(img.data + y * w, h * w, w, int(c), t.out_c, dst);
    }
  }
}

// The per-image loops, compiled once per RenderIsa (render_isa.h): both variants run the same
// C++ (same IEEE operations, no FMA); only the instructions differ.
template <class Out, class Kernel>
IMGSINK_RENDER_BASELINE void WriteImageBaseline(const ImageTarget<Out>& t, size_t elem_size,
                                                const Kernel& kernel) {
  WriteImage(t, elem_size, kernel);
}

IMGSINK_RENDER_BASELINE void WriteUint8ImageBaseline(const ImageTarget<uint8_t>& t) {
  WriteUint8Image(t);
}

#if defined(__x86_64__)
template <class Out, class Kernel>
IMGSINK_RENDER_AVX2 void WriteImageAvx2(const ImageTarget<Out>& t, size_t elem_size,
                                        const Kernel& kernel) {
  WriteImage(t, elem_size, kernel);
}

IMGSINK_RENDER_AVX2 void WriteUint8ImageAvx2(const ImageTarget<uint8_t>& t) { WriteUint8Image(t); }
#endif

template <class Out, class Kernel>
void WriteImageFor(RenderIsa isa, const ImageTarget<Out>& t, size_t elem_size,
                   const Kernel& kernel) {
#if defined(__x86_64__)
  if (isa == RenderIsa::kAvx2) return WriteImageAvx2(t, elem_size, kernel);
#endif
  WriteImageBaseline(t, elem_size, kernel);
}

template <class M, class Out>
void QuantizeFloatImage(RenderIsa isa, const ImageTarget<Out>& t, const QuantizeSpec& spec) {
  if (!spec.normalize) {
    return WriteImageFor(isa, t, M::kSize, FloatKernel<M, Norm::kNone>(NormRange()));
  }
  const FloatKernel<M, Norm::kDivide> divide(spec.range);
  if (HasExactReciprocal(divide.divisor)) {
    return WriteImageFor(isa, t, M::kSize, FloatKernel<M, Norm::kMultiply>(spec.range));
  }
  WriteImageFor(isa, t, M::kSize, divide);
}

void QuantizeTensorBoard(RenderIsa isa, const ImageTarget<uint8_t>& t) {
  switch (t.img->dtype) {
    case DType::kUint8:  // scale factor 1: the elements are the samples
#if defined(__x86_64__)
      if (isa == RenderIsa::kAvx2) return WriteUint8ImageAvx2(t);
#endif
      return WriteUint8ImageBaseline(t);
    case DType::kUint16: return WriteImageFor(isa, t, 2, TensorBoardKernel<Uint16AsFloat>());
    case DType::kFloat16: return WriteImageFor(isa, t, 2, TensorBoardKernel<HalfMath>());
    case DType::kBFloat16: return WriteImageFor(isa, t, 2, TensorBoardKernel<BFloat16Math>());
    case DType::kFloat32: return WriteImageFor(isa, t, 4, TensorBoardKernel<Float32Math>());
    case DType::kFloat64: return WriteImageFor(isa, t, 8, TensorBoardKernel<Float64Math>());
  }
}

template <class Out>
void QuantizeImageAtDepth(const ImageTarget<Out>& t, const QuantizeSpec& spec) {
  const RenderIsa isa = ActiveRenderIsa();
  if constexpr (std::is_same_v<Out, uint8_t>) {
    if (spec.tensorboard) return QuantizeTensorBoard(isa, t);
  }
  switch (t.img->dtype) {
    case DType::kUint8:
      if constexpr (std::is_same_v<Out, uint8_t>) {
#if defined(__x86_64__)
        if (isa == RenderIsa::kAvx2) return WriteUint8ImageAvx2(t);
#endif
        return WriteUint8ImageBaseline(t);
      }
      return;  // not reached: uint8 only at 8 bits
    case DType::kUint16:
      if constexpr (std::is_same_v<Out, uint16_t>) return WriteImageFor(isa, t, 2, CopyKernel());
      return;  // not reached: uint16 only at 16 bits
    case DType::kFloat16: return QuantizeFloatImage<HalfMath>(isa, t, spec);
    case DType::kBFloat16: return QuantizeFloatImage<BFloat16Math>(isa, t, spec);
    case DType::kFloat32: return QuantizeFloatImage<Float32Math>(isa, t, spec);
    case DType::kFloat64: return QuantizeFloatImage<Float64Math>(isa, t, spec);
  }
}

template <class Out>
void QuantizeInto(const TensorBatch& image, const QuantizeSpec& spec, int64_t x0, int64_t y0,
                  Image* out) {
  const bool needs_planes = !(image.channels_last ? image.c == spec.out_channels
                                                  : spec.out_channels == 1);
  std::vector<Out> planes(needs_planes ? size_t(image.w * image.c) : 0);
  const size_t row_stride = size_t(out->width) * size_t(spec.out_channels);
  ImageTarget<Out> t;
  t.img = &image;
  t.out_c = spec.out_channels;
  t.cell = reinterpret_cast<Out*>(out->pixels.data()) + size_t(y0) * row_stride +
           size_t(x0) * size_t(spec.out_channels);
  t.row_stride = row_stride;
  t.planes = planes.data();
  QuantizeImageAtDepth(t, spec);
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
  *sample = bit_depth == 16 ? Quantize16<M>(v, SampleClamp<typename M::Wide, 65535>())
                             : Quantize8<M>(v, SampleClamp<typename M::Value, 255>());
  return Status::OK();
}

}  // namespace

void QuantizeImage(const TensorBatch& image, const QuantizeSpec& spec, int64_t x0, int64_t y0,
                   Image* out) {
  if (spec.bit_depth == 16) return QuantizeInto<uint16_t>(image, spec, x0, y0, out);
  QuantizeInto<uint8_t>(image, spec, x0, y0, out);
}

uint8_t QuantizeTensorBoardPad(DType dtype, double pad_value) {
  float x = float(pad_value);
  if (dtype != DType::kUint8) x *= 255.0f;
  return uint8_t(int32_t(SampleClamp<float, 255>()(x)));
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

}  // namespace imgsink::daemon
