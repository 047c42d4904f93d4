// daemon/render/half.h and the scalar conversions of dtype_math.h.
#include <cmath>
#include <cstdint>
#include <cstring>

#include <catch.hpp>

#include "daemon/render/dtype_math.h"
#include "daemon/render/half.h"

// GCC's _Float16 is the float16 oracle.  Clang before 15 has no _Float16 on x86-64: there this
// file compiles to nothing (the GCC build runs it).
#if defined(__FLT16_MANT_DIG__)

namespace imgsink::daemon {
namespace {

// GCC's own binary16 (soft-float conversions in libgcc): an independent float16 oracle.
uint16_t GccHalfBits(float f) {
  const _Float16 h = static_cast<_Float16>(f);
  uint16_t b;
  std::memcpy(&b, &h, sizeof b);
  return b;
}

float GccHalfToFloat(uint16_t b) {
  _Float16 h;
  std::memcpy(&h, &b, sizeof h);
  return static_cast<float>(h);
}

bool IsHalfNan(uint16_t b) { return (b & 0x7C00u) == 0x7C00u && (b & 0x03FFu) != 0; }

// bfloat16 nearest-even by comparing distances in double: independent of the bit trick.
uint16_t ReferenceBFloat16Bits(float f) {
  if (std::isnan(f)) return 0x7FC0;
  if (std::isinf(f)) return uint16_t(BitsOfFloat(f) >> 16);
  const uint32_t u = BitsOfFloat(f);
  const uint32_t below = u & 0xFFFF0000u;  // toward zero
  const uint32_t above = below + 0x10000u;  // away from zero (max finite -> inf)
  const double d_below = std::fabs(double(f) - double(FloatOfBits(below)));
  const double d_above = std::fabs(double(FloatOfBits(above)) - double(f));
  if (std::isinf(FloatOfBits(above))) {
    // Past max finite + half an ulp rounds to inf; the ulp there is 2^(127-7).
    const double half_ulp = std::ldexp(1.0, 127 - 8);
    return uint16_t((d_below < half_ulp || (d_below == half_ulp && ((below >> 16) & 1u) == 0) ? below : above) >> 16);
  }
  if (d_below < d_above) return uint16_t(below >> 16);
  if (d_above < d_below) return uint16_t(above >> 16);
  return uint16_t((((below >> 16) & 1u) == 0 ? below : above) >> 16);
}

// Returns true iff HalfBitsFromFloat(f) is GCC's binary16 (any NaN for a NaN).
bool HalfMatches(float f) {
  const uint16_t got = HalfBitsFromFloat(f);
  if (std::isnan(f)) return IsHalfNan(got);
  return got == GccHalfBits(f);
}

// Returns true iff both bfloat16 conversions agree with the reference.
bool BFloat16Matches(float f) {
  const uint16_t want = ReferenceBFloat16Bits(f);
  if (BFloat16BitsFromFloat(f) != want) return false;
  const float r = RoundToBFloat16(f);
  return std::isnan(f) ? std::isnan(r) : BitsOfFloat(r) == uint32_t(want) << 16;
}

void CheckHalf(float f) {
  INFO("float bits 0x" << std::hex << BitsOfFloat(f));
  REQUIRE(HalfMatches(f));
}

void CheckBFloat16(float f) {
  INFO("float bits 0x" << std::hex << BitsOfFloat(f));
  REQUIRE(BFloat16Matches(f));
}

TEST_CASE("float16 -> float is exact for all 65536 patterns", "[render][half]") {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float got = FloatFromHalfBits(uint16_t(b));
    const float want = GccHalfToFloat(uint16_t(b));
    INFO("half bits 0x" << std::hex << b);
    if (IsHalfNan(uint16_t(b))) {
      REQUIRE(std::isnan(got));
      REQUIRE(std::signbit(got) == ((b & 0x8000u) != 0));
    } else {
      REQUIRE(BitsOfFloat(got) == BitsOfFloat(want));
      REQUIRE(HalfBitsFromFloat(got) == b);  // round trip
      REQUIRE(BitsOfFloat(RoundToHalf(got)) == BitsOfFloat(got));
    }
  }
}

TEST_CASE("float -> float16 rounds to nearest even at every rounding boundary", "[render][half]") {
  // Midpoints between neighbouring halves (and their float neighbours) are where rounding can
  // go wrong; check them all, plus a spread of arbitrary float patterns.
  for (uint32_t b = 0; b < 0x7C00; ++b) {
    for (uint32_t sign : {0u, 0x8000u}) {
      const float lo = FloatFromHalfBits(uint16_t(b | sign));
      const float hi = b + 1 == 0x7C00 ? (sign ? -65520.0f : 65520.0f) : FloatFromHalfBits(uint16_t((b + 1) | sign));
      const float mid = (lo + hi) / 2;  // exact in float
      CheckHalf(mid);
      CheckHalf(std::nextafter(mid, 0.0f));
      CheckHalf(std::nextafter(mid, HUGE_VALF));
      CheckHalf(std::nextafter(mid, -HUGE_VALF));
    }
  }
  for (uint64_t u = 0; u < (uint64_t(1) << 32); u += 65521) CheckHalf(FloatOfBits(uint32_t(u)));
}

TEST_CASE("float16 conversion edge values", "[render][half]") {
  CHECK(HalfBitsFromFloat(65504.0f) == 0x7BFF);
  CHECK(HalfBitsFromFloat(65519.996f) == 0x7BFF);
  CHECK(HalfBitsFromFloat(65520.0f) == 0x7C00);  // tie with "65536" rounds to even: inf
  CHECK(HalfBitsFromFloat(-HUGE_VALF) == 0xFC00);
  CHECK(HalfBitsFromFloat(0x1p-24f) == 0x0001);  // smallest subnormal
  CHECK(HalfBitsFromFloat(0x1p-25f) == 0x0000);  // tie: to even (zero)
  CHECK(HalfBitsFromFloat(0x1.8p-24f) == 0x0002);  // tie between 1 and 2 ulps: even
  CHECK(HalfBitsFromFloat(-0.0f) == 0x8000);
  CHECK(IsHalfNan(HalfBitsFromFloat(std::nanf(""))));
  CHECK(std::isnan(RoundToHalf(std::nanf(""))));
}

TEST_CASE("float -> bfloat16 rounds to nearest even like c10::BFloat16", "[render][half]") {
  for (uint32_t b = 0; b < 65536; ++b) {
    const uint32_t base = b << 16;
    for (uint32_t low : {0x0000u, 0x0001u, 0x7FFFu, 0x8000u, 0x8001u, 0xFFFFu}) {
      CheckBFloat16(FloatOfBits(base | low));
    }
  }
  for (uint64_t u = 0; u < (uint64_t(1) << 32); u += 65521) CheckBFloat16(FloatOfBits(uint32_t(u)));
  CHECK(BFloat16BitsFromFloat(std::nanf("")) == 0x7FC0);
  CHECK(BFloat16BitsFromFloat(-std::nanf("")) == 0x7FC0);  // c10 canonicalizes the NaN
  CHECK(BFloat16BitsFromFloat(FLT_MAX) == 0x7F80);         // rounds up to inf
  CHECK(BFloat16BitsFromFloat(1.0f + 0x1p-8f) == 0x3F80);  // tie: to even
  CHECK(FloatFromBFloat16Bits(0x3F80) == 1.0f);
}

// Not run by default ("[.]"): every one of the 2^32 floats (about 5 CPU minutes; passed).
TEST_CASE("float -> float16/bfloat16 exhaustive", "[.][render][half][exhaustive]") {
  uint64_t half_bad = 0, bf16_bad = 0;
  for (uint64_t u = 0; u < (uint64_t(1) << 32); ++u) {
    const float f = FloatOfBits(uint32_t(u));
    half_bad += !HalfMatches(f);
    bf16_bad += !BFloat16Matches(f);
  }
  CHECK(half_bad == 0);
  CHECK(bf16_bad == 0);
}

TEST_CASE("double -> float conversion without UB", "[render][half]") {
  CHECK(FloatFromDouble(0.1) == 0.1f);
  CHECK(FloatFromDouble(double(FLT_MAX)) == FLT_MAX);
  CHECK(FloatFromDouble(0x1.fffffefffffffp127) == FLT_MAX);  // just under the tie
  CHECK(std::isinf(FloatFromDouble(0x1.ffffffp127)));       // the tie rounds to "2^128"
  CHECK(FloatFromDouble(-1e39) == -HUGE_VALF);
  CHECK(FloatFromDouble(DBL_MAX) == HUGE_VALF);
  CHECK(FloatFromDouble(-HUGE_VAL) == -HUGE_VALF);
  CHECK(std::isnan(FloatFromDouble(std::nan(""))));
  CHECK(FloatFromDouble(1e-50) == 0.0f);
}

TEST_CASE("python scalars are rounded double -> float -> dtype, as torch does", "[render][half]") {
  // torch: torch.ones(1, dtype=float16).mul(1 + 2**-11 + 2**-40) == 1: the double first rounds
  // to float (to the half-way point), which then ties to even.  A direct rounding would give
  // 1 + 2**-10.
  CHECK(HalfMath::Scalar(1.0 + 0x1p-11 + 0x1p-40) == 1.0f);
  CHECK(BFloat16Math::Scalar(1.0 + 0x1p-8 + 0x1p-40) == 1.0f);
  CHECK(HalfMath::Scalar(65519.0) == 65504.0f);
  CHECK(std::isinf(HalfMath::Scalar(65520.0)));
  CHECK(Float32Math::Scalar(0.1) == 0.1f);
  CHECK(Float64Math::Scalar(0.1) == 0.1);
  // torch's checked conversion (clamp bounds, new_full fill) refuses finite overflow only.
  CHECK(ScalarFitsDType<HalfMath>(65504.0));
  CHECK_FALSE(ScalarFitsDType<HalfMath>(65504.5));
  CHECK(ScalarFitsDType<HalfMath>(HUGE_VAL));
  CHECK(ScalarFitsDType<HalfMath>(std::nan("")));
  CHECK_FALSE(ScalarFitsDType<BFloat16Math>(-3.4e38));
  CHECK(ScalarFitsDType<BFloat16Math>(3.38e38));
  CHECK_FALSE(ScalarFitsDType<Float32Math>(1e39));
  CHECK(ScalarFitsDType<Float64Math>(1e300));
}

}  // namespace
}  // namespace imgsink::daemon

#endif  // defined(__FLT16_MANT_DIG__)
