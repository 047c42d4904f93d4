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

namespace imgsink::daemon {

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
//
// Details (daemon/render/EXACTNESS.md has the arithmetic and how it was established):
//  - float16: torch 1.13 cannot save_image a CPU Half tensor (no Half clamp); we render it with
//    torch's Half arithmetic and a clamp that treats its bounds as torch does for bfloat16.
//  - NaN renders as 0, +inf as 255 (65535), -inf as 0, as torch gives on x86-64; a NaN or inf
//    that reaches normalize's min/max makes every pixel it normalizes 0 (padding keeps pad_value).
//  - Where torch raises, we refuse with kBadOption: a finite value_range bound (with normalize)
//    or pad_value (with n > 1) beyond the dtype's largest finite value.
//  - Integer tensors: normalize or value_range -> kBadOption; uint8 with bit_depth 16 and uint16
//    with bit_depth 8 -> kBadDtype; pad_value becomes a sample through x255 (x65535) + 0.5,
//    clamp, truncate in float32.
//  - Other refusals: bit_depth not 8/16, nrow < 1, padding < 0 (kBadOption); a dim < 1 or more
//    than 4 channels (kBadShape); a canvas side over INT32_MAX or no memory for it (kTooLarge).
// On error *out is unspecified.  Never throws.
Status RenderGrid(const TensorBatch& batch, const RenderOptions& opts, int bit_depth, Image* out);

}  // namespace imgsink::daemon
