#include "daemon/render/normalize.h"

#include <cstring>
#include <limits>
#include <string>

#include "daemon/render/dtype_math.h"

namespace imgsink {
namespace {

// Independent lanes let the compiler vectorize the reduction; x < lo ? x : lo never takes a
// NaN, so NaNs are counted on the side and win at the end, as in torch.
template <class M>
void MinMaxOf(const uint8_t* p, size_t count, double* min, double* max) {
  using V = typename M::Value;
  constexpr size_t kLanes = 16;
  V lo[kLanes], hi[kLanes];
  uint32_t nans[kLanes] = {};
  for (size_t j = 0; j < kLanes; ++j) {
    lo[j] = std::numeric_limits<V>::infinity();
    hi[j] = -std::numeric_limits<V>::infinity();
  }
  size_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (size_t j = 0; j < kLanes; ++j) {
      const V x = M::Load(p + (i + j) * M::kSize);
      lo[j] = x < lo[j] ? x : lo[j];
      hi[j] = x > hi[j] ? x : hi[j];
      nans[j] |= (x != x);
    }
  }
  for (size_t j = 0; i < count; ++i, ++j) {
    const V x = M::Load(p + i * M::kSize);
    lo[j] = x < lo[j] ? x : lo[j];
    hi[j] = x > hi[j] ? x : hi[j];
    nans[j] |= (x != x);
  }
  for (size_t j = 1; j < kLanes; ++j) {
    lo[0] = lo[j] < lo[0] ? lo[j] : lo[0];
    hi[0] = hi[j] > hi[0] ? hi[j] : hi[0];
    nans[0] |= nans[j];
  }
  if (nans[0] != 0) {
    *min = *max = std::numeric_limits<double>::quiet_NaN();
  } else {
    *min = double(lo[0]);
    *max = double(hi[0]);
  }
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
    case DType::kFloat16: return MinMaxOf<HalfMath>(batch.data, count, min, max);
    case DType::kBFloat16: return MinMaxOf<BFloat16Math>(batch.data, count, min, max);
    case DType::kFloat32: return MinMaxOf<Float32Math>(batch.data, count, min, max);
    case DType::kFloat64: return MinMaxOf<Float64Math>(batch.data, count, min, max);
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

}  // namespace imgsink
