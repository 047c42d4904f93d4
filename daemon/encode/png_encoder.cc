#include "daemon/encode/png_encoder.h"

#include <png.h>
#include <zlib.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <new>

#include "daemon/encode/text_metadata.h"

namespace imgsink::daemon {

namespace {

// ---- The libpng call, C style ------------------------------------------------------------
// libpng reports errors by longjmp.  A longjmp that skips a C++ destructor is undefined
// behaviour, so everything between setjmp and the last libpng call lives in WritePng(), whose
// frame holds only trivially destructible values; the C++ side passes plain pointers in.

struct PngJob {
  png_uint_32 width;
  png_uint_32 height;
  int bit_depth;
  int color_type;
  bool swap16;  // 16-bit samples are host order; PNG wants big-endian
  const uint8_t* pixels;
  size_t row_bytes;
  int level;
  int filters;   // PNG_FILTER_* mask
  int strategy;  // Z_*
  png_textp texts;
  int num_texts;
  std::vector<uint8_t>* sink;  // the write callback appends here
};

struct PngFailure {
  char message[256];
};


void OnPngError(png_structp png, png_const_charp message) {
  auto* failure = static_cast<PngFailure*>(png_get_error_ptr(png));
  std::snprintf(failure->message, sizeof failure->message, "libpng: %s", message);
  png_longjmp(png, 1);
}

void OnPngWarning(png_structp, png_const_charp) {}  // PIL shows none either

void OnPngWrite(png_structp png, png_bytep data, png_size_t length) {
  auto* sink = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  bool out_of_memory = false;
  try {
    sink->insert(sink->end(), data, data + length);
  } catch (const std::bad_alloc&) {
    out_of_memory = true;
  }
  // Outside the try block: no live C++ object in this frame when png_error longjmps.
  if (out_of_memory) png_error(png, "out of memory for the encoded file");
}

void OnPngFlush(png_structp) {}

// Returns 0 on success; on failure returns nonzero with failure->message set.
int WritePng(const PngJob* job, PngFailure* failure) {
  failure->message[0] = '\0';
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, failure, OnPngError, OnPngWarning);
  if (png == nullptr) {
    std::snprintf(failure->message, sizeof failure->message, "libpng: cannot create write struct");
    return 1;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(failure->message, sizeof failure->message, "libpng: cannot create info struct");
    return 1;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return 1;
  }
  png_set_write_fn(png, job->sink, OnPngWrite, OnPngFlush);
  // libpng's default limit is 1e6 pixels a side; PIL has none, and the daemon has its own.
  png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  png_set_compression_level(png, job->level);
  png_set_compression_strategy(png, job->strategy);
  png_set_filter(png, PNG_FILTER_TYPE_BASE, job->filters);
  png_set_IHDR(png, info, job->width, job->height, job->bit_depth, job->color_type,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_BASE, PNG_FILTER_TYPE_BASE);
  if (job->num_texts > 0) png_set_text(png, info, job->texts, job->num_texts);
  png_write_info(png, info);
  if (job->swap16) png_set_swap(png);
  for (png_uint_32 y = 0; y < job->height; ++y) {
    png_write_row(png, job->pixels + size_t(y) * job->row_bytes);
  }
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return 0;
}

// ---- Option mapping ----------------------------------------------------------------------

int FilterMask(PngFilter f) {
  switch (f) {
    case PngFilter::kAll: return PNG_ALL_FILTERS;
    case PngFilter::kNone: return PNG_FILTER_NONE;
    case PngFilter::kSub: return PNG_FILTER_SUB;
    case PngFilter::kUp: return PNG_FILTER_UP;
    case PngFilter::kAvg: return PNG_FILTER_AVG;
    case PngFilter::kPaeth: return PNG_FILTER_PAETH;
  }
  return -1;
}

// The PNG filter type PngWriter writes on every row for `f`; -1 when `f` stays with libpng
// (adaptive `all`, and `avg`, which the writer does not implement).
int WriterFilter(PngFilter f) {
  switch (f) {
    case PngFilter::kNone: return int(PngRowFilter::kNone);
    case PngFilter::kSub: return int(PngRowFilter::kSub);
    case PngFilter::kUp: return int(PngRowFilter::kUp);
    case PngFilter::kPaeth: return int(PngRowFilter::kPaeth);
    case PngFilter::kAll:
    case PngFilter::kAvg: return -1;
  }
  return -1;
}

int ZlibStrategy(PngStrategy s) {
  switch (s) {
    case PngStrategy::kDefault: return Z_DEFAULT_STRATEGY;
    case PngStrategy::kFiltered: return Z_FILTERED;
    case PngStrategy::kHuffman: return Z_HUFFMAN_ONLY;
    case PngStrategy::kRle: return Z_RLE;
  }
  return -1;
}

int ColorType(int channels) {
  switch (channels) {
    case 1: return PNG_COLOR_TYPE_GRAY;
    case 2: return PNG_COLOR_TYPE_GRAY_ALPHA;
    case 3: return PNG_COLOR_TYPE_RGB;
    default: return PNG_COLOR_TYPE_RGB_ALPHA;
  }
}

constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

Status CheckImage(const Image& image, const PngOptions& opts) {
  if (opts.bit_depth != 8 && opts.bit_depth != 16) {
    return Status(ErrorCode::kBadOption, "png bit depth must be 8 or 16, got " + std::to_string(opts.bit_depth));
  }
  if (opts.compress_level < 0 || opts.compress_level > 9) {
    return Status(ErrorCode::kBadOption,
                  "png compress level must be 0..9, got " + std::to_string(opts.compress_level));
  }
  if (FilterMask(opts.filter) < 0 || ZlibStrategy(opts.strategy) < 0) {
    return Status(ErrorCode::kBadOption, "unknown png filter or strategy");
  }
  if (image.width < 1 || image.height < 1 || image.channels < 1 || image.channels > 4) {
    return Status(ErrorCode::kBadShape, "cannot encode a " + std::to_string(image.width) + "x" +
                                            std::to_string(image.height) + " image of " +
                                            std::to_string(image.channels) + " channels as PNG");
  }
  if (image.bit_depth != opts.bit_depth) {
    return Status(ErrorCode::kInternal, "image bit depth " + std::to_string(image.bit_depth) +
                                            " != requested png bit depth " + std::to_string(opts.bit_depth));
  }
  if (image.pixels.size() / image.row_bytes() != size_t(image.height) ||
      image.pixels.size() % image.row_bytes() != 0) {
    return Status(ErrorCode::kInternal, "image pixel buffer size does not match its shape");
  }
  return Status::OK();
}

}  // namespace

