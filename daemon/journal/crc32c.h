// CRC32C (Castagnoli) from Boost.CRC, and leveldb's CRC masking.
//
// Boost's crc_optimal is a byte-at-a-time table CRC: portable but not hardware-accelerated.
// See JOURNAL_FORMAT.md "Checksum cost" for its measured speed.
// Thread-safety: Crc32c objects are not shared; the free functions are pure.
#pragma once

#include <boost/crc.hpp>

#include <cstddef>
#include <cstdint>

namespace imgsink::journal {

// Incremental CRC32C: Update() over consecutive pieces equals one Update() over their concatenation.
class Crc32c {
 public:
  void Update(const void* data, size_t size) { crc_.process_bytes(data, size); }
  uint32_t Value() const { return crc_.checksum(); }

 private:
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc_;
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

}  // namespace imgsink::journal
