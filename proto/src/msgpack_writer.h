// Writes msgpack in the canonical form of proto/PROTOCOL.md: integers in their shortest
// encoding (non-negative ones as uint), floats always as float64, strings as str.
// Internal to the codec.  Thread-safety: an instance is not shared between threads.
#pragma once

#include <cstdint>
#include <cstring>
#include <msgpack.hpp>
#include <string>
#include <string_view>

namespace imgsink {
namespace proto_internal {

class CanonicalWriter {
 public:
  CanonicalWriter() : packer_(stream_) { stream_.out = &bytes_; }
  CanonicalWriter(const CanonicalWriter&) = delete;
  CanonicalWriter& operator=(const CanonicalWriter&) = delete;

  void Map(size_t entries) { packer_.pack_map(static_cast<uint32_t>(entries)); }
  void Array(size_t entries) { packer_.pack_array(static_cast<uint32_t>(entries)); }
  void Str(std::string_view s) {
    packer_.pack_str(static_cast<uint32_t>(s.size()));
    packer_.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
  }
  void Uint(uint64_t v) { packer_.pack_uint64(v); }
  void Int(int64_t v) { packer_.pack_int64(v); }  // v >= 0 comes out as uint, as required
  void Bool(bool v) { v ? packer_.pack_true() : packer_.pack_false(); }
  void Nil() { packer_.pack_nil(); }
  // Not packer::pack_double: msgpack-cxx 4.1 writes integral doubles (0.0, 1.0) as integers.
  void Float64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    char buf[9];
    buf[0] = static_cast<char>(0xcb);
    for (int i = 0; i < 8; ++i) buf[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
    bytes_.append(buf, sizeof buf);
  }

  // Key/value shorthands for the string-keyed maps of the protocol.
  void KeyStr(std::string_view key, std::string_view v) {
    Str(key);
    Str(v);
  }
  void KeyUint(std::string_view key, uint64_t v) {
    Str(key);
    Uint(v);
  }
  void KeyInt(std::string_view key, int64_t v) {
    Str(key);
    Int(v);
  }
  void KeyBool(std::string_view key, bool v) {
    Str(key);
    Bool(v);
  }
  void KeyFloat64(std::string_view key, double v) {
    Str(key);
    Float64(v);
  }

  std::string Take() { return std::move(bytes_); }

 private:
  struct StringStream {
    std::string* out = nullptr;
    void write(const char* p, size_t n) { out->append(p, n); }
  };

  std::string bytes_;
  StringStream stream_;
  msgpack::packer<StringStream> packer_;
};

}  // namespace proto_internal
}  // namespace imgsink
