// encode_bench: single-thread encode throughput on a 256x256 RGB natural-looking image.
// Not a test (no assertions on speed).  Usage: encode_bench [seconds_per_case=2]
// Prints wall-clock and thread-CPU-time rates: on a shared, loaded machine the CPU-time rate is
// the steadier figure.
// `encode_bench --content INDEX` instead compares, per content kind, the fast preset (now),
// the fast preset before ISA-L (paeth, zlib 1 rle) and libpng at PIL's settings with PIL's own
// size and CPU time, from the files tests/bench/png_content.py writes.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

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
  std::printf("%-29s wall %8.1f img/s  cpu %8.1f img/s (%7.3f ms/img)  %7zu bytes\n", name,
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
imgsink::Status FilterImage(const imgsink::daemon::Image& image, Filter filter,
                            std::vector<uint8_t>* out) {
  const size_t row_bytes = image.row_bytes(), bpp = size_t(image.channels);
  out->resize(row_bytes * size_t(image.height));
  const std::vector<uint8_t> zeros(row_bytes);
  for (int y = 0; y < image.height; ++y) {
    const uint8_t* cur = image.pixels.data() + size_t(y) * row_bytes;
    filter(cur, y ? cur - row_bytes : zeros.data(), row_bytes, bpp, out->data() + size_t(y) * row_bytes);
  }
  return imgsink::Status::OK();
}

// Per content kind: mean size / PIL's size and CPU ms per 256x256 pixels (each encode run
// `reps` times), for the fast preset, the fast preset before ISA-L, and libpng at PIL's settings.
int CompareContent(const char* index_path) {
  struct Row {
    double size[3] = {0, 0, 0}, ms[3] = {0, 0, 0}, pil_ms = 0;
    int n = 0;
  };
  std::map<std::string, Row> rows;
  std::vector<std::string> order;
  std::ifstream index(index_path);
  if (!index) {
    std::fprintf(stderr, "cannot read %s\n", index_path);
    return 1;
  }
  imgsink::daemon::PngEncoder png;
  imgsink::daemon::PngWriter writer;
  std::vector<uint8_t> out;
  std::string line;
  while (std::getline(index, line)) {
    std::istringstream fields(line);
    std::string name, path;
    imgsink::daemon::Image image;
    size_t pil_bytes = 0;
    double pil_ms = 0;
    fields >> name >> path >> image.width >> image.height >> image.channels >> pil_bytes >> pil_ms;
    image.bit_depth = 8;
    std::ifstream raw(path, std::ios::binary);
    image.pixels.assign(std::istreambuf_iterator<char>(raw), {});
    if (image.pixels.size() != image.row_bytes() * size_t(image.height)) {
      std::fprintf(stderr, "%s: wrong size\n", path.c_str());
      return 1;
    }
    if (!rows.count(name)) order.push_back(name);
    Row& row = rows[name];
    const double per_256 = 65536.0 / (double(image.width) * image.height);
    const std::function<imgsink::Status()> encoders[3] = {
        [&] { return png.Encode(image, imgsink::PngOptions::Fast(), {}, &out); },
        [&] { return writer.Write(image, imgsink::daemon::PngRowFilter::kPaeth, 1, Z_RLE, {}, &out); },
        [&] { return png.Encode(image, imgsink::PngOptions::Pil(), {}, &out); }};
    for (int e = 0; e < 3; ++e) {
      const int reps = e == 2 ? 1 : 5;
      const double start = ThreadCpuSeconds();
      for (int r = 0; r < reps; ++r) {
        if (!encoders[e]().ok()) return 1;
      }
      row.ms[e] += (ThreadCpuSeconds() - start) / reps * 1e3 * per_256;
      row.size[e] += double(out.size()) / double(pil_bytes);
    }
    row.pil_ms += pil_ms * per_256;
    ++row.n;
  }
  std::printf("%-14s %2s | %-21s | %-21s | %-21s | %s\n", "content", "n", "fast: size/PIL  ms", "before: size/PIL ms",
              "libpng PIL-settings", "PIL ms (fast x)");
  for (const std::string& name : order) {
    const Row& r = rows[name];
    const double n = r.n;
    std::printf("%-14s %2d | %6.3f %8.3f      | %6.3f %8.3f      | %6.3f %8.3f      | %7.3f (%.1fx)\n", name.c_str(), r.n,
                r.size[0] / n, r.ms[0] / n, r.size[1] / n, r.ms[1] / n, r.size[2] / n, r.ms[2] / n, r.pil_ms / n,
                r.pil_ms / r.ms[0]);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 && std::string(argv[1]) == "--content") return CompareContent(argv[2]);
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  const imgsink::daemon::Image image = imgsink::daemon::testing::MakeNaturalImage(256, 256, 3, 8);
  imgsink::daemon::PngEncoder png;
  imgsink::daemon::JpegEncoder jpeg;
  const std::vector<std::pair<std::string, std::string>> no_text;

  const imgsink::PngOptions png6 = imgsink::PngOptions::Pil();
  Bench("PNG level 6, all filters", seconds, [&](auto* out) { return png.Encode(image, png6, no_text, out); });
  imgsink::PngOptions png1;
  png1.compress_level = 1;
  png1.filter = imgsink::PngFilter::kSub;
  png1.strategy = imgsink::PngStrategy::kRle;
  Bench("PNG 1/sub/rle (igzip)", seconds, [&](auto* out) { return png.Encode(image, png1, no_text, out); });
  const imgsink::PngOptions fast = imgsink::PngOptions::Fast();  // level 1, paeth, rle: igzip
  Bench("PNG fast (igzip, default)", seconds, [&](auto* out) { return png.Encode(image, fast, no_text, out); });
  // The fast preset before igzip: paeth on every row, zlib level 1 Z_RLE (same filter loops).
  imgsink::daemon::PngWriter writer;
  Bench("PNG fast before (zlib 1 rle)", seconds, [&](auto* out) {
    return writer.Write(image, imgsink::daemon::PngRowFilter::kPaeth, 1, Z_RLE, {}, out);
  });
  Bench("paeth filter only, ours", seconds, [&](auto* out) {
    return FilterImage(image, [](const uint8_t* c, const uint8_t* p, size_t n, size_t bpp, uint8_t* d) {
      imgsink::daemon::FilterPngRow(imgsink::daemon::PngRowFilter::kPaeth, c, p, n, bpp, d);
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
