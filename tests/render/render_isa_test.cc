// The render's instruction-set variants (render_isa.h) against each other: every dtype, layout,
// channel count, bit depth and normalization, on rows wide enough for the vector loops and their
// tails, with random bit patterns (NaN, inf, subnormals) among the values.  The reference tests
// check each variant against torch; this one covers the combinations their cases do not.
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <catch.hpp>

#include "daemon/render/half.h"
#include "daemon/render/render.h"
#include "daemon/render/render_isa.h"

namespace imgsink::daemon {
namespace {

// n*c*h*w elements of `dtype`: values around [-1.5, 1.5], one in eight a random bit pattern.
std::vector<uint8_t> RandomTensor(DType dtype, size_t count, std::mt19937_64* rng) {
  std::uniform_real_distribution<double> value(-1.5, 1.5);
  std::vector<uint8_t> bytes(count * DTypeSize(dtype));
  for (size_t i = 0; i < count; ++i) {
    const uint64_t bits = (*rng)();
    const bool pattern = bits % 8 == 0;
    const double d = value(*rng);
    uint8_t* p = bytes.data() + i * DTypeSize(dtype);
    switch (dtype) {
      case DType::kFloat32: {
        const float f = float(d);
        pattern ? std::memcpy(p, &bits, 4) : std::memcpy(p, &f, 4);
        break;
      }
      case DType::kFloat64:
        pattern ? std::memcpy(p, &bits, 8) : std::memcpy(p, &d, 8);
        break;
      case DType::kFloat16:
      case DType::kBFloat16: {
        const float f = float(d);
        const uint16_t h = pattern ? uint16_t(bits >> 8)
                           : dtype == DType::kFloat16 ? HalfBitsFromFloat(f)
                                                      : BFloat16BitsFromFloat(f);
        std::memcpy(p, &h, 2);
        break;
      }
      case DType::kUint8:
      case DType::kUint16:
        std::memcpy(p, &bits, DTypeSize(dtype));
        break;
    }
  }
  return bytes;
}

Image Render(RenderIsa isa, const TensorBatch& batch, const RenderOptions& o, int bits) {
  REQUIRE(SetRenderIsa(isa));
  Image im;
  const Status s = RenderGrid(batch, o, bits, &im);
  REQUIRE(SetRenderIsa(SupportedRenderIsa()));
  REQUIRE(s.ok());
  return im;
}

TEST_CASE("every render variant gives the same bits", "[render][isa]") {
  if (SupportedRenderIsa() == RenderIsa::kBaseline) {
    WARN("this CPU runs only the baseline render variant: nothing to compare");
    return;
  }
  std::mt19937_64 rng(11);
  const int64_t n = 3, h = 3, w = 75;  // rows: 2 x 32 vector iterations plus a tail
  int compared = 0;
  for (DType dtype : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16,
                      DType::kUint8, DType::kUint16}) {
    const bool is_float = dtype != DType::kUint8 && dtype != DType::kUint16;
    for (int64_t c : {1, 2, 3, 4}) {
      const std::vector<uint8_t> tensor = RandomTensor(dtype, size_t(n * c * h * w), &rng);
      for (bool channels_last : {false, true}) {
        for (bool keep_gray : {false, true}) {
          if (keep_gray && c != 1) continue;
          for (int bits : {8, 16}) {
            if (dtype == DType::kUint8 && bits != 8) continue;
            if (dtype == DType::kUint16 && bits != 16) continue;
            // none, value_range with a power-of-two divisor (2, 1), an inexact one, min/max.
            for (int norm = 0; norm < (is_float ? 6 : 1); ++norm) {
              RenderOptions o;
              o.nrow = 2;
              o.padding = 1;
              o.keep_gray = keep_gray;
              o.normalize = norm > 0;
              if (norm == 1) o.value_range = std::make_pair(-1.0, 1.0);
              if (norm == 2) o.value_range = std::make_pair(0.0, 1.0);
              if (norm == 3) o.value_range = std::make_pair(-0.3, 0.77);
              o.scale_each = norm == 5;
              TensorBatch batch;
              batch.data = tensor.data();
              batch.dtype = dtype;
              batch.n = n;
              batch.c = c;
              batch.h = h;
              batch.w = w;
              batch.channels_last = channels_last;
              INFO(DTypeName(dtype) << " c=" << c << (channels_last ? " NHWC" : " NCHW")
                                    << (keep_gray ? " keep_gray" : "") << " bits=" << bits
                                    << " normalization " << norm);
              const Image base = Render(RenderIsa::kBaseline, batch, o, bits);
              const Image avx2 = Render(RenderIsa::kAvx2, batch, o, bits);
              CHECK(base.pixels == avx2.pixels);
              ++compared;
            }
          }
        }
      }
    }
  }
  CHECK(compared == 4 * (4 * 2 + 2) * 2 * 6 + 2 * (4 * 2 + 2));
}

TEST_CASE("the render variant can be chosen and restored", "[render][isa]") {
  CHECK(SetRenderIsa(RenderIsa::kBaseline));
  CHECK(ActiveRenderIsa() == RenderIsa::kBaseline);
  CHECK(SetRenderIsa(SupportedRenderIsa()));
  CHECK(ActiveRenderIsa() == SupportedRenderIsa());
}

}  // namespace
}  // namespace imgsink::daemon
