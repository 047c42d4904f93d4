// RenderGrid's contract beyond torch's pixels: layouts, geometry, refusals, buffer reuse.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <catch.hpp>

#include "daemon/render/grid.h"
#include "daemon/render/half.h"
#include "daemon/render/normalize.h"
#include "daemon/render/render.h"
#include "render_variants.h"

namespace imgsink::daemon {
namespace {

std::vector<uint8_t> Floats(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

TensorBatch Batch(const std::vector<uint8_t>& bytes, DType dtype, int64_t n, int64_t c, int64_t h,
                  int64_t w, bool channels_last = false) {
  TensorBatch b;
  b.data = bytes.data();
  b.dtype = dtype;
  b.n = n;
  b.c = c;
  b.h = h;
  b.w = w;
  b.channels_last = channels_last;
  return b;
}

unsigned Sample16(const Image& im, size_t i) {
  uint16_t v;
  std::memcpy(&v, im.pixels.data() + 2 * i, 2);
  return v;
}

TEST_CASE("MakeTensorBatch maps each layout", "[render]") {
  static const uint8_t data[2 * 3 * 5 * 7 * 8] = {};
  const int64_t hw[] = {5, 7};
  TensorBatch b = MakeTensorBatch(data, DType::kFloat32, hw, Layout::kHW);
  CHECK((b.n == 1 && b.c == 1 && b.h == 5 && b.w == 7 && !b.channels_last));
  const int64_t chw[] = {3, 5, 7};
  b = MakeTensorBatch(data, DType::kFloat32, chw, Layout::kCHW);
  CHECK((b.n == 1 && b.c == 3 && b.h == 5 && b.w == 7 && !b.channels_last));
  const int64_t hwc[] = {5, 7, 4};
  b = MakeTensorBatch(data, DType::kUint8, hwc, Layout::kHWC);
  CHECK((b.n == 1 && b.c == 4 && b.h == 5 && b.w == 7 && b.channels_last));
  const int64_t nchw[] = {2, 3, 5, 7};
  b = MakeTensorBatch(data, DType::kFloat16, nchw, Layout::kNCHW);
  CHECK((b.n == 2 && b.c == 3 && b.h == 5 && b.w == 7 && !b.channels_last && b.dtype == DType::kFloat16));
  const int64_t nhwc[] = {2, 5, 7, 3};
  b = MakeTensorBatch(data, DType::kFloat64, nhwc, Layout::kNHWC);
  CHECK((b.n == 2 && b.c == 3 && b.h == 5 && b.w == 7 && b.channels_last));
  const TensorBatch one = SliceImage(b, 1);
  CHECK(one.n == 1);
  CHECK(one.data == data + 3 * 5 * 7 * 8);
}

TEST_CASE("grid geometry follows make_grid", "[render]") {
  GridGeometry g;
  REQUIRE(ComputeGridGeometry(7, 4, 5, 3, 2, &g).ok());
  CHECK((g.xmaps == 3 && g.ymaps == 3 && g.width == 3 * 7 + 2 && g.height == 3 * 6 + 2));
  CHECK((g.X0(4) == 7 + 2 && g.Y0(4) == 6 + 2 && g.has_pad_pixels));
  REQUIRE(ComputeGridGeometry(6, 4, 5, 3, 0, &g).ok());
  CHECK((g.width == 15 && g.height == 8 && !g.has_pad_pixels));
  REQUIRE(ComputeGridGeometry(5, 4, 5, 3, 0, &g).ok());
  CHECK(g.has_pad_pixels);  // an empty cell
  REQUIRE(ComputeGridGeometry(1, 4, 5, 3, 9, &g).ok());
  CHECK((g.width == 5 && g.height == 4 && g.X0(0) == 0 && g.Y0(0) == 0 && !g.has_pad_pixels));
  REQUIRE(ComputeGridGeometry(3, 4, 5, 100, 1, &g).ok());
  CHECK((g.xmaps == 3 && g.ymaps == 1));
  CHECK(ComputeGridGeometry(3, 4, 5, 0, 1, &g).code() == ErrorCode::kBadOption);
  CHECK(ComputeGridGeometry(3, 4, 5, 1, -1, &g).code() == ErrorCode::kBadOption);
  CHECK(ComputeGridGeometry(3, 0, 5, 1, 1, &g).code() == ErrorCode::kBadShape);
  CHECK(ComputeGridGeometry(4, 1 << 30, 5, 1, 1, &g).code() == ErrorCode::kTooLarge);
  CHECK(ComputeGridGeometry(1 << 20, 1 << 12, 1 << 12, 1 << 20, 0, &g).code() == ErrorCode::kTooLarge);
}

TEST_CASE("save_image arithmetic on hand-checked values", "[render]") {
  // x * 255 + 0.5, truncated: 0.5 -> 128.0 -> 128; 0.998 -> 254.99 -> 254; out of range clamps.
  const auto bytes = Floats({0.0f, 0.5f, 0.998f, 1.0f, -0.3f, 7.0f, NAN, INFINITY, -INFINITY});
  RenderOptions o;
  o.keep_gray = true;
  Image im;
  REQUIRE(RenderGrid(Batch(bytes, DType::kFloat32, 1, 1, 1, 9), o, 8, &im).ok());
  CHECK((im.width == 9 && im.height == 1 && im.channels == 1 && im.bit_depth == 8));
  CHECK(im.pixels == std::vector<uint8_t>{0, 128, 254, 255, 0, 255, 0, 255, 0});
  REQUIRE(RenderGrid(Batch(bytes, DType::kFloat32, 1, 1, 1, 9), o, 16, &im).ok());
  CHECK(im.pixels.size() == 18);
  // 0.5 * 65535 + 0.5 = 32768; 0.998 * 65535 = 65403.93 + 0.5 -> 65404.
  const unsigned want16[] = {0, 32768, 65404, 65535, 0, 65535, 0, 65535, 0};
  for (size_t i = 0; i < 9; ++i) CHECK(Sample16(im, i) == want16[i]);
  // value_range (-1, 1): -1 -> 0, 0 -> 0.5 -> 128, 1 -> 255.
  const auto vr = Floats({-1.0f, 0.0f, 1.0f});
  o.normalize = true;
  o.value_range = std::make_pair(-1.0, 1.0);
  REQUIRE(RenderGrid(Batch(vr, DType::kFloat32, 1, 1, 1, 3), o, 8, &im).ok());
  CHECK(im.pixels == std::vector<uint8_t>{0, 128, 255});
}

TEST_CASE("channel handling: repeat gray, keep 2 and 4, refuse more", "[render]") {
  const std::vector<uint8_t> px = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
  RenderOptions o;
  Image im;
  REQUIRE(RenderGrid(Batch(px, DType::kUint8, 1, 1, 2, 5), o, 8, &im).ok());
  CHECK(im.channels == 3);
  CHECK(std::vector<uint8_t>(im.pixels.begin(), im.pixels.begin() + 6) == std::vector<uint8_t>{10, 10, 10, 20, 20, 20});
  o.keep_gray = true;
  REQUIRE(RenderGrid(Batch(px, DType::kUint8, 1, 1, 2, 5), o, 8, &im).ok());
  CHECK((im.channels == 1 && im.pixels == px));
  REQUIRE(RenderGrid(Batch(px, DType::kUint8, 1, 2, 1, 5), o, 8, &im).ok());  // planar -> LA
  CHECK((im.channels == 2 && im.pixels == std::vector<uint8_t>{10, 60, 20, 70, 30, 80, 40, 90, 50, 100}));
  REQUIRE(RenderGrid(Batch(px, DType::kUint8, 1, 2, 1, 5, true), o, 8, &im).ok());  // HWC as is
  CHECK((im.channels == 2 && im.pixels == px));
  const std::vector<uint8_t> five(5 * 4);
  CHECK(RenderGrid(Batch(five, DType::kUint8, 1, 5, 2, 2), o, 8, &im).code() == ErrorCode::kBadShape);
}

TEST_CASE("refusals for what torch cannot or we do not define", "[render]") {
  const std::vector<uint8_t> px(2 * 3 * 4 * 4 * 8);
  Image im;
  RenderOptions o;
  CHECK(RenderGrid(Batch(px, DType::kFloat32, 2, 3, 4, 4), o, 12, &im).code() == ErrorCode::kBadOption);
  CHECK(RenderGrid(Batch(px, DType::kUint8, 2, 3, 4, 4), o, 16, &im).code() == ErrorCode::kBadDtype);
  CHECK(RenderGrid(Batch(px, DType::kUint16, 2, 3, 4, 4), o, 8, &im).code() == ErrorCode::kBadDtype);
  o.nrow = 0;
  CHECK(RenderGrid(Batch(px, DType::kFloat32, 2, 3, 4, 4), o, 8, &im).code() == ErrorCode::kBadOption);
  o = RenderOptions();
  o.normalize = true;
  Status s = RenderGrid(Batch(px, DType::kUint8, 2, 3, 4, 4), o, 8, &im);
  CHECK(s.code() == ErrorCode::kBadOption);
  CHECK(s.message().find("normalize") != std::string::npos);
  o = RenderOptions();
  o.value_range = std::make_pair(0.0, 1.0);
  CHECK(RenderGrid(Batch(px, DType::kUint8, 2, 3, 4, 4), o, 8, &im).code() == ErrorCode::kBadOption);
  CHECK(RenderGrid(Batch(px, DType::kUint16, 2, 3, 4, 4), o, 16, &im).code() == ErrorCode::kBadOption);
  o = RenderOptions();
  o.value_range = std::make_pair(0.0, 1.0);  // unused without normalize, as in torchvision
  CHECK(RenderGrid(Batch(px, DType::kFloat32, 2, 3, 4, 4), o, 8, &im).ok());
}

TEST_CASE("integer tensors: samples as is, pad_value quantized in float32", "[render]") {
  const std::vector<uint8_t> px = {1, 2, 3, 4};
  RenderOptions o;
  o.keep_gray = true;
  o.padding = 1;
  o.pad_value = 0.5;  // 0.5 * 255 + 0.5 = 128
  Image im;
  REQUIRE(RenderGrid(Batch(px, DType::kUint8, 2, 1, 1, 2), o, 8, &im).ok());
  CHECK((im.width == 7 && im.height == 3));
  CHECK(im.pixels == std::vector<uint8_t>{128, 128, 128, 128, 128, 128, 128,  //
                                          128, 1, 2, 128, 3, 4, 128,          //
                                          128, 128, 128, 128, 128, 128, 128});
  std::vector<uint8_t> px16 = {0x34, 0x12, 0xFF, 0xFF};  // 0x1234, 0xFFFF little-endian
  o.pad_value = 0.5;  // 0.5 * 65535 + 0.5 = 32768
  REQUIRE(RenderGrid(Batch(px16, DType::kUint16, 2, 1, 1, 1), o, 16, &im).ok());
  CHECK((im.width == 5 && im.height == 3 && im.bit_depth == 16));
  CHECK(Sample16(im, 0) == 32768);
  CHECK(Sample16(im, 5 + 1) == 0x1234);
  CHECK(Sample16(im, 5 + 3) == 0xFFFF);
}

TEST_CASE("channels_last input renders like the same tensor in NCHW", "[render]") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-0.2f, 1.2f);
  const int64_t n = 3, c = 3, h = 5, w = 7;
  std::vector<float> nchw(size_t(n * c * h * w)), nhwc(nchw.size());
  for (float& v : nchw) v = u(rng);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          nhwc[size_t(((i * h + y) * w + x) * c + ch)] = nchw[size_t(((i * c + ch) * h + y) * w + x)];
  const auto a = Floats(nchw), b = Floats(nhwc);
  RenderOptions o;
  o.nrow = 2;
  o.normalize = true;
  o.scale_each = true;
  Image planar, interleaved;
  REQUIRE(RenderGrid(Batch(a, DType::kFloat32, n, c, h, w), o, 8, &planar).ok());
  REQUIRE(RenderGrid(Batch(b, DType::kFloat32, n, c, h, w, true), o, 8, &interleaved).ok());
  CHECK(planar.pixels == interleaved.pixels);
}

TEST_CASE("the output buffer is reused", "[render]") {
  const std::vector<uint8_t> big(4 * 3 * 32 * 32 * 4), small(3 * 4 * 4 * 4);
  RenderOptions o;
  Image im;
  REQUIRE(RenderGrid(Batch(big, DType::kFloat32, 4, 3, 32, 32), o, 8, &im).ok());
  const size_t capacity = im.pixels.capacity();
  const uint8_t* data = im.pixels.data();
  REQUIRE(RenderGrid(Batch(small, DType::kFloat32, 1, 3, 4, 4), o, 8, &im).ok());
  CHECK(im.pixels.size() == 4 * 4 * 3);
  CHECK(im.pixels.capacity() == capacity);
  CHECK(im.pixels.data() == data);
  CHECK(im.row_bytes() * size_t(im.height) == im.pixels.size());
}

TEST_CASE("padding and empty cells are written even over a reused buffer", "[render]") {
  // 5 images of 2x3 in rows of 3 leave an empty cell; only the uncovered samples get pad_value.
  std::vector<float> values(5 * 3 * 2 * 3);
  for (size_t i = 0; i < values.size(); ++i) values[i] = float(i % 7) / 7.0f;
  const auto bytes = Floats(values);
  for (int bits : {8, 16}) {
    for (int padding : {0, 1, 2}) {
      INFO(bits << " bits, padding " << padding);
      RenderOptions o;
      o.nrow = 3;
      o.padding = padding;
      o.pad_value = 0.6;
      Image fresh, reused;
      REQUIRE(RenderGrid(Batch(bytes, DType::kFloat32, 5, 3, 2, 3), o, bits, &fresh).ok());
      reused.pixels.assign(fresh.pixels.size(), 0xAB);
      REQUIRE(RenderGrid(Batch(bytes, DType::kFloat32, 5, 3, 2, 3), o, bits, &reused).ok());
      CHECK(reused.pixels == fresh.pixels);
      // Padding rows/columns and the empty cell hold the pad sample: 0.6 * 255 + 0.5 -> 153.
      const unsigned pad = bits == 8 ? 153 : 39321;  // 0.6f * 65535 + 0.5 = 39321.5
      const size_t row = fresh.row_bytes() / size_t(bits / 8);
      auto at = [&](size_t x, size_t y, size_t ch) {
        const size_t i = y * row + x * 3 + ch;
        return bits == 8 ? unsigned(fresh.pixels[i]) : Sample16(fresh, i);
      };
      const size_t cell_w = 3 + size_t(padding), cell_h = 2 + size_t(padding);
      size_t pads = 0;
      for (size_t y = 0; y < size_t(fresh.height); ++y) {
        for (size_t x = 0; x < size_t(fresh.width); ++x) {
          const size_t cx = (x - size_t(padding)) / cell_w, cy = (y - size_t(padding)) / cell_h;
          const bool in_image = x >= size_t(padding) && y >= size_t(padding) &&
                                (x - size_t(padding)) % cell_w < 3 &&
                                (y - size_t(padding)) % cell_h < 2 && cy * 3 + cx < 5;
          if (in_image) continue;
          ++pads;
          for (size_t ch = 0; ch < 3; ++ch) CHECK(at(x, y, ch) == pad);
        }
      }
      CHECK(pads == size_t(fresh.width * fresh.height) - 5 * 2 * 3);
    }
  }
}

TEST_CASE("min/max and the divisor follow torch and Python", "[render]") {
  const auto bytes = Floats({0.25f, -3.0f, 9.0f, NAN, 1.0f});
  double lo, hi;
  TensorMinMax(Batch(bytes, DType::kFloat32, 1, 1, 1, 3), &lo, &hi);
  CHECK((lo == -3.0 && hi == 9.0));
  TensorMinMax(Batch(bytes, DType::kFloat32, 1, 1, 1, 5), &lo, &hi);
  CHECK((std::isnan(lo) && std::isnan(hi)));
  CHECK(NormDivisor(1.0, 1.0) == 1e-5);
  CHECK(NormDivisor(-1.0, 1.0) == 2.0);
  CHECK(std::isnan(NormDivisor(0.0, std::nan(""))));
  CHECK(NormDivisor(-HUGE_VAL, HUGE_VAL) == HUGE_VAL);
}

TEST_CASE("min/max finds the extremes and a NaN at every position", "[render]") {
  // Lengths and positions across the vector lanes, the loop body and the scalar tail.
  testing::ForEachRenderIsa([] {
    for (int64_t len : {1, 7, 8, 9, 31, 67}) {
      for (int64_t at = 0; at < len; ++at) {
        INFO("length " << len << ", special value at " << at);
        std::vector<float> v(static_cast<size_t>(len), 0.5f);
        double lo, hi;
        v[size_t(at)] = -7.0f;
        const auto low_at = Floats(v);
        TensorMinMax(Batch(low_at, DType::kFloat32, 1, 1, 1, len), &lo, &hi);
        CHECK((lo == -7.0 && hi == (len == 1 ? -7.0 : 0.5)));
        v[size_t(at)] = 9.0f;
        const auto high_at = Floats(v);
        TensorMinMax(Batch(high_at, DType::kFloat32, 1, 1, 1, len), &lo, &hi);
        CHECK((lo == (len == 1 ? 9.0 : 0.5) && hi == 9.0));
        v[size_t(at)] = NAN;
        const auto with_nan = Floats(v);
        TensorMinMax(Batch(with_nan, DType::kFloat32, 1, 1, 1, len), &lo, &hi);
        CHECK((std::isnan(lo) && std::isnan(hi)));
      }
    }
  });
}

}  // namespace
}  // namespace imgsink::daemon
