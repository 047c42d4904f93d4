// Tensor elements -> output samples: the optional normalization of make_grid followed by
// save_image's mul(255).add_(0.5).clamp_(0, 255).to(uint8), each step rounded as torch rounds it
// for the tensor's dtype (dtype_math.h), and the HWC interleaving/channel repeat of the grid.
//
// Non-finite values, as torch 1.13 gives them on x86-64 (checked exhaustively, EXACTNESS.md):
// +inf -> 255 (65535), -inf -> 0, NaN -> 0.  torch keeps NaN through clamp_ and its float ->
// uint8 conversion (cvttss2si, low byte) yields 0; we select 0 explicitly, since converting a
// NaN to an integer is undefined behaviour in C++.
// Thread-safety: pure functions; each call writes only the canvas cells it is given.
#pragma once

#include <cstdint>

#include "daemon/render/image.h"
#include "daemon/render/normalize.h"
#include "daemon/render/render.h"

namespace imgsink::daemon {

struct QuantizeSpec {
  bool normalize = false;
  NormRange range;  // used iff normalize
  int bit_depth = 8;  // 8 or 16
  int out_channels = 3;  // image.c, or 3 when a 1-channel image is repeated
  // torch.utils.tensorboard's rule instead of save_image's: the element to float32 (double
  // rounds to nearest), x255 in float32 (uint8: x1), clip to [0, 255] (NaN -> 0), truncate.
  // REQUIRES with it: bit_depth 8, !normalize.
  bool tensorboard = false;
};

// Writes `image` (a batch of one, any dtype) into out->pixels with its top-left corner at
// canvas column x0, row y0.  uint8 / uint16 elements are copied as samples.
// REQUIRES: out->pixels sized for out's width/height/channels/bit_depth; the image fits at
// (x0, y0); out->channels == spec.out_channels; spec.out_channels == image.c, or image.c == 1
// and spec.out_channels == 3; uint8 only with bit_depth 8, uint16 only with 16; spec.normalize
// only for float dtypes.
void QuantizeImage(const TensorBatch& image, const QuantizeSpec& spec, int64_t x0, int64_t y0,
                   Image* out);

// Computes the sample that make_grid's pad_value becomes: pad_value converted to the tensor's
// dtype (torch's new_full), then quantized like a pixel (never normalized).  For uint8/uint16
// tensors (our extension) the quantization is done in float32.  Returns kBadOption when
// pad_value is finite but beyond the dtype's largest finite value (torch's new_full raises).
Status QuantizePadValue(DType dtype, double pad_value, int bit_depth, uint16_t* sample);

// The sample pad_value becomes under the tensorboard rule (QuantizeSpec::tensorboard); torch's
// TensorBoard grid has no padding and fills empty cells with 0, which pad_value 0 gives.
uint8_t QuantizeTensorBoardPad(DType dtype, double pad_value);

}  // namespace imgsink::daemon
