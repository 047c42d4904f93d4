// OutputRoot: writes, parents, modes, atomicity under a concurrent reader, racing writers,
// failures at every step (injected, and a real ENOSPC on a tiny tmpfs when we may mount one),
// and the stale temp file sweep.
#include <errno.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include <atomic>
#include <thread>

#include "output_test_util.h"

namespace imgsink::daemon {
namespace {

using testing::ReadAll;
using testing::Scratch;
using testing::TempFiles;
using testing::WriteStep;
namespace fs = std::filesystem;

Status Write(OutputRoot& root, std::string_view path, const std::string& data) {
  return root.WriteAtomic(path, data.data(), data.size());
}

TEST_CASE("Open creates the root with its parents; refuses a file", "[output]") {
  Scratch s;
  std::unique_ptr<OutputRoot> nested;
  REQUIRE(OutputRoot::Open(s.base() + "/x/y/z", &nested).ok());
  CHECK(fs::is_directory(s.base() + "/x/y/z"));
  CHECK(nested->dir() == s.base() + "/x/y/z");
  testing::WriteAll(s.base() + "/file", "f");
  std::unique_ptr<OutputRoot> bad;
  const Status status = OutputRoot::Open(s.base() + "/file", &bad);
  CHECK(status.code() == ErrorCode::kWriteFailed);
  CHECK(status.message().find("Not a directory") != std::string::npos);
  CHECK(OutputRoot::Open("", &bad).code() == ErrorCode::kWriteFailed);
}

TEST_CASE("WriteAtomic writes, creates parents, overwrites, mode 0644", "[output]") {
  Scratch s;
  const mode_t old_umask = umask(022);
  REQUIRE(Write(s.root(), "a.png", "first").ok());
  REQUIRE(Write(s.root(), "deep/er/and/deeper/b.png", std::string(100000, 'b')).ok());
  REQUIRE(Write(s.root(), "a.png", "second").ok());
  REQUIRE(Write(s.root(), "empty.png", "").ok());
  umask(old_umask);
  CHECK(ReadAll(s.root_dir() + "/a.png") == "second");
  CHECK(ReadAll(s.root_dir() + "/deep/er/and/deeper/b.png") == std::string(100000, 'b'));
  CHECK(fs::file_size(s.root_dir() + "/empty.png") == 0);
  struct stat st;
  REQUIRE(stat((s.root_dir() + "/a.png").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
  REQUIRE(stat((s.root_dir() + "/deep/er").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  CHECK(TempFiles(s.root_dir()).empty());
}

// Issue 12 row 9: what can never be written is kBadPath at once (never retried), not
// kWriteFailed.
TEST_CASE("WriteAtomic refuses reserved names and directories in the way", "[output]") {
  Scratch s;
  CHECK(Write(s.root(), ".imgsink-tmp.0123456789abcdef", "x").code() == ErrorCode::kBadPath);
  CHECK(Write(s.root(), "d/.imgsink-tmp.x", "x").code() == ErrorCode::kBadPath);
  CHECK(Write(s.root(), ".imgsink-tmp.d/ok.png", "x").code() == ErrorCode::kBadPath);  // any component
  CHECK(Write(s.root(), ".imgsink-tmp/ok.png", "x").ok());  // only the prefix with its dot is reserved
  const std::string longest(kMaxNameBytes, 'n');
  CHECK(Write(s.root(), longest, "x").ok());
  Status status = Write(s.root(), longest + "n", "x");
  CHECK(status.code() == ErrorCode::kBadPath);
  CHECK(status.message().find("256 bytes") != std::string::npos);
  CHECK(Write(s.root(), longest + "n/a.png", "x").code() == ErrorCode::kBadPath);
  fs::create_directories(s.root_dir() + "/dir.png");
  status = Write(s.root(), "dir.png", "x");
  CHECK(status.code() == ErrorCode::kBadPath);
  CHECK(status.message().find("\"dir.png\"") != std::string::npos);
  CHECK(status.message().find("is an existing directory") != std::string::npos);
  REQUIRE(Write(s.root(), "file.png", "x").ok());
  status = Write(s.root(), "file.png/inner.png", "x");
  CHECK(status.code() == ErrorCode::kBadPath);
  CHECK(status.message().find("is a file, not a directory") != std::string::npos);
  status = Write(s.root(), "file.png/deeper/inner.png", "x");
  CHECK(status.code() == ErrorCode::kBadPath);
  CHECK(TempFiles(s.root_dir()).empty());
}

TEST_CASE("a reader never sees a partial file while it is replaced", "[output][atomic]") {
  Scratch s;
  // Versions differ in size and content; a torn read would mix them or come up short.
  const std::vector<std::string> versions = {std::string(3 << 20, 'A'), std::string(2 << 20, 'B'),
                                             std::string((3 << 20) + 12345, 'C')};
  REQUIRE(Write(s.root(), "img/big.png", versions[0]).ok());
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, bad_reads{0};
  std::thread reader([&] {
    const std::string path = s.root_dir() + "/img/big.png";
    while (!done.load()) {
      const std::string seen = ReadAll(path);
      if (seen != versions[0] && seen != versions[1] && seen != versions[2]) bad_reads++;
      reads++;
    }
  });
  bool all_ok = true;
  for (int i = 0; i < 60; ++i) all_ok &= Write(s.root(), "img/big.png", versions[i % 3]).ok();
  while (reads.load() < 20) std::this_thread::yield();  // the reader got its share of turns
  done = true;
  reader.join();
  CHECK(all_ok);
  CHECK(bad_reads.load() == 0);
  CHECK(ReadAll(s.root_dir() + "/img/big.png") == versions[59 % 3]);
  CHECK(TempFiles(s.root_dir()).empty());
}

TEST_CASE("racing writers share freshly created parent directories", "[output][atomic]") {
  Scratch s;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const std::string path = "run/" + std::to_string(i % 4) + "/sub/t" + std::to_string(t) + "_" +
                                 std::to_string(i) + ".bin";
        if (!Write(s.root(), path, path).ok()) failures++;
        if (!Write(s.root(), "run/shared.bin", std::string(1000 + t, char('a' + t))).ok()) failures++;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures.load() == 0);
  for (int t = 0; t < 8; ++t) {
    for (int i = 0; i < 40; ++i) {
      const std::string path = "run/" + std::to_string(i % 4) + "/sub/t" + std::to_string(t) + "_" +
                               std::to_string(i) + ".bin";
      CHECK(ReadAll(s.root_dir() + "/" + path) == path);
    }
  }
  const std::string shared = ReadAll(s.root_dir() + "/run/shared.bin");
  REQUIRE(shared.size() >= 1000);
  CHECK(shared == std::string(shared.size(), char('a' + (shared.size() - 1000))));
  CHECK(TempFiles(s.root_dir()).empty());
}

TEST_CASE("a failure at any step reports kWriteFailed and leaves no temp file", "[output][fault]") {
  const WriteStep steps[] = {WriteStep::kMkdir,     WriteStep::kOpenTemp, WriteStep::kWrite, WriteStep::kSyncData,
                             WriteStep::kLink,      WriteStep::kRename,   WriteStep::kSyncDir};
  const OutputSync sync = GENERATE(OutputSync::kFilesystem, OutputSync::kFile);
  for (WriteStep failing : steps) {
    for (int err : {ENOSPC, EIO, EDQUOT, EACCES}) {
      Scratch s(sync);
      REQUIRE(Write(s.root(), "old/x.png", "old").ok());
      bool reached = false;
      s.SetWriteFault([&](WriteStep step, std::string_view) {
        if (step != failing) return 0;
        reached = true;
        return err;
      });
      // A new directory so that kMkdir runs; the existing file for the others.
      const std::string path = failing == WriteStep::kMkdir ? "new/dir/x.png" : "old/x.png";
      const Status status = Write(s.root(), path, "new content");
      CAPTURE(int(sync), int(failing), err, status.ToString());
      CHECK(TempFiles(s.root_dir()).empty());
      if (!reached) {  // kLink runs only where O_TMPFILE works
        CHECK(failing == WriteStep::kLink);
        CHECK(status.ok());
        continue;
      }
      CHECK(status.code() == ErrorCode::kWriteFailed);
      CHECK(status.message().find("\"" + path + "\"") != std::string::npos);
      CHECK(status.message().find(std::error_code(err, std::generic_category()).message()) != std::string::npos);
      // Only a failed directory sync comes after the rename.
      CHECK(ReadAll(s.root_dir() + "/old/x.png") == (failing == WriteStep::kSyncDir ? "new content" : "old"));
      s.SetWriteFault(nullptr);
      CHECK(Write(s.root(), path, "retry").ok());  // nothing stuck behind
      CHECK(ReadAll(s.root_dir() + "/" + path) == "retry");
    }
  }
}

// In a child with its own mount namespace, fills a 64 KiB tmpfs.  Exit codes: 0 ok, 77 cannot
// mount here (not root, no CAP_SYS_ADMIN, seccomp), others a numbered failed check.
int FullDiskChild(const std::string& mount_point) {
  if (unshare(CLONE_NEWNS) != 0) return 77;
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 77;
  if (mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=64k,mode=0755") != 0) return 77;
  std::unique_ptr<OutputRoot> root;
  if (!OutputRoot::Open(mount_point + "/root", &root).ok()) return 1;
  if (!Write(*root, "a/small.png", "small").ok()) return 2;
  const Status status = Write(*root, "a/big.png", std::string(1 << 20, 'x'));
  if (status.code() != ErrorCode::kWriteFailed) return 3;
  if (status.message().find("No space left on device") == std::string::npos) return 4;
  if (!TempFiles(mount_point).empty()) return 5;
  if (fs::exists(mount_point + "/root/a/big.png")) return 6;
  if (!Write(*root, "a/small.png", "still works").ok()) return 7;  // the space came back
  if (ReadAll(mount_point + "/root/a/small.png") != "still works") return 8;
  return 0;
}

TEST_CASE("a real full disk (tmpfs) gives kWriteFailed and cleans up", "[output][fault]") {
  Scratch s;
  const std::string mount_point = s.base() + "/tiny";
  fs::create_directories(mount_point);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) _exit(FullDiskChild(mount_point));
  int wait_status = 0;
  REQUIRE(waitpid(pid, &wait_status, 0) == pid);
  REQUIRE(WIFEXITED(wait_status));
  const int code = WEXITSTATUS(wait_status);
  if (code == 77) {
    WARN("cannot mount a tmpfs here; the injected ENOSPC test above stands in");
    return;
  }
  CHECK(code == 0);
}

TEST_CASE("RemoveStaleTempFiles removes leftovers to max_depth without following links",
          "[output][stale]") {
  Scratch s;
  const std::string r = s.root_dir();
  fs::create_directories(r + "/a/b/c");
  for (const std::string dir : {"", "/a", "/a/b", "/a/b/c"}) {
    testing::WriteAll(r + dir + "/.imgsink-tmp.0123456789abcdef", "partial");
    testing::WriteAll(r + dir + "/keep.png", "keep");
  }
  testing::WriteAll(r + "/imgsink-tmp.not-hidden", "keep");
  fs::create_directories(r + "/.imgsink-tmp.dir");  // not a regular file: kept
  testing::WriteAll(s.outside() + "/.imgsink-tmp.outside", "outside");
  fs::create_directory_symlink(s.outside(), r + "/link-to-outside");
  fs::create_symlink(s.outside() + "/.imgsink-tmp.outside", r + "/.imgsink-tmp.symlink");
  size_t removed = 0;
  REQUIRE(s.root().RemoveStaleTempFiles(2, &removed).ok());
  CHECK(removed == 3);  // root, a, a/b; a/b/c is deeper than 2
  CHECK(TempFiles(r) == std::vector<std::string>{".imgsink-tmp.dir", ".imgsink-tmp.symlink",
                                                 "a/b/c/.imgsink-tmp.0123456789abcdef"});
  CHECK(fs::exists(s.outside() + "/.imgsink-tmp.outside"));
  CHECK(ReadAll(r + "/a/b/c/keep.png") == "keep");
  CHECK(fs::exists(r + "/imgsink-tmp.not-hidden"));
  removed = 0;
  REQUIRE(s.root().RemoveStaleTempFiles(64, &removed).ok());
  CHECK(removed == 1);
  removed = 0;
  REQUIRE(s.root().RemoveStaleTempFiles(64, &removed).ok());
  CHECK(removed == 0);
}

TEST_CASE("RemoveStaleTempFiles leaves files a crash mid-write would leave: named temps only",
          "[output][stale]") {
  Scratch s;
  // What a crash between link and rename leaves: a complete temp file next to the target.
  REQUIRE(Write(s.root(), "x/y.png", "v1").ok());
  testing::WriteAll(s.root_dir() + "/x/.imgsink-tmp.fedcba9876543210", "v2");
  size_t removed = 0;
  REQUIRE(s.root().RemoveStaleTempFiles(8, &removed).ok());
  CHECK(removed == 1);
  CHECK(ReadAll(s.root_dir() + "/x/y.png") == "v1");
  CHECK(TempFiles(s.root_dir()).empty());
}

}  // namespace
}  // namespace imgsink::daemon
