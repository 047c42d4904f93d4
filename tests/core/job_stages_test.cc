// job_stages: RenderEncodeJob renders through one canvas per worker, reused across jobs of any
// shape, and must give exactly the files that rendering every image first (RenderJob) and
// encoding each gives -- whatever the canvas held before (a bigger grid, padding, 16-bit).
#include "daemon/core/job_stages.h"

#include <catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "daemon/encode/encoder.h"
#include "daemon/validate/validate.h"
#include "test_util/temp_dir.h"

namespace imgsink::daemon {
namespace {

struct Case {
  std::vector<int64_t> shape;  // NCHW float32
  OutputMode mode;
  int padding;
  double pad_value;
  int bit_depth;
};

std::shared_ptr<Job> MakeJob(const Case& c, const std::vector<float>& tensor) {
  auto job = std::make_shared<Job>();
  job->request.dtype = DType::kFloat32;
  job->request.shape = c.shape;
  job->request.mode = c.mode;
  job->request.path = c.mode == OutputMode::kGrid ? "g.png" : "e/{index}.png";
  job->request.render.padding = c.padding;
  job->request.render.pad_value = c.pad_value;
  job->request.render.nrow = 3;
  job->request.render.normalize = true;
  job->request.png.bit_depth = c.bit_depth;
  job->request.metadata = {{"step", "3"}};
  REQUIRE(ValidateSave(job->request, tensor.size() * sizeof(float), {}, &job->plan).ok());
  job->tensor = Bytes{reinterpret_cast<const uint8_t*>(tensor.data()), tensor.size() * sizeof(float),
                      nullptr};
  return job;
}

std::vector<float> Tensor(const std::vector<int64_t>& shape, unsigned seed) {
  size_t n = 1;
  for (int64_t d : shape) n *= size_t(d);
  std::vector<float> t(n);
  for (size_t i = 0; i < n; ++i) t[i] = float((i * 2654435761u + seed * 97u) % 1000) / 500.0f - 1.0f;
  return t;
}

TEST_CASE("render + encode through the reused canvas gives the files of render-all-then-encode",
          "[job_stages]") {
  const std::vector<Case> cases = {
      {{5, 3, 40, 30}, OutputMode::kGrid, 4, 0.5, 8},   // big canvas with pad pixels
      {{3, 3, 8, 6}, OutputMode::kEach, 2, 0.0, 8},     // then small ones in the same canvas
      {{7, 1, 20, 20}, OutputMode::kGrid, 0, 0.0, 8},   // no padding, gray repeated, empty cells
      {{2, 3, 16, 16}, OutputMode::kEach, 2, 0.0, 16},  // 16-bit samples
      {{5, 3, 40, 30}, OutputMode::kGrid, 1, 1.0, 8},   // the first shape, another pad value
  };
  unsigned seed = 1;
  for (const Case& c : cases) {
    INFO("case " << seed);
    const std::vector<float> tensor = Tensor(c.shape, seed++);
    std::shared_ptr<Job> reference = MakeJob(c, tensor);
    REQUIRE(RenderJob(reference.get()).ok());
    std::unique_ptr<Encoder> encoder = NewEncoder(OutputFormat::kPng);
    const TextEntries text(reference->request.metadata.begin(), reference->request.metadata.end());
    std::shared_ptr<Job> job = MakeJob(c, tensor);
    uint64_t rendered = 0;
    int encoded = 0;
    REQUIRE(RenderEncodeJob(job.get(), &rendered, [&] { ++encoded; }).ok());
    REQUIRE(job->encoded.size() == reference->images.size());
    CHECK(job->images.empty());
    CHECK(encoded == int(reference->images.size()));
    uint64_t pixels = 0;
    for (size_t i = 0; i < reference->images.size(); ++i) {
      std::vector<uint8_t> expected;
      REQUIRE(encoder->Encode(reference->images[i], reference->request, text, &expected).ok());
      CHECK(job->encoded[i] == expected);
      pixels += reference->images[i].pixels.size();
    }
    CHECK(rendered == pixels);
  }
}

TEST_CASE("an encoder's refusal fails the job and leaves it without files", "[job_stages]") {
  const Case c{{1, 3, 8, 8}, OutputMode::kEach, 2, 0.0, 8};
  const std::vector<float> tensor = Tensor(c.shape, 9);
  std::shared_ptr<Job> job = MakeJob(c, tensor);
  job->request.metadata = {{std::string(80, 'k'), "v"}};  // PNG text keys are 1..79 bytes
  uint64_t rendered = 0;
  const Status s = RenderEncodeJob(job.get(), &rendered, nullptr);
  CHECK_FALSE(s.ok());
  CHECK(job->encoded.empty());
}

TEST_CASE("a write whose commit hands the worker's buffers to another stage leaves them alone",
          "[job_stages]") {
  // Pipeline::CommitAside gives the thread's WorkerBuffers back while the batch commits and
  // takes a set again after: the set it gave may then be rendering another job's big image.
  testutil::TempDir dir("job-stages");
  SinkOptions options;
  options.root = dir.path();
  std::unique_ptr<OutputSink> sink;
  REQUIRE(OpenOutputSink(options, &sink).ok());
  const Case c{{2, 3, 8, 8}, OutputMode::kEach, 2, 0.0, 8};
  const std::vector<float> tensor = Tensor(c.shape, 4);
  std::shared_ptr<Job> job = MakeJob(c, tensor);
  uint64_t rendered = 0;
  REQUIRE(RenderEncodeJob(job.get(), &rendered, nullptr).ok());
  WorkerBuffers given, taken;
  given.canvas.pixels.resize(size_t{16} << 20);  // another stage's canvas, over what is kept
  UseWorkerBuffers(&given);
  std::vector<WrittenFile> written;
  const Status s = WriteImageGroup(*job, 0, sink.get(), nullptr, &written, [&](SinkBatch* batch) {
    UseWorkerBuffers(&taken);  // as CommitAside: `given` now belongs to another stage
    return batch->Commit();
  });
  UseWorkerBuffers(nullptr);
  REQUIRE(s.ok());
  CHECK(written.size() == 2);
  CHECK(given.canvas.pixels.size() == size_t{16} << 20);
}

}  // namespace
}  // namespace imgsink::daemon
