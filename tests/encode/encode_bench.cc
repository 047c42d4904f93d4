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
  for (int quality : {75, 90}) {
    imgsink::JpegOptions opts;
    opts.quality = quality;
    opts.subsampling = imgsink::JpegSubsampling::k420;
    const std::string name = "JPEG q" + std::to_string(quality) + " 4:2:0";
    Bench(name.c_str(), seconds, [&](auto* out) { return jpeg.Encode(image, opts, no_text, out); });
  }
  return 0;
}
