// Helpers for the encoder tests and benchmark: synthetic images, independent decoders, files.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "daemon/render/image.h"
#include "test_util/temp_dir.h"

namespace imgsink::daemon::testing {

// A "natural-looking" image: smooth gradients, a few hard-edged shapes and mild noise, so that
// compressors behave as on real samples (pure noise would not).  Deterministic in `seed`.
Image MakeNaturalImage(int width, int height, int channels, int bit_depth, uint32_t seed = 1);

// What a PNG decoded back to: its pixels plus its text chunks (key Latin-1, value as stored:
// Latin-1 for tEXt, UTF-8 for iTXt), and the chunk kind ("tEXt"/"iTXt") per entry.
struct DecodedPng {
  Image image;
  std::vector<std::pair<std::string, std::string>> text;
  std::vector<std::string> text_kind;
};

// Decodes with libpng's low-level read API (16-bit samples returned host-order).
// Returns false and sets *error on failure.
bool DecodePngLowLevel(const std::vector<uint8_t>& png, DecodedPng* out, std::string* error);

// Decodes an 8-bit PNG with libpng's simplified API into `channels` channels.
bool DecodePngSimplified(const std::vector<uint8_t>& png, int channels, Image* out, std::string* error);

// Decodes a JPEG with TurboJPEG into 1 (gray) or 3 (RGB) channels as stored.
bool DecodeJpeg(const std::vector<uint8_t>& jpeg, Image* out, std::string* error);

using TempDir = imgsink::testutil::TempDir;

void WriteFile(const std::string& path, const void* data, size_t size);
std::vector<uint8_t> ReadFile(const std::string& path);

// Runs `command` through /bin/sh; sets *output to its stdout+stderr.  Returns the exit status
// (-1 if it could not run or did not exit normally).
int RunCommand(const std::string& command, std::string* output);

// Largest absolute per-sample difference of two same-shaped 8-bit images (-1 if shapes differ).
int MaxAbsDiff(const Image& a, const Image& b);

}  // namespace imgsink::daemon::testing
