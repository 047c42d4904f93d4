// Times RenderGrid on one thread: render_bench [n c h w [dtype [normalize [isa]]]]
// Default: 64x3x256x256 float32, value_range (-1, 1), the best variant the CPU runs (isa:
// baseline or avx2, render_isa.h).  Prints the best and median of 15 runs of
// the thread's CPU time (robust to other processes on a busy machine) and the best wall time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <ctime>
#include <vector>

#include "daemon/render/half.h"
#include "daemon/render/render.h"
#include "daemon/render/render_isa.h"

int main(int argc, char** argv) {
  using namespace imgsink;
  using namespace imgsink::daemon;
  int64_t n = 64, c = 3, h = 256, w = 256;
  if (argc >= 5) {
    n = std::atoll(argv[1]);
    c = std::atoll(argv[2]);
    h = std::atoll(argv[3]);
    w = std::atoll(argv[4]);
  }
  DType dtype = DType::kFloat32;
  if (argc >= 6 && !ParseDType(argv[5], &dtype)) return 2;
  const std::string mode = argc >= 7 ? argv[6] : "value_range";
  if (argc >= 8) {
    const std::string isa = argv[7];
    if (isa != "baseline" && isa != "avx2") return 2;
    if (!SetRenderIsa(isa == "avx2" ? RenderIsa::kAvx2 : RenderIsa::kBaseline)) {
      std::fprintf(stderr, "this CPU cannot run the %s variant\n", isa.c_str());
      return 2;
    }
  }
  const size_t count = size_t(n * c * h * w);
  std::vector<uint8_t> bytes(count * DTypeSize(dtype) + 1);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (size_t i = 0; i < count; ++i) {
    const float f = u(rng);
    if (dtype == DType::kFloat32) std::memcpy(&bytes[1 + 4 * i], &f, 4);
    if (dtype == DType::kFloat64) { const double d = f; std::memcpy(&bytes[1 + 8 * i], &d, 8); }
    if (dtype == DType::kBFloat16 || dtype == DType::kFloat16) {
      const uint16_t s = dtype == DType::kFloat16 ? HalfBitsFromFloat(f) : BFloat16BitsFromFloat(f);
      std::memcpy(&bytes[1 + 2 * i], &s, 2);
    }
    if (dtype == DType::kUint8) bytes[1 + i] = uint8_t(i);
  }
  TensorBatch batch;
  batch.data = bytes.data() + 1;  // unaligned on purpose: the daemon's frames may be
  batch.dtype = dtype;
  batch.n = n; batch.c = c; batch.h = h; batch.w = w;
  RenderOptions opts;
  if (mode == "value_range") { opts.normalize = true; opts.value_range = std::make_pair(-1.0, 1.0); }
  if (mode == "minmax") opts.normalize = true;
  if (mode == "scale_each") { opts.normalize = true; opts.scale_each = true; }
  Image out;
  std::vector<double> cpu_ms, wall_ms;
  auto thread_ms = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
  };
  for (int i = 0; i < 15; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = thread_ms();
    const Status s = RenderGrid(batch, opts, 8, &out);
    const double c1 = thread_ms();
    const auto t1 = std::chrono::steady_clock::now();
    if (!s.ok()) { std::fprintf(stderr, "%s\n", s.ToString().c_str()); return 1; }
    cpu_ms.push_back(c1 - c0);
    wall_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(cpu_ms.begin(), cpu_ms.end());
  std::sort(wall_ms.begin(), wall_ms.end());
  std::printf("%lldx%lldx%lldx%lld %s %s %s: cpu best %.2f ms, median %.2f ms; wall best %.2f ms "
              "(%dx%d canvas)\n",
              (long long)n, (long long)c, (long long)h, (long long)w,
              std::string(DTypeName(dtype)).c_str(), mode.c_str(),
              ActiveRenderIsa() == RenderIsa::kAvx2 ? "avx2" : "baseline", cpu_ms.front(),
              cpu_ms[cpu_ms.size() / 2], wall_ms.front(), out.width, out.height);
  return 0;
}
