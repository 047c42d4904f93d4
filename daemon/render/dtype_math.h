// Per-dtype models of how torch 1.13's CPU kernels compute `tensor <op> python_scalar` for the
// ops save_image uses (clamp, sub, div, mul, add), found by exhaustive comparison with torch
// (see EXACTNESS.md):
//  - The Python float scalar is first converted to the tensor's dtype: double -> float (round to
//    nearest even) -> dtype (round to nearest even again for float16/bfloat16; the double
//    rounding is torch's, not an accident here).
//  - The op is computed on the converted scalar in `Value` (float for float16, bfloat16 and
//    float32; double for float64) and the result rounded back to the dtype after every op.
//    Division is a true division a / b (not a * (1 / b)).
// Each model is a stateless struct used as a template argument, so the per-element code is
// inlined (no per-pixel dispatch).
// Thread-safety: pure functions.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "daemon/render/half.h"

namespace imgsink::daemon {

// Converts a double to float as x86 (and so torch) does -- round to nearest even, overflow to
// +-inf -- without the undefined behaviour C++ gives an out-of-range double -> float cast.
inline float FloatFromDouble(double d) {
  const double a = std::fabs(d);
  if (a > FLT_MAX && a <= DBL_MAX) {
    // Halfway between FLT_MAX and 2^128 rounds to even, which is 2^128, i.e. inf.
    if (a >= 0x1.ffffffp127) return d > 0 ? HUGE_VALF : -HUGE_VALF;
    return d > 0 ? FLT_MAX : -FLT_MAX;
  }
  return static_cast<float>(d);  // in range, +-inf or NaN: well defined
}

struct Float32Math {
  using Value = float;  // torch's compute type for this dtype
  using Wide = float;   // our 16-bit quantization's compute type
  static constexpr size_t kSize = 4;
  static constexpr double kMaxFinite = FLT_MAX;
  static float Load(const uint8_t* p) {
    float v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static float Round(float v) { return v; }
  static float Scalar(double d) { return FloatFromDouble(d); }
};

struct Float64Math {
  using Value = double;
  using Wide = double;
  static constexpr size_t kSize = 8;
  static constexpr double kMaxFinite = DBL_MAX;
  static double Load(const uint8_t* p) {
    double v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static double Round(double v) { return v; }
  static double Scalar(double d) { return d; }
};

struct HalfMath {
  using Value = float;
  using Wide = float;
  static constexpr size_t kSize = 2;
  static constexpr double kMaxFinite = kHalfMax;
  static float Load(const uint8_t* p) {
    uint16_t b;
    std::memcpy(&b, p, sizeof b);
    return FloatFromHalfBits(b);
  }
  static float Round(float v) { return RoundToHalf(v); }
  static float Scalar(double d) { return RoundToHalf(FloatFromDouble(d)); }
};

struct BFloat16Math {
  using Value = float;
  using Wide = float;
  static constexpr size_t kSize = 2;
  static constexpr double kMaxFinite = kBFloat16Max;
  static float Load(const uint8_t* p) {
    uint16_t b;
    std::memcpy(&b, p, sizeof b);
    return FloatFromBFloat16Bits(b);
  }
  static float Round(float v) { return RoundToBFloat16(v); }
  static float Scalar(double d) { return RoundToBFloat16(FloatFromDouble(d)); }
};

// Returns true iff torch's checked Scalar conversion (c10::checked_convert, used by clamp's
// bounds and by new_full's fill value) accepts d for the dtype of M: NaN and +-inf pass, finite
// values beyond the dtype's largest finite value raise "value cannot be converted to type ...
// without overflow" -- even those that would round down to it.
template <class M>
bool ScalarFitsDType(double d) {
  return !(std::fabs(d) > M::kMaxFinite) || std::isinf(d) || std::isnan(d);
}

}  // namespace imgsink::daemon
