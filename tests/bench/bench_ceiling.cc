// bench_ceiling: the single-core ceilings the daemon is measured against, in-process, one thread.
//
//   bench_ceiling --tensor batch.f32 --shape 64,3,256,256 --mode each
//                 --case png:6:all:default --case jpeg:75:420 [--seconds 2] [--write-dir DIR]
//
// Renders the tensor with the daemon's own RenderJob (fresh buffers each time), then for each
// --case encodes the rendered images with libpng / TurboJPEG (the raw encoder ceiling),
// rotating through them, for --seconds.  With --write-dir it also times the daemon's
// WriteImageGroup (encode + atomic write, durable per group of up to 64 files; --output-sync as
// the daemon's) over those images, and the daemon's whole per-job path, `pipeline`:
// RenderEncodeJob + WriteImageGroup on one thread (the pipeline ceiling).
// Prints one JSON object on stdout.  Rates are counted in tensor images: in grid mode one file
// holds all of them.  CPU-time rates are the steadier figure on a shared machine.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_spec.h"
#include "daemon/core/job.h"
#include "daemon/core/job_stages.h"
#include "daemon/encode/encoder.h"
#include "daemon/output/sink.h"
#include "daemon/validate/validate.h"

namespace {

using Clock = std::chrono::steady_clock;
using imgsink::Status;
namespace bench = imgsink::bench;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

double WallSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "bench_ceiling: %s\n", what.c_str());
  std::exit(1);
}

// A job over `tensor` as the daemon would hold it after validation.
std::unique_ptr<imgsink::daemon::Job> MakeJob(const imgsink::SaveRequest& request,
                                      const std::vector<uint8_t>& tensor) {
  auto job = std::make_unique<imgsink::daemon::Job>();
  job->request = request;
  // Files named as the daemon would name them for the request's format.
  const std::string ext =
      request.format ? std::string(*imgsink::FormatInfoOf(*request.format).extensions.begin())
                     : std::string(".out");
  job->request.path =
      (request.mode == imgsink::OutputMode::kGrid ? "bench/grid" : "bench/img_{index:03d}") + ext;
  imgsink::daemon::ValidationLimits limits{uint64_t{1} << 34, uint64_t{1} << 30, {}};
  Status s = imgsink::daemon::ValidateSave(job->request, tensor.size(), limits, &job->plan);
  if (!s.ok()) Die("invalid workload: " + s.ToString());
  job->tensor = imgsink::daemon::Bytes{tensor.data(), tensor.size(), nullptr};
  return job;
}

nlohmann::json TimeRender(const imgsink::SaveRequest& request, const std::vector<uint8_t>& tensor,
                          int repeats) {
  std::vector<double> cpu_ms, wall_ms;
  for (int r = 0; r < repeats; ++r) {
    auto job = MakeJob(request, tensor);  // fresh pixel buffers: the daemon's per-job allocation
    const auto t0 = Clock::now();
    const double c0 = bench::ThreadCpuSeconds();
    Status s = imgsink::daemon::RenderJob(job.get());
    if (!s.ok()) Die("render: " + s.ToString());
    cpu_ms.push_back(1e3 * (bench::ThreadCpuSeconds() - c0));
    wall_ms.push_back(1e3 * WallSince(t0));
  }
  return {{"cpu_ms_median", Median(cpu_ms)},
          {"cpu_ms_best", *std::min_element(cpu_ms.begin(), cpu_ms.end())},
          {"wall_ms_median", Median(wall_ms)}};
}

nlohmann::json TimeMemcpy(const std::vector<uint8_t>& tensor, int repeats) {
  std::vector<uint8_t> warm(tensor.size(), 1);
  std::vector<double> warm_ms, fresh_ms;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = Clock::now();
    std::memcpy(warm.data(), tensor.data(), tensor.size());
    warm_ms.push_back(1e3 * WallSince(t0));
    t0 = Clock::now();
    std::unique_ptr<uint8_t[]> fresh(new uint8_t[tensor.size()]);  // untouched pages: faults
    std::memcpy(fresh.get(), tensor.data(), tensor.size());
    fresh_ms.push_back(1e3 * WallSince(t0));
    if (fresh[tensor.size() / 2] != warm[tensor.size() / 2]) Die("memcpy mismatch");
  }
  return {{"warm_ms_median", Median(warm_ms)}, {"fresh_ms_median", Median(fresh_ms)}};
}

