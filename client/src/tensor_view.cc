#include "imgsink/tensor_view.h"

#include <string>

namespace imgsink {
namespace {

static_assert(sizeof(size_t) == sizeof(int64_t), "dims are converted to size_t unchecked");

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace

Status TensorElementCount(const TensorView& tensor, size_t* count) {
  const int rank = LayoutRank(tensor.layout);
  if (tensor.shape.size() != static_cast<size_t>(rank)) {
    return Status(ErrorCode::kBadShape,
                  "shape " + ShapeString(tensor.shape) + " has " +
                      std::to_string(tensor.shape.size()) + " dims but layout " +
                      std::string(LayoutName(tensor.layout)) + " needs " + std::to_string(rank));
  }
  size_t product = 1;
  for (int64_t dim : tensor.shape) {
    if (dim < 1) {
      return Status(ErrorCode::kBadShape,
                    "shape " + ShapeString(tensor.shape) + " has a dim < 1");
    }
    // The byte size is bounded like the daemon's decoder (PROTOCOL.md, "Decoder checks": over
    // 2^63 - 1 is bad_shape), so bound the element count by INT64_MAX / itemsize.
    if (__builtin_mul_overflow(product, static_cast<size_t>(dim), &product) ||
        product > static_cast<size_t>(INT64_MAX) / DTypeSize(tensor.dtype)) {
      return Status(ErrorCode::kBadShape,
                    "shape " + ShapeString(tensor.shape) + " overflows the byte size");
    }
  }
  *count = product;
  return Status::OK();
}

Status TensorByteSize(const TensorView& tensor, size_t* bytes) {
  size_t count = 0;
  Status s = TensorElementCount(tensor, &count);
  if (!s.ok()) return s;
  *bytes = count * DTypeSize(tensor.dtype);
  return Status::OK();
}

Status ValidateTensorView(const TensorView& tensor, size_t* bytes) {
  size_t size = 0;
  Status s = TensorByteSize(tensor, &size);
  if (!s.ok()) return s;
  if (tensor.data == nullptr) {
    return Status(ErrorCode::kBadRequest, "tensor data is null");
  }
  *bytes = size;
  return Status::OK();
}

}  // namespace imgsink
