// ValidateSave for "tb" saves (daemon/validate/validate.h): the run directory resolves by
// limits.tensorboard_paths (the daemon's mode, --tensorboard-logdir the one root), never by the
// output roots, in both path modes.
#include <catch.hpp>

#include <string>
#include <vector>

#include "daemon/validate/validate.h"

namespace imgsink::daemon {
namespace {

SaveRequest TensorBoardSave(std::string path, std::string cwd) {
  SaveRequest r;
  r.dtype = DType::kFloat32;
  r.shape = {3, 4, 4};
  r.layout = Layout::kCHW;
  r.path = std::move(path);
  r.cwd = std::move(cwd);
  r.mode = OutputMode::kGrid;
  r.render.quantize = Quantize::kTensorBoard;
  r.render.nrow = 8;
  r.render.padding = 0;
  r.tensorboard = TensorBoardImage{"samples", 3, 1.5};
  return r;
}

// The daemon's limits with both an output root and a logdir, in `mode`.
ValidationLimits Limits(PathMode mode) {
  ValidationLimits limits;
  limits.paths.mode = mode;
  limits.paths.roots = {"/srv/out"};
  limits.tensorboard = true;
  limits.tensorboard_paths.mode = mode;
  limits.tensorboard_paths.roots = {"/srv/tb"};
  return limits;
}

Status Plan(const SaveRequest& r, const ValidationLimits& limits, std::string* run) {
  SavePlan plan;
  const Status s = ValidateSave(r, 3 * 4 * 4 * 4, limits, &plan);
  if (s.ok()) {
    REQUIRE(plan.paths.size() == 1);
    *run = plan.paths[0];
  }
  return s;
}

TEST_CASE("a tb save's run directory: roots mode keeps it beneath the logdir") {
  const ValidationLimits limits = Limits(PathMode::kRoots);
  std::string run;
  REQUIRE(Plan(TensorBoardSave("runs/exp", "/home/u/a"), limits, &run).ok());
  CHECK(run == "runs/exp");  // relative to /srv/tb, the cwd ignored
  REQUIRE(Plan(TensorBoardSave("/srv/tb/shared/x", ""), limits, &run).ok());
  CHECK(run == "shared/x");
  for (const char* refused : {"/home/u/a/runs", "/srv/out/runs", "../runs", "runs/../../x"}) {
    INFO(refused);
    const Status s = Plan(TensorBoardSave(refused, "/home/u/a"), limits, &run);
    CHECK(s.code() == ErrorCode::kBadPath);
    CHECK(s.message().find("/srv/tb") != std::string::npos);  // names the allowed root
  }
}

TEST_CASE("a tb save's run directory: caller mode takes it as torch's writer takes log_dir") {
  const ValidationLimits limits = Limits(PathMode::kCaller);
  std::string run;
  REQUIRE(Plan(TensorBoardSave("runs/Dec07_host", "/home/u/a"), limits, &run).ok());
  CHECK(run == "/home/u/a/runs/Dec07_host");
  REQUIRE(Plan(TensorBoardSave("logs/exp", "/home/u/b/deeper"), limits, &run).ok());
  CHECK(run == "/home/u/b/deeper/logs/exp");
  REQUIRE(Plan(TensorBoardSave("./logs//exp", "/home/u/b"), limits, &run).ok());
  CHECK(run == "/home/u/b/logs/exp");
  REQUIRE(Plan(TensorBoardSave("../shared/exp", "/home/u/b"), limits, &run).ok());
  CHECK(run == "/home/u/b/../shared/exp");  // '..' is the kernel's, as for image paths
  REQUIRE(Plan(TensorBoardSave("/data/tb/run1", ""), limits, &run).ok());
  CHECK(run == "/data/tb/run1");
  REQUIRE(Plan(TensorBoardSave("runs/x", ""), limits, &run).ok());
  CHECK(run == "runs/x");  // no cwd sent: beneath the logdir, as a path beneath the first root
  // The rules of every output path still hold.
  CHECK(Plan(TensorBoardSave("logs/", "/home/u"), limits, &run).code() == ErrorCode::kBadPath);
  CHECK(Plan(TensorBoardSave("logs/..", "/home/u"), limits, &run).code() == ErrorCode::kBadPath);
}

TEST_CASE("a tb save needs a logdir; a file save keeps the output roots") {
  ValidationLimits limits = Limits(PathMode::kCaller);
  limits.tensorboard = false;
  std::string run;
  const Status s = Plan(TensorBoardSave("runs/x", "/home/u"), limits, &run);
  CHECK(s.code() == ErrorCode::kBadOption);
  CHECK(s.message().find("--tensorboard-logdir") != std::string::npos);
  SaveRequest file = TensorBoardSave("a.png", "");
  file.tensorboard.reset();
  file.render = RenderOptions();
  REQUIRE(Plan(file, Limits(PathMode::kRoots), &run).ok());
  CHECK(run == "a.png");
  file.path = "/srv/tb/a.png";  // the logdir is no output root
  CHECK(Plan(file, Limits(PathMode::kRoots), &run).code() == ErrorCode::kBadPath);
}

}  // namespace
}  // namespace imgsink::daemon
