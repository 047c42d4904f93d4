// Image: quantized pixels ready for an encoder.  Produced by render, consumed by encode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace imgsink::daemon {

// Rows of interleaved channels (HWC), no row padding.
// Invariant: pixels.size() == width * height * channels * (bit_depth / 8).
// bit_depth 16 stores each sample as a host-order uint16_t (2 bytes); encoders swap as needed.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
  int bit_depth = 8;  // 8 or 16
  std::vector<uint8_t> pixels;

  size_t row_bytes() const { return size_t(width) * size_t(channels) * size_t(bit_depth / 8); }
};

}  // namespace imgsink::daemon
