// BenchSpec: the workload every benchmark tool shares -- a tensor file (raw little-endian
// elements, written by run_bench.py) plus the save options it is written with -- parsed from the
// same command-line flags in each tool, so the encoder ceiling, the load generator and the
// client-stall probe measure the very same bytes and settings.
// Thread-safety: plain data and pure functions.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"

namespace imgsink::bench {

// The flags as typed; ToSaveRequest turns them into a request.
struct SpecFlags {
  std::string tensor_path;      // raw elements, C-contiguous in `shape` order
  std::string dtype = "float32";
  std::string shape = "64,3,256,256";
  std::string layout = "NCHW";
  std::string mode = "each";    // grid | each
  std::string format = "png";   // png | jpeg
  std::string value_range = "-1,1";  // "" = no normalize
  int png_level = 6;
  std::string png_filter = "all";
  std::string png_strategy = "default";
  int jpeg_quality = 75;
  std::string jpeg_subsampling = "420";
};

// Registers --tensor, --dtype, --shape, --layout, --mode, --format, --value-range, --png-level,
// --png-filter, --png-strategy, --jpeg-quality, --jpeg-subsampling on `app`.
void AddSpecFlags(CLI::App* app, SpecFlags* flags);

// Builds the save request (path left empty).  Returns kBadOption naming the first bad flag.
Status ToSaveRequest(const SpecFlags& flags, SaveRequest* request);

// Reads the whole file.  Returns kInternal naming the path on failure.
Status ReadTensorFile(const std::string& path, std::vector<uint8_t>* bytes);

// product(shape) * itemsize(dtype).
uint64_t TensorBytes(const SaveRequest& request);

// Images in the tensor (the batch dim of NCHW/NHWC, else 1): what "img/s" counts, in grid mode
// as in each mode.
int64_t ImagesPerRequest(const SaveRequest& request);

// Files one save writes: 1 in grid mode, ImagesPerRequest in each mode.
int64_t FilesPerRequest(const SaveRequest& request);

// "png:L:FILTER:STRATEGY" or "jpeg:Q:SUBSAMPLING" -> the format and its options in *request.
// Returns false on a malformed case.
bool ParseEncodeCase(const std::string& text, SaveRequest* request);

// CPU seconds of the calling thread / of the whole process (user + system).
double ThreadCpuSeconds();
double ProcessCpuSeconds();

}  // namespace imgsink::bench
