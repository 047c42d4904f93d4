#include "bench_spec.h"

#include <time.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "imgsink/proto/types.h"

namespace imgsink::bench {
namespace {

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, sep)) parts.push_back(part);
  return parts;
}

bool ParseInt(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  *out = std::strtoll(text.c_str(), &end, 10);
  return *end == '\0';
}

Status Bad(const std::string& what) { return Status(ErrorCode::kBadOption, what); }

}  // namespace

void AddSpecFlags(CLI::App* app, SpecFlags* f) {
  app->add_option("--tensor", f->tensor_path, "raw tensor file (C-contiguous elements)")->required();
  app->add_option("--dtype", f->dtype, "tensor dtype");
  app->add_option("--shape", f->shape, "comma-separated dims, e.g. 64,3,256,256");
  app->add_option("--layout", f->layout, "NCHW, CHW, ...");
  app->add_option("--mode", f->mode, "grid or each");
  app->add_option("--format", f->format, "png or jpeg");
  app->add_option("--value-range", f->value_range, "normalize with LOW,HIGH; empty: no normalize");
  app->add_option("--png-level", f->png_level, "zlib level 0..9");
  app->add_option("--png-filter", f->png_filter, "all none sub up avg paeth");
  app->add_option("--png-strategy", f->png_strategy, "default filtered huffman rle");
  app->add_option("--jpeg-quality", f->jpeg_quality, "1..100");
  app->add_option("--jpeg-subsampling", f->jpeg_subsampling, "444 422 420");
}

Status ToSaveRequest(const SpecFlags& f, SaveRequest* r) {
  *r = SaveRequest();
  if (!ParseDType(f.dtype, &r->dtype)) return Bad("--dtype " + f.dtype);
  if (!ParseLayout(f.layout, &r->layout)) return Bad("--layout " + f.layout);
  for (const std::string& dim : Split(f.shape, ',')) {
    int64_t d = 0;
    if (!ParseInt(dim, &d) || d < 1) return Bad("--shape " + f.shape);
    r->shape.push_back(d);
  }
  if (int(r->shape.size()) != LayoutRank(r->layout)) return Bad("--shape rank vs --layout");
  if (!ParseOutputMode(f.mode, &r->mode)) return Bad("--mode " + f.mode);
  OutputFormat format;
  if (!ParseOutputFormat(f.format, &format)) return Bad("--format " + f.format);
  r->format = format;
  if (!f.value_range.empty()) {
    const std::vector<std::string> ends = Split(f.value_range, ',');
    if (ends.size() != 2) return Bad("--value-range " + f.value_range);
    r->render.normalize = true;
    r->render.value_range = std::make_pair(std::atof(ends[0].c_str()), std::atof(ends[1].c_str()));
  }
  r->png.compress_level = f.png_level;
  if (!ParsePngFilter(f.png_filter, &r->png.filter)) return Bad("--png-filter " + f.png_filter);
  if (!ParsePngStrategy(f.png_strategy, &r->png.strategy)) {
    return Bad("--png-strategy " + f.png_strategy);
  }
  r->jpeg.quality = f.jpeg_quality;
  if (!ParseJpegSubsampling(f.jpeg_subsampling, &r->jpeg.subsampling)) {
    return Bad("--jpeg-subsampling " + f.jpeg_subsampling);
  }
  return Status::OK();
}

Status ReadTensorFile(const std::string& path, std::vector<uint8_t>* bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(ErrorCode::kInternal, "cannot open " + path);
  bytes->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) return Status(ErrorCode::kInternal, "cannot read " + path);
  return Status::OK();
}

uint64_t TensorBytes(const SaveRequest& r) {
  uint64_t n = DTypeSize(r.dtype);
  for (int64_t d : r.shape) n *= uint64_t(d);
  return n;
}

int64_t ImagesPerRequest(const SaveRequest& r) {
  return (r.layout == Layout::kNCHW || r.layout == Layout::kNHWC) ? r.shape[0] : 1;
}

int64_t FilesPerRequest(const SaveRequest& r) {
  return r.mode == OutputMode::kGrid ? 1 : ImagesPerRequest(r);
}

bool ParseEncodeCase(const std::string& text, SaveRequest* r) {
  const std::vector<std::string> p = Split(text, ':');
  int64_t number = 0;
  if (p.size() == 4 && p[0] == "png") {
    if (!ParseInt(p[1], &number) || number < 0 || number > 9) return false;
    r->format = OutputFormat::kPng;
    r->png.compress_level = int(number);
    return ParsePngFilter(p[2], &r->png.filter) && ParsePngStrategy(p[3], &r->png.strategy);
  }
  if (p.size() == 3 && p[0] == "jpeg") {
    if (!ParseInt(p[1], &number) || number < 1 || number > 100) return false;
    r->format = OutputFormat::kJpeg;
    r->jpeg.quality = int(number);
    return ParseJpegSubsampling(p[2], &r->jpeg.subsampling);
  }
  return false;
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

}  // namespace imgsink::bench
