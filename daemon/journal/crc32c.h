// CRC32C (Castagnoli) from Intel ISA-L, and leveldb's CRC masking.
//
// ISA-L's crc32_iscsi picks the fastest kernel for the CPU at run time (SSE4.2 crc32 with PCLMUL
// folding on x86-64, a table otherwise): gigabytes per second instead of the ~0.3 GB/s of a
// byte-wise table.  See JOURNAL_FORMAT.md "Checksum cost".
// Thread-safety: Crc32c objects are not shared; the free functions are pure.
#pragma once

#include <isa-l/crc.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace imgsink::daemon::journal {

// Incremental CRC32C: Update() over consecutive pieces equals one Update() over their concatenation.
class Crc32c {
 public:
  void Update(const void* data, size_t size) {
    // ISA-L takes a mutable pointer but only reads, and an int length: feed it in chunks.
    unsigned char* p = static_cast<unsigned char*>(const_cast<void*>(data));
    while (size > 0) {
      const size_t n = std::min(size, kMaxChunk);
      state_ = crc32_iscsi(p, int(n), state_);
      p += n;
      size -= n;
    }
  }
  // crc32_iscsi neither inverts its seed nor its result (the standard CRC-32C does both), so the
  // register starts at ~0 and is inverted here; tests check against RFC 3720 and Boost.CRC.
  uint32_t Value() const { return ~state_; }

 private:
  static constexpr size_t kMaxChunk = size_t(1) << 30;
  uint32_t state_ = 0xFFFFFFFFu;
};

// Returns the CRC32C of [data, data + size).
inline uint32_t Crc32cOf(const void* data, size_t size) {
  Crc32c c;
  c.Update(data, size);
  return c.Value();
}

// leveldb's mask: a CRC stored next to the data it covers is rotated and offset, so that
// CRC-ing bytes that embed CRCs (a journal inside a payload) does not produce degenerate values.
inline constexpr uint32_t kCrcMaskDelta = 0xa282ead8u;
inline uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kCrcMaskDelta; }
inline uint32_t UnmaskCrc(uint32_t masked) {
  uint32_t rot = masked - kCrcMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace imgsink::daemon::journal
