// Shared helpers for the OutputRoot tests: a scratch tree holding `root/` (the output root,
// opened through a FaultInjectionEnv) and `outside/` (where an escape would land), the steps of
// a write as the fault tests name them, and small file utilities.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/output/output_root.h"
#include "fault_injection_env.h"

namespace imgsink::daemon::testing {

namespace fs = std::filesystem;

// The steps of a write (OutputRoot::WriteAtomic, WriteGroup), in order.  A group runs kMkdir,
// kOpenTemp and kWrite per file as it is added; at Commit kSyncData for all (OutputSync::kFile:
// fsync of each temp file; kFilesystem: syncfs once per filesystem), then kLink (O_TMPFILE only)
// and kRename per file, then kSyncDir for all (fsync once per directory, or syncfs once per
// filesystem).
enum class WriteStep { kMkdir, kOpenTemp, kWrite, kSyncData, kLink, kRename, kSyncDir };

// Called before `step` on `path` (the file; for kMkdir, kSyncDir and a syncfs the directory);
// returns 0 to let the step run, or the errno it fails with instead.
using WriteFault = std::function<int(WriteStep step, std::string_view path)>;

// Installs `fault` (null: none) on `env` as a FileOpHook: the Env's operations named as write
// steps.  A syncfs is kSyncData until the group renames a file, kSyncDir after.  Operations
// that are no write step (the manifest's, removals) always run.
inline void SetWriteFault(FaultInjectionEnv* env, WriteFault fault) {
  if (!fault) return env->SetFileOpHook(nullptr);
  struct State {
    std::mutex mu;
    bool renamed = false;  // since the last file was written
  };
  auto state = std::make_shared<State>();
  env->SetFileOpHook([state, fault = std::move(fault)](FileOp op, const std::string& path) {
    WriteStep step;
    {
      std::lock_guard<std::mutex> lock(state->mu);
      switch (op) {
        case FileOp::kMkdir: step = WriteStep::kMkdir; break;
        case FileOp::kCreateTemp: step = WriteStep::kOpenTemp; break;
        case FileOp::kWrite: step = WriteStep::kWrite; state->renamed = false; break;
        case FileOp::kSyncFile: step = WriteStep::kSyncData; break;
        case FileOp::kLink: step = WriteStep::kLink; break;
        case FileOp::kRename: step = WriteStep::kRename; state->renamed = true; break;
        case FileOp::kSyncDir: step = WriteStep::kSyncDir; break;
        case FileOp::kSyncFs: step = state->renamed ? WriteStep::kSyncDir : WriteStep::kSyncData; break;
        default: return 0;
      }
    }
    return fault(step, path);
  });
}

class Scratch {
 public:
  explicit Scratch(OutputSync sync = OutputSync::kFilesystem) {
    std::string pattern = (fs::temp_directory_path() / "imgsink-out-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    base_ = pattern;
    fs::create_directories(base_ + "/outside");
    const Status status = OutputRoot::Open(&env_, base_ + "/root", sync, &root_);
    INFO(status.ToString());
    REQUIRE(status.ok());
  }
  ~Scratch() {
    std::error_code ignored;
    fs::remove_all(base_, ignored);
  }
  OutputRoot& root() { return *root_; }
  FaultInjectionEnv& env() { return env_; }
  // Makes the root's later writes consult `fault` (null: none).  REQUIRES: no write running.
  void SetWriteFault(WriteFault fault) { testing::SetWriteFault(&env_, std::move(fault)); }
  std::string root_dir() const { return base_ + "/root"; }
  std::string outside() const { return base_ + "/outside"; }
  std::string base() const { return base_; }

 private:
  std::string base_;
  FaultInjectionEnv env_{DefaultEnv()};
  std::unique_ptr<OutputRoot> root_;
};

inline std::string ReadAll(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

inline void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

// Every path beneath `dir` (not following links), relative, sorted.
inline std::vector<std::string> Tree(const std::string& dir) {
  std::vector<std::string> paths;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    paths.push_back(entry.path().lexically_relative(dir).string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

// Paths beneath `dir` whose file name starts with the temp prefix.
inline std::vector<std::string> TempFiles(const std::string& dir) {
  std::vector<std::string> found;
  for (const std::string& path : Tree(dir)) {
    if (fs::path(path).filename().string().rfind(std::string(kTempPrefix), 0) == 0) found.push_back(path);
  }
  return found;
}

}  // namespace imgsink::daemon::testing
