// Byte views: ByteSpan (borrowed) and Bytes (a view that keeps its owner alive: a zmq message,
// a journal record's buffer, a job), so a tensor frame can be handed from the socket to a worker,
// and a header plus a pixel buffer to the journal, without copying or concatenating them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace imgsink::daemon {

// A borrowed, immutable byte range.  The viewer must not outlive the bytes.
struct ByteSpan {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

// An immutable byte range plus whatever keeps it alive (`owner`; null for static data).
// Copying a Bytes copies the view and shares the owner, never the bytes.
// Thread-safety: like std::shared_ptr; the viewed bytes must not be mutated while viewed.
struct Bytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::shared_ptr<const void> owner;

  ByteSpan span() const { return ByteSpan{data, size}; }

  // Returns a Bytes owning a copy of [data, data + size).
  static Bytes Copy(const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    return Own(std::vector<uint8_t>(p, p + size));
  }
  // Returns a Bytes that takes ownership of `v` (no copy of the elements).
  static Bytes Own(std::vector<uint8_t> v) {
    auto holder = std::make_shared<const std::vector<uint8_t>>(std::move(v));
    return Bytes{holder->data(), holder->size(), holder};
  }
  // Returns a Bytes that takes ownership of `s` (no copy of the characters).
  static Bytes Own(std::string s) {
    auto holder = std::make_shared<const std::string>(std::move(s));
    return Bytes{reinterpret_cast<const uint8_t*>(holder->data()), holder->size(), holder};
  }
};

// Returns the sum of the pieces' sizes.
inline uint64_t TotalSize(const std::vector<Bytes>& pieces) {
  uint64_t n = 0;
  for (const Bytes& b : pieces) n += b.size;
  return n;
}

}  // namespace imgsink::daemon
