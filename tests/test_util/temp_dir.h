// TempDir: the one scratch-directory helper of the C++ tests (every test executable can include
// it as "test_util/temp_dir.h").
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace imgsink::testutil {

// A fresh, private (0700) directory under $TMPDIR (or /tmp), removed with everything in it on
// destruction.  Names start with "imgsink-<tag>-" so a leftover one says which tests made it.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "test") {
    std::string pattern =
        (std::filesystem::temp_directory_path() / ("imgsink-" + tag + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // `name` inside the directory.
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  // An ipc:// endpoint whose socket file is `name` inside the directory.
  std::string Endpoint(const std::string& name = "daemon.sock") const {
    return "ipc://" + File(name);
  }

 private:
  std::string path_;
};

}  // namespace imgsink::testutil
