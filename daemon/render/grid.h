// make_grid's geometry: where each image of a batch lands on the canvas.
//
// torchvision: xmaps = min(nrow, B); ymaps = ceil(B / xmaps); each cell is (H + padding) x
// (W + padding); the canvas is (ymaps * (H + padding) + padding) x (xmaps * (W + padding) +
// padding), filled with pad_value, image k at row k / xmaps, column k % xmaps.  A batch of one
// is returned as the image itself: no padding, pad_value unused.
// Thread-safety: value type; pure functions.
#pragma once

#include <cstdint>

#include "imgsink/proto/status.h"

namespace imgsink::daemon {

struct GridGeometry {
  int64_t width = 0;   // canvas columns
  int64_t height = 0;  // canvas rows
  int64_t xmaps = 1;
  int64_t ymaps = 1;
  int64_t cell_w = 0;  // W + padding (W for a batch of one)
  int64_t cell_h = 0;
  int64_t padding = 0;  // 0 for a batch of one
  // True iff some canvas pixel is not covered by an image (padding, or empty trailing cells).
  bool has_pad_pixels = false;

  // Top-left canvas column / row of image k.  REQUIRES: 0 <= k < n.
  int64_t X0(int64_t k) const { return (k % xmaps) * cell_w + padding; }
  int64_t Y0(int64_t k) const { return (k / xmaps) * cell_h + padding; }
};

// Computes the grid of n images of h x w.  Returns kBadOption for nrow < 1 or padding < 0,
// kBadShape for a dim < 1, kTooLarge when the canvas side would exceed INT32_MAX (Image uses
// int).
Status ComputeGridGeometry(int64_t n, int64_t h, int64_t w, int nrow, int padding,
                           GridGeometry* out);

}  // namespace imgsink::daemon
