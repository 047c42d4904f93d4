#include "encode_test_util.h"

#include <png.h>
#include <sys/wait.h>
#include <turbojpeg.h>

#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace imgsink::daemon::testing {

Image MakeNaturalImage(int width, int height, int channels, int bit_depth, uint32_t seed) {
  Image image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  image.bit_depth = bit_depth;
  image.pixels.resize(image.row_bytes() * size_t(height));
  const double max_value = bit_depth == 16 ? 65535.0 : 255.0;
  uint32_t rng = seed * 2654435761u + 12345u;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const double u = double(x) / width, v = double(y) / height;
      const bool in_disc = (u - 0.35) * (u - 0.35) + (v - 0.4) * (v - 0.4) < 0.04;
      const bool in_box = u > 0.6 && u < 0.85 && v > 0.55 && v < 0.9;
      for (int c = 0; c < channels; ++c) {
        double value;
        if ((channels == 2 && c == 1) || (channels == 4 && c == 3)) {
          value = 1.0 - 0.8 * std::hypot(u - 0.5, v - 0.5);  // smooth alpha
        } else {
          value = 0.5 + 0.25 * std::sin(6.0 * u + 2.0 * c) + 0.2 * std::cos(4.0 * v - c);
          if (in_disc) value = 0.15 + 0.3 * c;
          if (in_box) value = 0.9 - 0.25 * c;
        }
        rng = rng * 1664525u + 1013904223u;
        value += (double((rng >> 24) & 7) - 3.5) / 255.0;  // mild noise: +-3.5 levels of 255
        value = std::min(1.0, std::max(0.0, value));
        const size_t index = (size_t(y) * width + x) * channels + c;
        if (bit_depth == 16) {
          const uint16_t sample = static_cast<uint16_t>(std::lround(value * max_value));
          std::memcpy(&image.pixels[index * 2], &sample, 2);
        } else {
          image.pixels[index] = static_cast<uint8_t>(std::lround(value * max_value));
        }
      }
    }
  }
  return image;
}

namespace {

// ---- Low-level libpng read, C style (no C++ objects in the setjmp frame) ------------------

struct MemReader {
  const uint8_t* data;
  size_t size;
  size_t pos;
};

struct ReadResult {
  png_uint_32 width, height;
  int bit_depth, channels;
  uint8_t* pixels;  // malloc'd
  png_textp text;   // points into the png struct; copied out before destroy
  int num_text;
  char error[256];
};

void ReadError(png_structp png, png_const_charp message) {
  std::snprintf(static_cast<ReadResult*>(png_get_error_ptr(png))->error, 256, "%s", message);
  png_longjmp(png, 1);
}

void ReadData(png_structp png, png_bytep out, png_size_t length) {
  auto* reader = static_cast<MemReader*>(png_get_io_ptr(png));
  if (reader->size - reader->pos < length) png_error(png, "read past end");
  std::memcpy(out, reader->data + reader->pos, length);
  reader->pos += length;
}

// Calls `copy_text(result, ctx)` while the text is still alive.  Returns 0 on success.
int ReadPngC(MemReader* reader, ReadResult* result, void (*copy_text)(ReadResult*, void*), void* ctx) {
  result->pixels = nullptr;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, result, ReadError, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    std::free(result->pixels);
    result->pixels = nullptr;
    return 1;
  }
  png_set_read_fn(png, reader, ReadData);
  png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  png_read_info(png, info);
  result->width = png_get_image_width(png, info);
  result->height = png_get_image_height(png, info);
  result->bit_depth = png_get_bit_depth(png, info);
  result->channels = png_get_channels(png, info);
  if (result->bit_depth == 16 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) png_set_swap(png);
  png_read_update_info(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  result->pixels = static_cast<uint8_t*>(std::malloc(row_bytes * result->height));
  for (png_uint_32 y = 0; y < result->height; ++y) png_read_row(png, result->pixels + y * row_bytes, nullptr);
  png_read_end(png, info);
  result->num_text = png_get_text(png, info, &result->text, nullptr);
  copy_text(result, ctx);
  png_destroy_read_struct(&png, &info, nullptr);
  return 0;
}

void CopyText(ReadResult* result, void* ctx) {
  auto* out = static_cast<DecodedPng*>(ctx);
  for (int i = 0; i < result->num_text; ++i) {
    const png_text& t = result->text[i];
    const bool itxt = t.compression >= PNG_ITXT_COMPRESSION_NONE;
    const size_t length = itxt ? t.itxt_length : t.text_length;
    out->text.emplace_back(t.key, std::string(t.text, length));
    out->text_kind.push_back(itxt ? "iTXt" : (t.compression == PNG_TEXT_COMPRESSION_NONE ? "tEXt" : "zTXt"));
  }
}

}  // namespace

bool DecodePngLowLevel(const std::vector<uint8_t>& png, DecodedPng* out, std::string* error) {
  MemReader reader = {png.data(), png.size(), 0};
  ReadResult result;
  *out = DecodedPng();
  if (ReadPngC(&reader, &result, CopyText, out) != 0) {
    *error = result.error;
    return false;
  }
  out->image.width = int(result.width);
  out->image.height = int(result.height);
  out->image.channels = result.channels;
  out->image.bit_depth = result.bit_depth;
  out->image.pixels.assign(result.pixels, result.pixels + out->image.row_bytes() * result.height);
  std::free(result.pixels);
  return true;
}

bool DecodePngSimplified(const std::vector<uint8_t>& png, int channels, Image* out, std::string* error) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, png.data(), png.size())) {
    *error = image.message;
    return false;
  }
  static const png_uint_32 kFormats[] = {PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB, PNG_FORMAT_RGBA};
  image.format = kFormats[channels - 1];
  out->width = int(image.width);
  out->height = int(image.height);
  out->channels = channels;
  out->bit_depth = 8;
  out->pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out->pixels.data(), 0, nullptr)) {
    *error = image.message;
    png_image_free(&image);
    return false;
  }
  return true;
}

bool DecodeJpeg(const std::vector<uint8_t>& jpeg, Image* out, std::string* error) {
  tjhandle tj = tjInitDecompress();
  int width, height, subsampling, colorspace;
  bool ok = tjDecompressHeader3(tj, jpeg.data(), jpeg.size(), &width, &height, &subsampling, &colorspace) == 0;
  if (ok) {
    out->width = width;
    out->height = height;
    out->channels = colorspace == TJCS_GRAY ? 1 : 3;
    out->bit_depth = 8;
    out->pixels.resize(out->row_bytes() * size_t(height));
    ok = tjDecompress2(tj, jpeg.data(), jpeg.size(), out->pixels.data(), width, 0, height,
                       out->channels == 1 ? TJPF_GRAY : TJPF_RGB, TJFLAG_ACCURATEDCT) == 0;
  }
  if (!ok) *error = tjGetErrorStr2(tj);
  tjDestroy(tj);
  return ok;
}

void WriteFile(const std::string& path, const void* data, size_t size) {
  std::ofstream file(path, std::ios::binary);
  file.write(static_cast<const char*>(data), std::streamsize(size));
  if (!file) throw std::runtime_error("cannot write " + path);
}

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

int RunCommand(const std::string& command, std::string* output) {
  output->clear();
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char chunk[4096];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, pipe)) > 0) output->append(chunk, n);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int MaxAbsDiff(const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels ||
      a.pixels.size() != b.pixels.size()) {
    return -1;
  }
  int max = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) max = std::max(max, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return max;
}

}  // namespace imgsink::daemon::testing
