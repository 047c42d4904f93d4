// Render: tensor -> quantized HWC pixels, reproducing torchvision.utils.save_image exactly.
//
// The arithmetic (see README "Exactness"): make_grid's channel handling, normalize (clamp to
// (low, high), subtract low, divide by max(high - low, 1e-5)), grid geometry, then
// x255 + 0.5, clamp to [0, 255], truncate -- each step in the tensor's own dtype, rounding after
// every step for float16/bfloat16 as torch's CPU kernels do.  This file's .cc is compiled with
// -ffp-contract=off.
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstdint>

#include "daemon/render/image.h"
#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"
#include "imgsink/proto/types.h"

namespace imgsink {

// A validated tensor viewed as a batch of n images of c channels, h rows, w columns.
// `data` holds n*c*h*w elements of `dtype`, little-endian, C-contiguous in NCHW order, or in NHWC
// order when channels_last.  `data` may be unaligned.
struct TensorBatch {
  const uint8_t* data = nullptr;
  DType dtype = DType::kFloat32;
  int64_t n = 0, c = 0, h = 0, w = 0;
  bool channels_last = false;
};

// Maps a (dtype, shape, layout) to a TensorBatch over `data`: HW -> n=1,c=1; CHW -> n=1;
// HWC -> n=1, channels_last; NHWC -> channels_last.  REQUIRES: shape already validated
// (rank matches layout, dims >= 1, byte count checked).
TensorBatch MakeTensorBatch(const uint8_t* data, DType dtype, const int64_t* shape, Layout layout);

// Image i of `batch` as a batch of one.  REQUIRES: 0 <= i < batch.n.
TensorBatch SliceImage(const TensorBatch& batch, int64_t i);

// Renders `batch` as save_image(tensor, ..., **opts) would: make_grid then quantize, into *out
// (reusing its buffer).  bit_depth 8 is torchvision's; 16 is our extension (x65535, computed in
// at least float32).  Channels: 1 is repeated to 3 unless opts.keep_gray; 2 and 4 kept; others
// are kBadShape.  uint8 input is taken as already-quantized pixels; uint16 needs bit_depth 16.
Status RenderGrid(const TensorBatch& batch, const RenderOptions& opts, int bit_depth, Image* out);

}  // namespace imgsink
