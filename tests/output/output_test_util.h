// Shared helpers for the OutputRoot tests: a scratch tree holding `root/` (the output root) and
// `outside/` (where an escape would land), plus small file utilities.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "daemon/output/output_root.h"

namespace imgsink::testing {

namespace fs = std::filesystem;

class Scratch {
 public:
  explicit Scratch(OutputSync sync = OutputSync::kFilesystem) {
    std::string pattern = (fs::temp_directory_path() / "imgsink-out-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    base_ = pattern;
    fs::create_directories(base_ + "/outside");
    const Status status = OutputRoot::Open(base_ + "/root", sync, &root_);
    INFO(status.ToString());
    REQUIRE(status.ok());
  }
  ~Scratch() {
    std::error_code ignored;
    fs::remove_all(base_, ignored);
  }
  OutputRoot& root() { return *root_; }
  std::string root_dir() const { return base_ + "/root"; }
  std::string outside() const { return base_ + "/outside"; }
  std::string base() const { return base_; }

 private:
  std::string base_;
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

}  // namespace imgsink::testing
