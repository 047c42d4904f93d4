// Little-endian loads and stores of fixed-width integers, the byte order of the journal's and
// TensorBoard's record framing.  The bytes may be unaligned.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

namespace imgsink::daemon {

inline void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}
inline void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}
inline uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
// Appends the 4 or 8 little-endian bytes of `v` to *out.
inline void AppendU32(uint32_t v, std::string* out) {
  uint8_t b[4];
  PutU32(b, v);
  out->append(reinterpret_cast<const char*>(b), sizeof b);
}
inline void AppendU64(uint64_t v, std::string* out) {
  uint8_t b[8];
  PutU64(b, v);
  out->append(reinterpret_cast<const char*>(b), sizeof b);
}

}  // namespace imgsink::daemon
