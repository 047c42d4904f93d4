// The POSIX Env's Directory side and IoError (the journal's path side is covered by
// tests/journal, the confinement of output paths by tests/output/output_root_escape_test.cc).
#include <errno.h>
#include <stdlib.h>

#include <catch.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "daemon/env/env.h"
#include "daemon/env/io_error.h"
#include "fault_injection_env.h"

namespace imgsink::daemon {
namespace {

namespace fs = std::filesystem;

class TempTree {
 public:
  TempTree() {
    std::string pattern = (fs::temp_directory_path() / "imgsink-env-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempTree() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

TEST_CASE("IoError: the code, the context and the errno's text", "[env]") {
  const Status s = IoError(ErrorCode::kInternal, "chmod /x", ENOENT);
  CHECK(s.code() == ErrorCode::kInternal);
  CHECK(s.message() == "chmod /x: " + std::error_code(ENOENT, std::generic_category()).message());
  CHECK(IoError("write f", EIO).code() == ErrorCode::kWriteFailed);
}

TEST_CASE("Directory: open beneath, create, list, append, rename, remove", "[env]") {
  TempTree t;
  std::unique_ptr<Directory> root;
  REQUIRE(DefaultEnv()->OpenDirectory(t.path() + "/root", &root).ok());
  CHECK(root->path().empty());

  std::unique_ptr<Directory> sub;
  CHECK(root->OpenDirectory("a/b", /*create=*/false, &sub).code() == ErrorCode::kWriteFailed);
  REQUIRE(root->OpenDirectory("a/b", /*create=*/true, &sub).ok());
  CHECK(sub->path() == "a/b");
  CHECK(sub->filesystem_id() == root->filesystem_id());

  std::unique_ptr<WritableFile> file;
  bool created = false;
  REQUIRE(sub->NewAppendableFile("log", &file, &created).ok());
  CHECK(created);
  REQUIRE(file->Append(ByteSpan{reinterpret_cast<const uint8_t*>("ab"), 2}).ok());
  REQUIRE(file->Sync().ok());
  REQUIRE(file->Close().ok());
  REQUIRE(sub->NewAppendableFile("log", &file, &created).ok());
  CHECK(!created);
  REQUIRE(file->Append(ByteSpan{reinterpret_cast<const uint8_t*>("c"), 1}).ok());
  REQUIRE(file->Close().ok());
  CHECK(ReadAll(t.path() + "/root/a/b/log") == "abc");

  std::unique_ptr<TempFile> temp;
  REQUIRE(sub->NewTempFile("final", ".tmp.1", &temp).ok());
  CHECK(temp->target() == "final");
  REQUIRE(temp->Append("data", 4).ok());
  REQUIRE(temp->Sync().ok());
  if (temp->name().empty()) {  // O_TMPFILE: invisible until linked
    bool taken = true;
    REQUIRE(sub->NewAppendableFile(".tmp.1", &file, &created).ok());  // the name is taken now
    CHECK(!temp->Link(".tmp.1", &taken).ok());
    CHECK(taken);
    REQUIRE(temp->Link(".tmp.2", &taken).ok());
    CHECK(!taken);
  }
  REQUIRE(sub->Rename(temp->name(), "final").ok());
  REQUIRE(sub->Sync().ok());
  REQUIRE(sub->SyncFilesystem().ok());
  CHECK(ReadAll(t.path() + "/root/a/b/final") == "data");

  std::vector<std::pair<std::string, EntryType>> entries;
  REQUIRE(root->List(&entries).ok());
  CHECK(entries == std::vector<std::pair<std::string, EntryType>>{{"a", EntryType::kDirectory}});
  EntryType type = EntryType::kOther;
  REQUIRE(sub->Stat("nothing", &type).ok());
  CHECK(type == EntryType::kMissing);
  REQUIRE(sub->Stat("final", &type).ok());
  CHECK(type == EntryType::kRegular);
  REQUIRE(sub->Remove("final").ok());
  CHECK(sub->Remove("final").ok());  // already gone is fine
  CHECK(!fs::exists(t.path() + "/root/a/b/final"));
}

TEST_CASE("Directory: a symbolic link is never followed, not even to a directory inside", "[env]") {
  TempTree t;
  fs::create_directories(t.path() + "/root/real");
  fs::create_directory_symlink(t.path() + "/root/real", t.path() + "/root/alias");
  std::unique_ptr<Directory> root;
  REQUIRE(DefaultEnv()->OpenDirectory(t.path() + "/root", &root).ok());
  std::unique_ptr<Directory> sub;
  const Status s = root->OpenDirectory("alias/x", /*create=*/true, &sub);
  CHECK(s.code() == ErrorCode::kBadPath);
  CHECK(s.message().find("\"alias\" is a symbolic link") != std::string::npos);
  CHECK(!fs::exists(t.path() + "/root/real/x"));
  EntryType type = EntryType::kOther;
  REQUIRE(root->Stat("alias", &type).ok());
  CHECK(type == EntryType::kSymlink);
  std::unique_ptr<WritableFile> file;
  bool created = false;
  fs::create_symlink(t.path() + "/elsewhere", t.path() + "/root/link");
  CHECK(root->NewAppendableFile("link", &file, &created).code() == ErrorCode::kWriteFailed);
  CHECK(!fs::exists(t.path() + "/elsewhere"));
}

TEST_CASE("EnvWrapper forwards; FaultInjectionEnv fails the operations its hook picks", "[env]") {
  TempTree t;
  testing::FaultInjectionEnv env(DefaultEnv());
  CHECK(env.target() == DefaultEnv());
  REQUIRE(env.CreateDir(t.path() + "/j").ok());  // a path operation, forwarded
  std::unique_ptr<Directory> root;
  REQUIRE(env.OpenDirectory(t.path() + "/root", &root).ok());
  std::vector<std::string> seen;
  env.SetFileOpHook([&](testing::FileOp op, const std::string& path) {
    seen.push_back(std::string(testing::FileOpName(op)) + " " + path);
    return op == testing::FileOp::kSyncFs ? ENOSPC : 0;
  });
  std::unique_ptr<Directory> sub;
  REQUIRE(root->OpenDirectory("d", true, &sub).ok());
  REQUIRE(sub->Sync().ok());
  const Status s = sub->SyncFilesystem();
  CHECK(s.code() == ErrorCode::kWriteFailed);
  CHECK(s.message().find(std::error_code(ENOSPC, std::generic_category()).message()) != std::string::npos);
  CHECK(seen == std::vector<std::string>{"mkdir d", "fsync-dir d", "syncfs d"});
}

}  // namespace
}  // namespace imgsink::daemon
