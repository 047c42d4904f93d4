// ByteSpan: a borrowed, immutable byte range, the unit WritableFile::Append takes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace imgsink {

// The viewer must not outlive the bytes.
struct ByteSpan {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

}  // namespace imgsink
