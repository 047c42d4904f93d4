#include "daemon/encode/deflate.h"

#include <isa-l/igzip_lib.h>

#include <new>
#include <string>

namespace imgsink::daemon {

DeflateStream::DeflateStream() = default;

DeflateStream::~DeflateStream() {
  if (zs_live_) deflateEnd(&zs_);
}

Status DeflateStream::Start(Engine engine, int level, int strategy) {
  engine_ = engine;
  if (engine == Engine::kIsal) {
    if (!isal_) isal_ = std::make_unique<isal_zstream>();
    static const uint32_t kLevelBufSize[4] = {ISAL_DEF_LVL0_DEFAULT, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT,
                                              ISAL_DEF_LVL3_DEFAULT};
    if (level < 0 || level > 3 || strategy < 8 || strategy > 15) {
      return Status(ErrorCode::kEncodeFailed, "igzip level or history bits out of range");
    }
    isal_level_buf_.resize(kLevelBufSize[level]);
    isal_deflate_init(isal_.get());
    isal_->level = uint32_t(level);
    isal_->level_buf = isal_level_buf_.empty() ? nullptr : isal_level_buf_.data();
    isal_->level_buf_size = uint32_t(isal_level_buf_.size());
    isal_->gzip_flag = IGZIP_ZLIB;  // zlib header + Adler-32 trailer, as PNG's IDAT needs
    isal_->hist_bits = uint16_t(strategy);
    isal_->flush = NO_FLUSH;
    return Status::OK();
  }
  // Reuses the zlib stream when level and strategy are unchanged: deflateInit2 allocates ~270 KiB.
  if (zs_live_ && level == zs_level_ && strategy == zs_strategy_) {
    if (deflateReset(&zs_) == Z_OK) return Status::OK();
  }
  if (zs_live_) deflateEnd(&zs_);
  zs_live_ = false;
  zs_ = z_stream{};
  const int rc = deflateInit2(&zs_, level, Z_DEFLATED, 15, 8, strategy);
  if (rc == Z_MEM_ERROR) throw std::bad_alloc();
  if (rc != Z_OK) return Status(ErrorCode::kEncodeFailed, "zlib deflateInit2 failed: " + std::to_string(rc));
  zs_live_ = true;
  zs_level_ = level;
  zs_strategy_ = strategy;
  return Status::OK();
}

void DeflateStream::SetInput(const uint8_t* data, size_t size) {
  if (engine_ == Engine::kIsal) {
    isal_->next_in = const_cast<uint8_t*>(data);
    isal_->avail_in = uint32_t(size);
  } else {
    zs_.next_in = const_cast<Bytef*>(data);
    zs_.avail_in = uInt(size);
  }
}

size_t DeflateStream::avail_in() const { return engine_ == Engine::kIsal ? isal_->avail_in : zs_.avail_in; }

void DeflateStream::SetOutput(uint8_t* data, size_t size) {
  if (engine_ == Engine::kIsal) {
    isal_->next_out = data;
    isal_->avail_out = uint32_t(size);
  } else {
    zs_.next_out = data;
    zs_.avail_out = uInt(size);
  }
}

size_t DeflateStream::avail_out() const { return engine_ == Engine::kIsal ? isal_->avail_out : zs_.avail_out; }

Status DeflateStream::Compress(bool finish, bool* done) {
  *done = false;
  if (engine_ == Engine::kIsal) {
    isal_zstream* s = isal_.get();
    s->end_of_stream = finish ? 1 : 0;
    // igzip returns with input left or the stream unfinished only when the output is full (it
    // may also stop short of that with internal state pending: loop while it makes progress).
    for (;;) {
      const uint32_t in_before = s->avail_in, out_before = s->avail_out;
      const int rc = isal_deflate(s);
      if (rc != COMP_OK) return Status(ErrorCode::kEncodeFailed, "igzip deflate failed: " + std::to_string(rc));
      if (finish && s->internal_state.state == ZSTATE_END) {
        *done = true;
        return Status::OK();
      }
      if (!finish && s->avail_in == 0) return Status::OK();
      if (s->avail_out == 0) return Status::OK();
      if (s->avail_in == in_before && s->avail_out == out_before) {
        return Status(ErrorCode::kEncodeFailed, "igzip deflate made no progress");
      }
    }
  }
  const int flush = finish ? Z_FINISH : Z_NO_FLUSH;
  for (;;) {
    const int rc = deflate(&zs_, flush);
    if (rc == Z_STREAM_END) {
      *done = true;
      return Status::OK();
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Status(ErrorCode::kEncodeFailed, "zlib deflate failed: " + std::to_string(rc));
    }
    if (!finish && zs_.avail_in == 0) return Status::OK();
    if (zs_.avail_out == 0) return Status::OK();
    if (rc == Z_BUF_ERROR) return Status(ErrorCode::kEncodeFailed, "zlib deflate made no progress");
  }
}

size_t DeflateStream::Bound(size_t n) const {
  if (engine_ == Engine::kZlib) return deflateBound(const_cast<z_stream*>(&zs_), uLong(n));
  return n + (n >> 12) + (n >> 14) + (n >> 25) + 13 + 6;  // zlib's stored-block bound + header/trailer
}

}  // namespace imgsink::daemon
