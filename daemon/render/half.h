// float16 (IEEE-754 binary16) and bfloat16 <-> float32 conversions, bit-exact with torch's
// c10::Half and c10::BFloat16 on CPU.
//
// Each function is branch-free integer/float arithmetic so that loops calling it vectorize; none
// depends on F16C/AVX512-BF16 or on the host's rounding flags beyond the default
// round-to-nearest-even (the conversions of c10 assume the same).
//  - HalfBitsFromFloat / FloatFromHalfBits: the algorithms of the FP16 library that
//    c10::detail::fp16_ieee_from_fp32_value / fp16_ieee_to_fp32_value use: round to nearest
//    even, subnormals kept, overflow to +-inf, NaN -> 0x7E00 | sign.
//  - BFloat16BitsFromFloat: c10::detail::round_to_nearest_even: add 0x7FFF + lsb, keep the top
//    16 bits; NaN -> 0x7FC0 (c10's scalar path; its AVX2 path gives 0xFFFF -- only the NaN
//    payload differs, which no render step can observe).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <cstring>

namespace imgsink::daemon {

inline uint32_t BitsOfFloat(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float FloatOfBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// binary16 bits -> the float of the same value (exact).
inline float FloatFromHalfBits(uint16_t h) {
  const uint32_t w = uint32_t(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  // Normal and inf/NaN: shift exponent+mantissa into place, rebias by multiplying with 2^-112.
  const uint32_t exp_offset = 0xE0u << 23;
  const float normalized = FloatOfBits((two_w >> 4) + exp_offset) * 0x1.0p-112f;
  // Subnormal: put the mantissa under a magic exponent (0.5) and subtract the magic.
  const uint32_t magic_mask = 126u << 23;
  const float denormalized = FloatOfBits((two_w >> 17) | magic_mask) - 0.5f;
  const uint32_t denormalized_cutoff = 1u << 27;
  const uint32_t bits =
      sign | (two_w < denormalized_cutoff ? BitsOfFloat(denormalized) : BitsOfFloat(normalized));
  return FloatOfBits(bits);
}

// float -> nearest binary16 (ties to even), as bits.
inline uint16_t HalfBitsFromFloat(float f) {
  const float abs_f = FloatOfBits(BitsOfFloat(f) & 0x7FFFFFFFu);
  // Scaling by 2^112 then 2^-110 makes values that overflow half become inf, and positions the
  // rounding point; the float addition below performs the round-to-nearest-even.
  float base = (abs_f * 0x1.0p+112f) * 0x1.0p-110f;
  const uint32_t w = BitsOfFloat(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  bias = bias < 0x71000000u ? 0x71000000u : bias;
  base = FloatOfBits((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = BitsOfFloat(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return uint16_t((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

// bfloat16 bits -> float (exact).
inline float FloatFromBFloat16Bits(uint16_t b) { return FloatOfBits(uint32_t(b) << 16); }

// float -> nearest bfloat16 (ties to even), as bits.  NaN -> 0x7FC0.
inline uint16_t BFloat16BitsFromFloat(float f) {
  const uint32_t u = BitsOfFloat(f);
  const uint32_t rounding_bias = ((u >> 16) & 1u) + 0x7FFFu;
  const uint16_t rounded = uint16_t((u + rounding_bias) >> 16);
  return f != f ? uint16_t(0x7FC0u) : rounded;
}

// The float value of f rounded to binary16 (what storing f into a c10::Half and reading it back
// gives).  NaN stays NaN (quiet, sign kept).
inline float RoundToHalf(float f) { return FloatFromHalfBits(HalfBitsFromFloat(f)); }

// The float value of f rounded to bfloat16.  NaN stays NaN.
inline float RoundToBFloat16(float f) {
  const uint32_t u = BitsOfFloat(f);
  const uint32_t rounding_bias = ((u >> 16) & 1u) + 0x7FFFu;
  const float rounded = FloatOfBits((u + rounding_bias) & 0xFFFF0000u);
  return f != f ? f : rounded;
}

// Largest finite values, for torch's overflow checks on scalar conversion.
inline constexpr double kHalfMax = 65504.0;
inline constexpr double kBFloat16Max = 0x1.FEp127;  // 0x7F7F

}  // namespace imgsink::daemon
