// Natural-looking test images for push_batch: smooth gradients, a few shapes with hard edges,
// mild noise.  Values are float32 in [-1, 1], like a GAN's tanh output.
#pragma once

#include <cstdint>
#include <vector>

namespace imgsink {
namespace examples {

// Returns n*c*h*w floats in NCHW order, deterministic for a given seed.
// REQUIRES: n, c, h, w >= 1.
std::vector<float> MakeSyntheticBatch(int n, int c, int h, int w, uint64_t seed);

}  // namespace examples
}  // namespace imgsink
