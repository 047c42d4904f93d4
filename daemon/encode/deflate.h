// DeflateStream: one zlib-format stream (RFC 1950: header, deflate, Adler-32) compressed in
// pieces into caller-provided output windows, by zlib or by ISA-L's igzip.  PngWriter feeds it
// strips of filtered rows and hands it one IDAT chunk's payload at a time.
//
// igzip (Debian libisal-dev) compresses PNG-filtered rows ~5x faster than zlib level 1 but has
// only levels 0..3 and no strategies; its `IGZIP_ZLIB` mode writes the 2-byte zlib header and the
// Adler-32 trailer itself.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "imgsink/proto/status.h"

struct isal_zstream;

namespace imgsink::daemon {

// Thread-safety: thread-compatible.  Reuse one per thread: both engines keep ~300 KiB of state.
class DeflateStream {
 public:
  enum class Engine { kZlib, kIsal };

  DeflateStream();
  ~DeflateStream();
  DeflateStream(const DeflateStream&) = delete;
  DeflateStream& operator=(const DeflateStream&) = delete;

  // Begins a new stream.  kZlib: `level` 0..9 and `strategy` (Z_DEFAULT_STRATEGY, Z_FILTERED,
  // Z_HUFFMAN_ONLY, Z_RLE) go to deflateInit2 unchanged.  kIsal: `level` 1..3 (igzip's levels;
  // 0 uses a fixed Huffman table and expands noisy input), `strategy` is log2 of the largest
  // match distance, 8..15 (igzip's hist_bits: see kIsalHistBits in png_writer.cc for why small).
  // Errors: kEncodeFailed (zlib init failed); throws std::bad_alloc when out of memory.
  Status Start(Engine engine, int level, int strategy);

  // The input still to compress; the stream reads it in Compress calls.
  void SetInput(const uint8_t* data, size_t size);
  size_t avail_in() const;
  // Where the next compressed bytes go.
  void SetOutput(uint8_t* data, size_t size);
  size_t avail_out() const;

  // Compresses until the input is consumed (finish == false) or, with finish == true, until the
  // stream is complete (then returns with *done = true); returns early with *done = false when
  // the output window is full: give a new one and call again.
  // REQUIRES: Start() succeeded; after finish == true, the same input until *done.
  // Errors: kEncodeFailed (engine error).
  Status Compress(bool finish, bool* done);

  // An output window size that usually holds the whole stream for `n` input bytes (zlib's
  // deflateBound; for igzip the same stored-block bound).  Not a promise: Compress asks for
  // another window when it falls short.
  size_t Bound(size_t n) const;

 private:
  Engine engine_ = Engine::kZlib;
  z_stream zs_{};
  bool zs_live_ = false;  // zs_ initialized with zs_level_ / zs_strategy_
  int zs_level_ = -1;
  int zs_strategy_ = -1;
  std::unique_ptr<isal_zstream> isal_;  // allocated on first kIsal Start (82 KiB)
  std::vector<uint8_t> isal_level_buf_;  // igzip's per-level working memory
};

}  // namespace imgsink::daemon
