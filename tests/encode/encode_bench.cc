// encode_bench: single-thread encode throughput on a 256x256 RGB natural-looking image.
// Not a test (no assertions on speed).  Usage: encode_bench [seconds_per_case=2]
// Prints wall-clock and thread-CPU-time rates: on a shared, loaded machine the CPU-time rate is
// the steadier figure.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "daemon/encode/jpeg_encoder.h"
#include "daemon/encode/png_encoder.h"
#include "daemon/encode/png_writer.h"
#include "encode_test_util.h"

namespace {

using Clock = std::chrono::steady_clock;

double ThreadCpuSeconds() {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

void Bench(const char* name, double seconds, const std::function<imgsink::Status(std::vector<uint8_t>*)>& encode) {
  std::vector<uint8_t> out;
  imgsink::Status status = encode(&out);  // warm-up; also sizes the buffers
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", name, status.ToString().c_str());
    std::exit(1);
  }
  long iterations = 0;
  const auto start = Clock::now();
  const double cpu_start = ThreadCpuSeconds();
  double elapsed = 0;
  do {
    encode(&out);
    ++iterations;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < seconds);
  const double cpu = ThreadCpuSeconds() - cpu_start;
  std::printf("%-26s wall %8.1f img/s  cpu %8.1f img/s (%7.3f ms/img)  %7zu bytes\n", name,
              iterations / elapsed, iterations / cpu, 1e3 * cpu / iterations, out.size());
}

// The same paeth filter as png_writer.cc, kept scalar: the yardstick that shows FilterPngRow is
// vectorized (expect ~10x; near 1x means png_writer.cc lost its vectorizer flags).
// (GCC's optimize attribute, clang's loop pragma: each compiler rejects the other's.)
#if defined(__clang__)
__attribute__((noinline))
#else
__attribute__((noinline, optimize("no-tree-vectorize")))
#endif
void ScalarPaeth(const uint8_t* cur, const uint8_t* prev, size_t n, size_t bpp, uint8_t* dst) {
#if defined(__clang__)
#pragma clang loop vectorize(disable) interleave(disable)
#endif
  for (size_t i = 0; i < n; ++i) {
    const int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
    const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
    dst[i] = uint8_t(cur[i] - ((pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c)));
  }
}

// Filters every row of `image` (8-bit) into *out with `filter`; Status for Bench's signature.
template <class Filter>
imgsink::Status FilterImage(const imgsink::Image& image, Filter filter, std::vector<uint8_t>* out) {
  const size_t row_bytes = image.row_bytes(), bpp = size_t(image.channels);
  out->resize(row_bytes * size_t(image.height));
  const std::vector<uint8_t> zeros(row_bytes);
  for (int y = 0; y < image.height; ++y) {
    const uint8_t* cur = image.pixels.data() + size_t(y) * row_bytes;
    filter(cur, y ? cur - row_bytes : zeros.data(), row_bytes, bpp, out->data() + size_t(y) * row_bytes);
  }
  return imgsink::Status::OK();
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  const imgsink::Image image = imgsink::testing::MakeNaturalImage(256, 256, 3, 8);
  imgsink::PngEncoder png;
  imgsink::JpegEncoder jpeg;
  const std::vector<std::pair<std::string, std::string>> no_text;

  const imgsink::PngOptions png6 = imgsink::PngOptions::Pil();
  Bench("PNG level 6, all filters", seconds, [&](auto* out) { return png.Encode(image, png6, no_text, out); });
  imgsink::PngOptions png1;
  png1.compress_level = 1;
  png1.filter = imgsink::PngFilter::kSub;
  png1.strategy = imgsink::PngStrategy::kRle;
  Bench("PNG level 1, SUB, Z_RLE", seconds, [&](auto* out) { return png.Encode(image, png1, no_text, out); });
  const imgsink::PngOptions fast = imgsink::PngOptions::Fast();  // level 1, PAETH, Z_RLE
  Bench("PNG level 1, PAETH, Z_RLE", seconds, [&](auto* out) { return png.Encode(image, fast, no_text, out); });
  Bench("paeth filter only, ours", seconds, [&](auto* out) {
    return FilterImage(image, [](const uint8_t* c, const uint8_t* p, size_t n, size_t bpp, uint8_t* d) {
      imgsink::FilterPngRow(imgsink::PngRowFilter::kPaeth, c, p, n, bpp, d);
    }, out);
  });
  Bench("paeth filter only, scalar", seconds, [&](auto* out) { return FilterImage(image, ScalarPaeth, out); });
  for (int quality : {75, 90}) {
    imgsink::JpegOptions opts;
    opts.quality = quality;
    opts.subsampling = imgsink::JpegSubsampling::k420;
    const std::string name = "JPEG q" + std::to_string(quality) + " 4:2:0";
    Bench(name.c_str(), seconds, [&](auto* out) { return jpeg.Encode(image, opts, no_text, out); });
  }
  return 0;
}