// Encodes the rendered images in turn for `seconds`; returns the files encoded and the sizes.
nlohmann::json TimeEncode(const imgsink::daemon::Job& job, double seconds) {
  const std::unique_ptr<imgsink::daemon::Encoder> encoder =
      imgsink::daemon::NewEncoder(job.plan.format);
  const imgsink::daemon::TextEntries no_text;
  std::vector<uint8_t> out;
  auto encode = [&](const imgsink::daemon::Image& image) {
    Status s = encoder->Encode(image, job.request, no_text, &out);
    if (!s.ok()) Die("encode: " + s.ToString());
    return out.size();
  };
  double bytes = 0, raw = 0;
  for (const imgsink::daemon::Image& image : job.images) {  // warm-up pass, also the sizes
    bytes += double(encode(image));
    raw += double(image.pixels.size());
  }
  long files = 0;
  const auto t0 = Clock::now();
  const double c0 = bench::ThreadCpuSeconds();
  double wall = 0;
  do {
    encode(job.images[size_t(files) % job.images.size()]);
    ++files;
    wall = WallSince(t0);
  } while (wall < seconds || files < long(job.images.size()));
  const double cpu = bench::ThreadCpuSeconds() - c0;
  const double per_file = double(bench::ImagesPerRequest(job.request)) /
                          double(bench::FilesPerRequest(job.request));
  const double n = double(job.images.size());
  return {{"files", files},
          {"img_per_s_cpu", per_file * double(files) / cpu},
          {"img_per_s_wall", per_file * double(files) / wall},
          {"ms_per_file_cpu", 1e3 * cpu / double(files)},
          {"bytes_per_file", bytes / n},
          {"raw_bytes_per_file", raw / n},
          {"size_ratio", bytes / raw}};
}

// A local sink over `dir` without a manifest, as the daemon's output is.
std::unique_ptr<imgsink::daemon::OutputSink> OpenSink(const std::string& dir,
                                                      imgsink::daemon::OutputSync sync) {
  imgsink::daemon::SinkOptions sink_options;
  sink_options.root = dir;
  sink_options.sync = sync;
  sink_options.manifest = false;
  std::unique_ptr<imgsink::daemon::OutputSink> sink;
  const Status s = imgsink::daemon::OpenOutputSink(sink_options, &sink);
  if (!s.ok()) Die("output root: " + s.ToString());
  return sink;
}

// The daemon's WriteImageGroup (encode + atomic durable write) over every image once.
nlohmann::json TimeWrite(imgsink::daemon::Job* job, const std::string& dir,
                         imgsink::daemon::OutputSync sync) {
  const std::unique_ptr<imgsink::daemon::OutputSink> sink = OpenSink(dir, sync);
  Status s;
  const auto t0 = Clock::now();
  const double c0 = bench::ThreadCpuSeconds();
  std::vector<imgsink::daemon::WrittenFile> written;
  for (size_t i = 0; i < job->images.size(); i += written.size()) {
    s = imgsink::daemon::WriteImageGroup(*job, i, sink.get(), nullptr, &written);
    if (!s.ok()) Die("write: " + s.ToString());
  }
  const double n = double(job->images.size());
  const double wall = WallSince(t0), cpu = bench::ThreadCpuSeconds() - c0;
  return {{"ms_per_file_wall", 1e3 * wall / n}, {"ms_per_file_cpu", 1e3 * cpu / n}};
}

