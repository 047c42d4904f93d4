#include "daemon/render/render.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "daemon/render/grid.h"
#include "daemon/render/normalize.h"
#include "daemon/render/quantize.h"

namespace imgsink::daemon {
namespace {

bool IsFloat(DType d) { return d != DType::kUint8 && d != DType::kUint16; }

// Our rules for what torchvision has no answer to (see render.h).
Status CheckDTypeAndOptions(const TensorBatch& batch, const RenderOptions& opts, int bit_depth) {
  if (bit_depth != 8 && bit_depth != 16) {
    return Status(ErrorCode::kBadOption, "bit depth must be 8 or 16, got " + std::to_string(bit_depth));
  }
  if (batch.data == nullptr) return Status(ErrorCode::kInternal, "render: tensor data is null");
  if (batch.n < 1 || batch.c < 1 || batch.h < 1 || batch.w < 1) {
    return Status(ErrorCode::kBadShape, "every dim must be >= 1");
  }
  if (batch.c > 4) {
    return Status(ErrorCode::kBadShape, "images must have 1 to 4 channels, got " + std::to_string(batch.c));
  }
  if (opts.quantize == Quantize::kTensorBoard) {  // every dtype, as torch's image() takes any
    if (bit_depth != 8) {
      return Status(ErrorCode::kBadOption, "quantize tensorboard writes 8-bit samples only");
    }
    if (opts.normalize || opts.value_range) {
      return Status(ErrorCode::kBadOption,
                    "quantize tensorboard does not normalize: normalize and value_range do not apply");
    }
    return Status::OK();
  }
  if (IsFloat(batch.dtype)) return Status::OK();
  const std::string name(DTypeName(batch.dtype));
  if (opts.normalize || opts.value_range) {
    return Status(ErrorCode::kBadOption,
                  name + " tensors are taken as pixels: normalize and value_range do not apply");
  }
  if (batch.dtype == DType::kUint8 && bit_depth != 8) {
    return Status(ErrorCode::kBadDtype, "uint8 tensors can only be written with 8 bits per sample");
  }
  if (batch.dtype == DType::kUint16 && bit_depth != 16) {
    return Status(ErrorCode::kBadDtype, "uint16 tensors can only be written with 16 bits per sample");
  }
  return Status::OK();
}

// Sets `count` samples of out->pixels from sample index `first` to `sample`.
void FillSamples(uint16_t sample, size_t first, size_t count, Image* out) {
  if (out->bit_depth == 8) {
    std::memset(out->pixels.data() + first, sample, count);
    return;
  }
  uint8_t bytes[2];
  std::memcpy(bytes, &sample, sizeof bytes);
  uint8_t* p = out->pixels.data() + 2 * first;
  for (size_t i = 0; i < count; ++i) {
    p[2 * i] = bytes[0];
    p[2 * i + 1] = bytes[1];
  }
}

// Fills what no image of the n (h x w) covers with `sample`: the padding and the empty cells
// after the last image.  Only those samples, so the canvas is written once in all.
void FillPadding(const GridGeometry& g, int64_t n, int64_t h, int64_t w, uint16_t sample,
                 Image* out) {
  const size_t c = size_t(out->channels);
  const size_t row = size_t(g.width) * c;
  for (int64_t y = 0; y < g.height; ++y) {
    const size_t base = size_t(y) * row;
    if (y < g.padding || (y - g.padding) % g.cell_h >= h) {  // a padding row
      FillSamples(sample, base, row, out);
      continue;
    }
    const int64_t gy = (y - g.padding) / g.cell_h;
    const int64_t images = std::min(g.xmaps, n - gy * g.xmaps);
    int64_t x = 0;  // first column not yet written
    for (int64_t k = 0; k < images; ++k) {
      const int64_t x0 = k * g.cell_w + g.padding;
      FillSamples(sample, base + size_t(x) * c, size_t(x0 - x) * c, out);
      x = x0 + w;
    }
    FillSamples(sample, base + size_t(x) * c, size_t(g.width - x) * c, out);
  }
}

}  // namespace

TensorBatch MakeTensorBatch(const uint8_t* data, DType dtype, const int64_t* shape, Layout layout) {
  TensorBatch b;
  b.data = data;
  b.dtype = dtype;
  switch (layout) {
    case Layout::kHW: b.n = 1; b.c = 1; b.h = shape[0]; b.w = shape[1]; break;
    case Layout::kCHW: b.n = 1; b.c = shape[0]; b.h = shape[1]; b.w = shape[2]; break;
    case Layout::kNCHW: b.n = shape[0]; b.c = shape[1]; b.h = shape[2]; b.w = shape[3]; break;
    case Layout::kHWC:
      b.n = 1; b.h = shape[0]; b.w = shape[1]; b.c = shape[2]; b.channels_last = true;
      break;
    case Layout::kNHWC:
      b.n = shape[0]; b.h = shape[1]; b.w = shape[2]; b.c = shape[3]; b.channels_last = true;
      break;
  }
  return b;
}

TensorBatch SliceImage(const TensorBatch& batch, int64_t i) {
  TensorBatch one = batch;
  const size_t image_bytes = size_t(batch.c * batch.h * batch.w) * DTypeSize(batch.dtype);
  one.data = batch.data + size_t(i) * image_bytes;
  one.n = 1;
  return one;
}

Status RenderGrid(const TensorBatch& batch, const RenderOptions& opts, int bit_depth, Image* out) {
  Status s = CheckDTypeAndOptions(batch, opts, bit_depth);
  if (!s.ok()) return s;
  GridGeometry grid;
  s = ComputeGridGeometry(batch.n, batch.h, batch.w, opts.nrow, opts.padding, &grid);
  if (!s.ok()) return s;

  QuantizeSpec spec;
  spec.bit_depth = bit_depth;
  spec.out_channels = (batch.c == 1 && !opts.keep_gray) ? 3 : int(batch.c);
  spec.normalize = opts.normalize && IsFloat(batch.dtype);
  spec.tensorboard = opts.quantize == Quantize::kTensorBoard;
  // One range for the batch, or one per image with scale_each (torch normalizes before the
  // grid, so errors come before any pad_value error).
  std::vector<NormRange> ranges;
  if (spec.normalize) {
    const bool each = opts.scale_each && batch.n > 1;
    ranges.resize(each ? size_t(batch.n) : 1);
    for (size_t i = 0; i < ranges.size(); ++i) {
      s = ComputeNormRange(each ? SliceImage(batch, int64_t(i)) : batch, opts, &ranges[i]);
      if (!s.ok()) return s;
    }
  }
  uint16_t pad_sample = 0;
  if (spec.tensorboard) {
    pad_sample = QuantizeTensorBoardPad(batch.dtype, opts.pad_value);
  } else if (batch.n > 1) {  // torch's new_full (and its overflow check) only runs for a real grid
    s = QuantizePadValue(batch.dtype, opts.pad_value, bit_depth, &pad_sample);
    if (!s.ok()) return s;
  }

  // width, height < 2^31, so each factor fits; only the product needs a check.
  const size_t sample_bytes = size_t(spec.out_channels) * size_t(bit_depth / 8);
  const size_t pixels = size_t(grid.width) * size_t(grid.height);
  if (pixels > SIZE_MAX / 8 / sample_bytes) {
    return Status(ErrorCode::kTooLarge, "grid canvas is too large to address");
  }
  try {
    out->pixels.resize(pixels * sample_bytes);  // keeps the capacity of a reused Image
  } catch (const std::bad_alloc&) {
    return Status(ErrorCode::kTooLarge, "no memory for a canvas of " +
                                            std::to_string(pixels * sample_bytes) + " bytes");
  }
  out->width = int(grid.width);
  out->height = int(grid.height);
  out->channels = spec.out_channels;
  out->bit_depth = bit_depth;
  if (grid.has_pad_pixels) FillPadding(grid, batch.n, batch.h, batch.w, pad_sample, out);
  for (int64_t k = 0; k < batch.n; ++k) {
    if (spec.normalize) spec.range = ranges[ranges.size() == 1 ? 0 : size_t(k)];
    QuantizeImage(SliceImage(batch, k), spec, grid.X0(k), grid.Y0(k), out);
  }
  return Status::OK();
}

}  // namespace imgsink::daemon
