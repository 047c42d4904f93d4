// TensorView: a non-owning description of a tensor the caller wants written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "imgsink/proto/status.h"
#include "imgsink/proto/types.h"

namespace imgsink {

// The elements live at `data`, C-contiguous in the order of `shape`, little-endian, no padding
// (the wire's tensor frame, proto/PROTOCOL.md).  `data` need not be aligned.
// `shape` has LayoutRank(layout) dims, named by `layout` (e.g. NCHW = batch, channels, h, w).
// The view does not own the bytes: see SaveOptions::ownership for how long they must live.
struct TensorView {
  const void* data = nullptr;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  Layout layout = Layout::kNCHW;
};

// Returns OK and sets *count = product(shape) iff shape.size() == LayoutRank(layout), every dim
// is >= 1, and product * itemsize is at most 2^63 - 1 (the protocol's bound).  Otherwise kBadShape naming
// the problem; *count is unchanged.  REQUIRES: count non-null.
Status TensorElementCount(const TensorView& tensor, size_t* count);

// Like TensorElementCount, but sets *bytes = product(shape) * DTypeSize(dtype).
// REQUIRES: bytes non-null.
Status TensorByteSize(const TensorView& tensor, size_t* bytes);

// Returns OK and sets *bytes iff TensorByteSize succeeds and `data` is non-null (kBadRequest).
// REQUIRES: bytes non-null.
Status ValidateTensorView(const TensorView& tensor, size_t* bytes);

}  // namespace imgsink