// The daemon's own per-job path on one thread: RenderEncodeJob (render and encode each image
// through the worker's reused canvas) then WriteImageGroup over the files, on a fresh job each
// time (its tensor as the socket hands it over), `repeats` jobs after one warm-up job (a
// daemon worker's steady state: its canvas and encode buffer already faulted in).
nlohmann::json TimePipeline(const imgsink::SaveRequest& request, const std::vector<uint8_t>& tensor,
                            const std::string& dir, imgsink::daemon::OutputSync sync, int repeats) {
  const std::unique_ptr<imgsink::daemon::OutputSink> sink = OpenSink(dir, sync);
  std::vector<double> cpu_ms, wall_ms;
  for (int r = 0; r <= repeats; ++r) {
    auto job = MakeJob(request, tensor);
    Status s;
    const auto t0 = Clock::now();
    const double c0 = bench::ThreadCpuSeconds();
    uint64_t rendered = 0;
    s = imgsink::daemon::RenderEncodeJob(job.get(), &rendered, nullptr);
    if (!s.ok()) Die("render + encode: " + s.ToString());
    std::vector<imgsink::daemon::WrittenFile> written;
    for (size_t i = 0; i < job->file_count(); i += written.size()) {
      s = imgsink::daemon::WriteImageGroup(*job, i, sink.get(), nullptr, &written);
      if (!s.ok()) Die("write: " + s.ToString());
    }
    if (r == 0) continue;  // warm-up
    cpu_ms.push_back(1e3 * (bench::ThreadCpuSeconds() - c0));
    wall_ms.push_back(1e3 * WallSince(t0));
  }
  return {{"ms_per_job_cpu", Median(cpu_ms)}, {"ms_per_job_wall", Median(wall_ms)}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"single-thread render/encode/write ceilings on a benchmark tensor"};
  bench::SpecFlags flags;
  bench::AddSpecFlags(&app, &flags);
  std::vector<std::string> cases;
  double seconds = 2.0;
  int repeats = 5;
  std::string write_dir;
  app.add_option("--case", cases, "png:LEVEL:FILTER:STRATEGY or jpeg:QUALITY:SUBSAMPLING")->required();
  app.add_option("--seconds", seconds, "encode time per case");
  app.add_option("--repeats", repeats, "render and memcpy repetitions");
  app.add_option("--write-dir", write_dir, "also time WriteImageGroup (encode + durable write) here");
  std::string output_sync = "fs";
  app.add_option("--output-sync", output_sync, "fs (syncfs per group) or file (fsync per file)")
      ->check(CLI::IsMember({"fs", "file"}));
  CLI11_PARSE(app, argc, argv);

  imgsink::SaveRequest request;
  Status s = bench::ToSaveRequest(flags, &request);
  if (!s.ok()) Die(s.ToString());
  std::vector<uint8_t> tensor;
  s = bench::ReadTensorFile(flags.tensor_path, &tensor);
  if (!s.ok()) Die(s.ToString());

  nlohmann::json result;
  result["tensor_bytes"] = tensor.size();
  result["images_per_request"] = bench::ImagesPerRequest(request);
  result["files_per_request"] = bench::FilesPerRequest(request);
  result["render"] = TimeRender(request, tensor, repeats);
  result["memcpy"] = TimeMemcpy(tensor, repeats);
  result["cases"] = nlohmann::json::array();
  auto job = MakeJob(request, tensor);
  s = imgsink::daemon::RenderJob(job.get());
  if (!s.ok()) Die("render: " + s.ToString());
  for (const std::string& text : cases) {
    if (!bench::ParseEncodeCase(text, &job->request)) Die("bad --case " + text);
    job->plan.format = *job->request.format;
    nlohmann::json c = TimeEncode(*job, seconds);
    c["case"] = text;
    const auto sync = output_sync == "fs" ? imgsink::daemon::OutputSync::kFilesystem
                                           : imgsink::daemon::OutputSync::kFile;
    if (!write_dir.empty()) {
      c["write"] = TimeWrite(job.get(), write_dir, sync);
      c["pipeline"] = TimePipeline(job->request, tensor, write_dir, sync, repeats);
    }
    result["cases"].push_back(c);
  }
  std::printf("%s\n", result.dump().c_str());
  return 0;
}