Status PngEncoder::Encode(const Image& image, const PngOptions& opts,
                          const std::vector<std::pair<std::string, std::string>>& text,
                          std::vector<uint8_t>* out) {
  Status status = CheckImage(image, opts);
  if (!status.ok()) return status;

  // Checks every entry and leaves its keyword in text_keys_[i] and its stored value (Latin-1 or
  // UTF-8) in text_values_[i]; utf8[i] says which (iTXt vs tEXt).
  text_keys_.resize(text.size());
  text_values_.resize(text.size());
  std::vector<bool> utf8(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto& [key, value] = text[i];
    status = CheckTextKey(key, &text_keys_[i]);
    if (status.ok()) status = CheckTextValue(key, value);
    if (!status.ok()) return status;
    utf8[i] = !Utf8ToLatin1(value, &text_values_[i]);
    if (utf8[i]) text_values_[i] = value;
  }

  if (WriterFilter(opts.filter) >= 0) {
    writer_text_.resize(text.size());
    for (size_t i = 0; i < text.size(); ++i) writer_text_[i] = {text_keys_[i], text_values_[i], bool(utf8[i])};
    if (opts.compress_level == 1 && opts.strategy == PngStrategy::kRle) {  // the fast preset: ISA-L
      const PngRowFilter filter =
          opts.filter == PngFilter::kPaeth ? ChoosePngRowFilter(image) : PngRowFilter(WriterFilter(opts.filter));
      return writer_.WriteFast(image, filter, writer_text_, out);
    }
    return writer_.Write(image, PngRowFilter(WriterFilter(opts.filter)), opts.compress_level,
                         ZlibStrategy(opts.strategy), writer_text_, out);
  }

  std::vector<png_text> chunks(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    png_text& chunk = chunks[i];
    std::memset(&chunk, 0, sizeof chunk);
    if (!utf8[i]) {
      chunk.compression = PNG_TEXT_COMPRESSION_NONE;  // tEXt
      chunk.text_length = text_values_[i].size();
    } else {
      chunk.compression = PNG_ITXT_COMPRESSION_NONE;  // iTXt, UTF-8
      chunk.itxt_length = text_values_[i].size();
    }
    chunk.key = text_keys_[i].data();
    chunk.text = text_values_[i].data();
  }

  PngJob job;
  job.width = static_cast<png_uint_32>(image.width);
  job.height = static_cast<png_uint_32>(image.height);
  job.bit_depth = image.bit_depth;
  job.color_type = ColorType(image.channels);
  job.swap16 = image.bit_depth == 16 && kLittleEndian;
  job.pixels = image.pixels.data();
  job.row_bytes = image.row_bytes();
  job.level = opts.compress_level;
  job.filters = FilterMask(opts.filter);
  job.strategy = ZlibStrategy(opts.strategy);
  job.texts = chunks.data();
  job.num_texts = static_cast<int>(chunks.size());
  job.sink = out;
  out->clear();
  PngFailure failure;
  if (WritePng(&job, &failure) != 0) return Status(ErrorCode::kEncodeFailed, failure.message);
  return Status::OK();
}

}  // namespace imgsink::daemon
