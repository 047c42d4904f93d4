#include "daemon/render/normalize.h"

#include <cstring>
#include <limits>
#include <string>

#include "daemon/render/dtype_math.h"
#include "daemon/render/render_isa.h"

namespace imgsink::daemon {
namespace {

// A reduction over independent lanes: GCC vector extensions of kBytes (the target's vector
// width; GCC does not vectorize the reduction itself, since IEEE min/max are not associative
// with NaN).  x < lo ? x : lo never takes a NaN, so NaNs are tracked on the side and win at the
// end, as in torch.
template <class M, int kBytes>
void MinMaxOf(const uint8_t* p, size_t count, double* min, double* max) {
  using V = typename M::Value;
  typedef V Lanes __attribute__((vector_size(kBytes)));
  constexpr size_t kLanes = sizeof(Lanes) / sizeof(V);
  constexpr V kInf = std::numeric_limits<V>::infinity();
  Lanes lo = Lanes{} + kInf, hi = Lanes{} - kInf;
  decltype(lo != lo) nans{};
  size_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    V values[kLanes];
    for (size_t j = 0; j < kLanes; ++j) values[j] = M::Load(p + (i + j) * M::kSize);
    Lanes x;
    std::memcpy(&x, values, sizeof x);
    lo = x < lo ? x : lo;
    hi = x > hi ? x : hi;
    nans |= x != x;
  }
  V low = kInf, high = -kInf;
  bool nan = false;
  for (size_t j = 0; j < kLanes; ++j) {
    low = lo[j] < low ? lo[j] : low;
    high = hi[j] > high ? hi[j] : high;
    nan |= nans[j] != 0;
  }
  for (; i < count; ++i) {
    const V x = M::Load(p + i * M::kSize);
    low = x < low ? x : low;
    high = x > high ? x : high;
    nan |= x != x;
  }
  if (nan) {
    *min = *max = std::numeric_limits<double>::quiet_NaN();
  } else {
    *min = double(low);
    *max = double(high);
  }
}

// MinMaxOf compiled once per RenderIsa (render_isa.h).
template <class M>
IMGSINK_RENDER_BASELINE void MinMaxBaseline(const uint8_t* p, size_t count, double* min,
                                            double* max) {
  MinMaxOf<M, 16>(p, count, min, max);
}

#if defined(__x86_64__)
template <class M>
IMGSINK_RENDER_AVX2 void MinMaxAvx2(const uint8_t* p, size_t count, double* min, double* max) {
  MinMaxOf<M, 32>(p, count, min, max);
}
#endif

template <class M>
void MinMax(const uint8_t* p, size_t count, double* min, double* max) {
#if defined(__x86_64__)
  if (ActiveRenderIsa() == RenderIsa::kAvx2) return MinMaxAvx2<M>(p, count, min, max);
#endif
  MinMaxBaseline<M>(p, count, min, max);
}

template <class M>
Status CheckBound(double v, const char* which, DType dtype) {
  if (ScalarFitsDType<M>(v)) return Status::OK();
  return Status(ErrorCode::kBadOption,
                std::string("value_range ") + which + " " + std::to_string(v) +
                    " is beyond the largest finite " + std::string(DTypeName(dtype)) +
                    " (torch's clamp raises here)");
}

template <class M>
Status CheckRange(double low, double high, DType dtype) {
  Status s = CheckBound<M>(low, "low", dtype);
  if (!s.ok()) return s;
  return CheckBound<M>(high, "high", dtype);
}

}  // namespace

void TensorMinMax(const TensorBatch& batch, double* min, double* max) {
  const size_t count = size_t(batch.n * batch.c * batch.h * batch.w);
  switch (batch.dtype) {
    case DType::kFloat16: return MinMax<HalfMath>(batch.data, count, min, max);
    case DType::kBFloat16: return MinMax<BFloat16Math>(batch.data, count, min, max);
    case DType::kFloat32: return MinMax<Float32Math>(batch.data, count, min, max);
    case DType::kFloat64: return MinMax<Float64Math>(batch.data, count, min, max);
    case DType::kUint8:
    case DType::kUint16: break;
  }
  *min = 0.0;  // not reached: REQUIRES a float dtype
  *max = 0.0;
}

double NormDivisor(double low, double high) {
  const double range = high - low;
  // Python's max(a, b) keeps a unless b > a, so a NaN range stays NaN.
  return 1e-5 > range ? 1e-5 : range;
}

Status ComputeNormRange(const TensorBatch& batch, const RenderOptions& opts, NormRange* out) {
  if (opts.value_range) {
    out->low = opts.value_range->first;
    out->high = opts.value_range->second;
    Status s;
    switch (batch.dtype) {
      case DType::kFloat16: s = CheckRange<HalfMath>(out->low, out->high, batch.dtype); break;
      case DType::kBFloat16: s = CheckRange<BFloat16Math>(out->low, out->high, batch.dtype); break;
      case DType::kFloat32: s = CheckRange<Float32Math>(out->low, out->high, batch.dtype); break;
      default: break;
    }
    if (!s.ok()) return s;
  } else {
    TensorMinMax(batch, &out->low, &out->high);
  }
  out->divisor = NormDivisor(out->low, out->high);
  return Status::OK();
}

}  // namespace imgsink::daemon
