// make_grid(normalize=True)'s range: the (low, high) each image is scaled by.
//
// torchvision: norm_ip(img, low, high): clamp_(low, high); sub_(low); div_(max(high - low, 1e-5))
// with (low, high) = value_range, or (float(t.min()), float(t.max())) over the batch or, with
// scale_each, over each image.  high - low and the max() are Python float (double) arithmetic.
// Thread-safety: pure functions.
#pragma once

#include "daemon/render/render.h"

namespace imgsink::daemon {

struct NormRange {
  double low = 0.0;
  double high = 1.0;
  double divisor = 1.0;  // Python's max(high - low, 1e-5): NaN when high - low is NaN
};

// Sets *min, *max to float(t.min()), float(t.max()) over every element of `batch`: both NaN iff
// any element is NaN (torch's min/max propagate NaN).  REQUIRES: batch.dtype is a float dtype,
// batch.n * c * h * w >= 1.
void TensorMinMax(const TensorBatch& batch, double* min, double* max);

// Returns Python's max(high - low, 1e-5).
double NormDivisor(double low, double high);

// Computes the range norm_range(t, value_range) uses for `batch` (one image, or the batch when
// not scale_each).  Returns kBadOption when a value_range bound is finite but beyond the largest
// finite value of batch.dtype: torch's clamp_ raises "value cannot be converted ... without
// overflow" there.  REQUIRES: batch.dtype is a float dtype.
Status ComputeNormRange(const TensorBatch& batch, const RenderOptions& opts, NormRange* out);

}  // namespace imgsink::daemon
