#include "synthetic_batch.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>

namespace imgsink {
namespace examples {
namespace {

struct Shape {
  bool circle;
  float cx, cy, size;     // centre and radius (or half side), in pixels
  float color[4];         // per channel, up to 4 channels are distinct
};

float Clamp(float v) { return std::min(1.0f, std::max(-1.0f, v)); }

void FillImage(float* image, int c, int h, int w, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_real_distribution<float> angle(0.0f, 6.2831853f);
  std::normal_distribution<float> noise(0.0f, 0.03f);
  const float theta = angle(rng);
  const float dx = std::cos(theta), dy = std::sin(theta);
  float from[4], to[4];
  for (int k = 0; k < 4; ++k) {
    from[k] = unit(rng) * 0.8f;
    to[k] = unit(rng) * 0.8f;
  }
  std::uniform_int_distribution<int> shape_count(2, 5);
  std::vector<Shape> shapes(shape_count(rng));
  for (Shape& s : shapes) {
    s.circle = unit(rng) > 0;
    s.cx = (unit(rng) + 1) * 0.5f * w;
    s.cy = (unit(rng) + 1) * 0.5f * h;
    s.size = (0.05f + 0.1f * (unit(rng) + 1)) * std::min(h, w);
    for (float& v : s.color) v = unit(rng);
  }
  const float diag = std::sqrt(float(h) * h + float(w) * w);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      // Position along the gradient direction, in [0, 1].
      const float t = 0.5f + ((x - w / 2.0f) * dx + (y - h / 2.0f) * dy) / diag;
      const Shape* top = nullptr;
      for (const Shape& s : shapes) {
        const float ox = x - s.cx, oy = y - s.cy;
        const bool inside = s.circle ? ox * ox + oy * oy <= s.size * s.size
                                     : std::abs(ox) <= s.size && std::abs(oy) <= s.size;
        if (inside) top = &s;
      }
      for (int k = 0; k < c; ++k) {
        const float base = top ? top->color[k % 4] : from[k % 4] * (1 - t) + to[k % 4] * t;
        image[(size_t(k) * h + y) * w + x] = Clamp(base + noise(rng));
      }
    }
  }
}

}  // namespace

std::vector<float> MakeSyntheticBatch(int n, int c, int h, int w, uint64_t seed) {
  std::vector<float> batch(size_t(n) * c * h * w);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < n; ++i) FillImage(batch.data() + size_t(i) * c * h * w, c, h, w, rng);
  return batch;
}

}  // namespace examples
}  // namespace imgsink
