// quantize tensorboard (RenderOptions::quantize): torch.utils.tensorboard's x255 / clip /
// truncate and its grid, with known answers computed by numpy as summary.py image() does
// (tensor.astype(float32) * 255).clip(0, 255).astype(uint8).  The decoded event files are
// checked against torch end to end in tests/python/test_tensorboard.py.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <catch.hpp>

#include "daemon/render/render.h"

namespace imgsink::daemon {
namespace {

template <class T>
std::vector<uint8_t> Bytes(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

RenderOptions TensorBoardOptions() {
  RenderOptions o;
  o.nrow = 8;
  o.padding = 0;
  o.quantize = Quantize::kTensorBoard;
  return o;
}

// Renders a 1 x 1 x 1 x n row (gray: each sample repeated to RGB) and returns the R samples.
template <class T>
std::vector<int> Row(const std::vector<T>& values, DType dtype) {
  const std::vector<uint8_t> bytes = Bytes(values);
  TensorBatch b;
  b.data = bytes.data();
  b.dtype = dtype;
  b.n = 1;
  b.c = 1;
  b.h = 1;
  b.w = int64_t(values.size());
  Image out;
  const Status s = RenderGrid(b, TensorBoardOptions(), 8, &out);
  REQUIRE(s.ok());
  REQUIRE(out.channels == 3);
  std::vector<int> r;
  for (size_t i = 0; i < values.size(); ++i) r.push_back(out.pixels[3 * i]);
  return r;
}

TEST_CASE("tensorboard quantization truncates x255 and clips", "[render][tensorboard]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(Row<float>({0.99999f, 1.5f, -1.f, nan, 0.5f / 255, 1.f / 255, 0.1f, 0.2f, 1.f / 3,
                    254.5f / 255, inf, -inf},
                   DType::kFloat32) ==
        std::vector<int>{254, 255, 0, 0, 0, 1, 25, 51, 85, 254, 255, 0});
}

TEST_CASE("tensorboard quantization rounds float64 to float32 first", "[render][tensorboard]") {
  // 13/255 - 1e-9: x255 in double truncates to 12; numpy's astype(float32) first gives 13.
  CHECK(Row<double>({13.0 / 255 - 1e-9, 0.3, 2.0}, DType::kFloat64) ==
        std::vector<int>{13, 76, 255});
}

TEST_CASE("tensorboard quantization: uint8 as pixels, uint16 x255", "[render][tensorboard]") {
  CHECK(Row<uint8_t>({0, 1, 128, 255}, DType::kUint8) == std::vector<int>{0, 1, 128, 255});
  CHECK(Row<uint16_t>({0, 1, 2, 65535}, DType::kUint16) == std::vector<int>{0, 255, 255, 255});
}

TEST_CASE("tensorboard grid: 8 columns, no padding, empty cells 0", "[render][tensorboard]") {
  const std::vector<float> ones(10 * 2 * 2, 1.0f);
  const std::vector<uint8_t> bytes = Bytes(ones);
  TensorBatch b;
  b.data = bytes.data();
  b.dtype = DType::kFloat32;
  b.n = 10;
  b.c = 1;
  b.h = 2;
  b.w = 2;
  Image out;
  REQUIRE(RenderGrid(b, TensorBoardOptions(), 8, &out).ok());
  CHECK(out.width == 16);
  CHECK(out.height == 4);
  CHECK(out.channels == 3);
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 16; ++x) {
      const bool filled = y < 2 || x < 4;  // images 8 and 9 fill the second row's first cells
      CHECK(int(out.pixels[size_t(y * 16 + x) * 3]) == (filled ? 255 : 0));
    }
  }
}

TEST_CASE("tensorboard quantization refuses 16 bits and normalization", "[render][tensorboard]") {
  const std::vector<uint8_t> bytes = Bytes(std::vector<float>{0.5f});
  TensorBatch b;
  b.data = bytes.data();
  b.dtype = DType::kFloat32;
  b.n = b.c = b.h = b.w = 1;
  Image out;
  CHECK(RenderGrid(b, TensorBoardOptions(), 16, &out).code() == ErrorCode::kBadOption);
  RenderOptions o = TensorBoardOptions();
  o.normalize = true;
  CHECK(RenderGrid(b, o, 8, &out).code() == ErrorCode::kBadOption);
}

}  // namespace
}  // namespace imgsink::daemon
