// WriteGroup: the order of a group commit (no file in place before the data sync, the directory
// sync after every rename), what each OutputSync mode syncs, and what a failure at each commit
// step leaves behind.  The fault injector doubles as a recorder: it runs right before each step.
#include <errno.h>

#include <algorithm>
#include <string>
#include <vector>

#include "daemon/output/write_group.h"
#include "output_test_util.h"

namespace imgsink::daemon {
namespace {

using testing::ReadAll;
using testing::Scratch;
using testing::TempFiles;
using testing::WriteStep;
namespace fs = std::filesystem;

const std::vector<std::string> kPaths = {"a/0.png", "a/1.png", "a/2.png", "a/3.png",
                                         "a/4.png", "b/0.png", "b/1.png"};

std::string NewContent(const std::string& path) { return "new:" + path; }

struct Event {
  WriteStep step;
  std::string path;
  int in_place;  // how many of kPaths held their new content when the step was about to run
};

// Records every step; makes `fail_step` fail with `fail_err` for `fail_path` ("" = any path).
class Recorder {
 public:
  Recorder(Scratch* s, WriteStep fail_step = WriteStep::kMkdir, int fail_err = 0, std::string fail_path = "")
      : s_(s), fail_step_(fail_step), fail_err_(fail_err), fail_path_(std::move(fail_path)) {
    s->SetWriteFault([this](WriteStep step, std::string_view path) {
      events.push_back({step, std::string(path), InPlace()});
      const bool hit = step == fail_step_ && (fail_path_.empty() || path == fail_path_);
      return hit ? fail_err_ : 0;
    });
  }
  ~Recorder() { s_->SetWriteFault(nullptr); }

  int InPlace() const {
    int n = 0;
    for (const std::string& p : kPaths) n += ReadAll(s_->root_dir() + "/" + p) == NewContent(p);
    return n;
  }
  std::vector<size_t> Where(WriteStep step) const {
    std::vector<size_t> at;
    for (size_t i = 0; i < events.size(); ++i) {
      if (events[i].step == step) at.push_back(i);
    }
    return at;
  }

  std::vector<Event> events;

 private:
  Scratch* s_;
  WriteStep fail_step_;
  int fail_err_;
  std::string fail_path_;
};

void AddAll(WriteGroup* group) {
  for (const std::string& p : kPaths) {
    const std::string data = NewContent(p);
    const Status status = group->Add(p, data.data(), data.size());
    INFO(status.ToString());
    REQUIRE(status.ok());
  }
}

TEST_CASE("a group syncs all data before any file is in place, directories after all renames",
          "[output][group]") {
  const OutputSync sync = GENERATE(OutputSync::kFilesystem, OutputSync::kFile);
  CAPTURE(int(sync));
  Scratch s(sync);
  REQUIRE(s.root().WriteAtomic("a/0.png", "old", 3).ok());
  Recorder rec(&s);
  WriteGroup group(&s.root());
  AddAll(&group);
  CHECK(group.size() == kPaths.size());
  CHECK(rec.InPlace() == 0);
  CHECK(ReadAll(s.root_dir() + "/a/0.png") == "old");
  rec.events.clear();

  const Status status = group.Commit();
  INFO(status.ToString());
  REQUIRE(status.ok());
  CHECK(group.size() == 0);
  CHECK(rec.InPlace() == int(kPaths.size()));
  CHECK(TempFiles(s.root_dir()).empty());

  const std::vector<size_t> data = rec.Where(WriteStep::kSyncData), renames = rec.Where(WriteStep::kRename),
                            links = rec.Where(WriteStep::kLink), dirs = rec.Where(WriteStep::kSyncDir);
  REQUIRE(!data.empty());
  REQUIRE(renames.size() == kPaths.size());
  REQUIRE(!dirs.empty());
  // No link or rename before the last data sync; every data sync saw nothing in place.
  if (!links.empty()) CHECK(links.front() > data.back());
  CHECK(renames.front() > data.back());
  for (size_t i : data) CHECK(rec.events[i].in_place == 0);
  // The directory syncs come after the last rename, with every file in place, and end the commit.
  CHECK(dirs.front() > renames.back());
  for (size_t i : dirs) CHECK(rec.events[i].in_place == int(kPaths.size()));
  CHECK(dirs.back() == rec.events.size() - 1);
  if (sync == OutputSync::kFilesystem) {  // one syncfs each: a and b are on one filesystem
    CHECK(data.size() == 1);
    CHECK(dirs.size() == 1);
  } else {  // an fsync per file, one per distinct directory
    CHECK(data.size() == kPaths.size());
    CHECK(dirs.size() == 2);
  }
}

TEST_CASE("a failed data sync puts no file in place", "[output][group][fault]") {
  const OutputSync sync = GENERATE(OutputSync::kFilesystem, OutputSync::kFile);
  const int err = GENERATE(EIO, ENOSPC);
  CAPTURE(int(sync), err);
  Scratch s(sync);
  REQUIRE(s.root().WriteAtomic("a/0.png", "old", 3).ok());
  Recorder rec(&s, WriteStep::kSyncData, err, sync == OutputSync::kFile ? "a/3.png" : "");
  WriteGroup group(&s.root());
  AddAll(&group);
  const Status status = group.Commit();
  CHECK(status.code() == ErrorCode::kWriteFailed);
  CHECK(status.message().find(std::error_code(err, std::generic_category()).message()) != std::string::npos);
  CHECK(group.size() == 0);
  CHECK(rec.InPlace() == 0);
  CHECK(rec.Where(WriteStep::kRename).empty());
  CHECK(ReadAll(s.root_dir() + "/a/0.png") == "old");
  CHECK(!fs::exists(s.root_dir() + "/b/1.png"));
  CHECK(TempFiles(s.root_dir()).empty());
}

TEST_CASE("a failed rename keeps the files before it, drops the ones after", "[output][group][fault]") {
  const OutputSync sync = GENERATE(OutputSync::kFilesystem, OutputSync::kFile);
  Scratch s(sync);
  Recorder rec(&s, WriteStep::kRename, EIO, "a/2.png");
  WriteGroup group(&s.root());
  AddAll(&group);
  const Status status = group.Commit();
  CHECK(status.code() == ErrorCode::kWriteFailed);
  CHECK(status.message().find("\"a/2.png\"") != std::string::npos);
  CHECK(ReadAll(s.root_dir() + "/a/1.png") == NewContent("a/1.png"));
  CHECK(rec.InPlace() == 2);
  CHECK(!fs::exists(s.root_dir() + "/a/2.png"));
  CHECK(!fs::exists(s.root_dir() + "/b/0.png"));
  CHECK(rec.Where(WriteStep::kSyncDir).empty());
  CHECK(TempFiles(s.root_dir()).empty());
}

TEST_CASE("a failed directory sync fails the commit with every file in place", "[output][group][fault]") {
  const OutputSync sync = GENERATE(OutputSync::kFilesystem, OutputSync::kFile);
  Scratch s(sync);
  Recorder rec(&s, WriteStep::kSyncDir, EIO);
  WriteGroup group(&s.root());
  AddAll(&group);
  CHECK(group.Commit().code() == ErrorCode::kWriteFailed);
  CHECK(rec.InPlace() == int(kPaths.size()));
  CHECK(TempFiles(s.root_dir()).empty());
}

TEST_CASE("a group dropped without Commit leaves nothing behind", "[output][group]") {
  Scratch s;
  REQUIRE(s.root().WriteAtomic("a/0.png", "old", 3).ok());
  {
    WriteGroup group(&s.root());
    AddAll(&group);
  }
  CHECK(ReadAll(s.root_dir() + "/a/0.png") == "old");
  CHECK(!fs::exists(s.root_dir() + "/a/1.png"));
  CHECK(TempFiles(s.root_dir()).empty());
}

TEST_CASE("a failed Add keeps the files added before it", "[output][group]") {
  Scratch s;
  WriteGroup group(&s.root());
  REQUIRE(group.Add("x/1.png", "1", 1).ok());
  CHECK(group.Add("x/../../escape.png", "2", 1).code() == ErrorCode::kBadPath);
  CHECK(group.Add(std::string("x/") + std::string(kTempPrefix) + "1", "3", 1).code() == ErrorCode::kBadPath);
  REQUIRE(group.Add("x/2.png", "2", 1).ok());
  REQUIRE(group.Commit().ok());
  CHECK(ReadAll(s.root_dir() + "/x/1.png") == "1");
  CHECK(ReadAll(s.root_dir() + "/x/2.png") == "2");
  CHECK(testing::Tree(s.root_dir()) == std::vector<std::string>{"x", "x/1.png", "x/2.png"});
}

TEST_CASE("a group holds at most kMaxFiles; it is reusable after Commit; later data wins",
          "[output][group]") {
  Scratch s;
  WriteGroup group(&s.root());
  for (size_t i = 0; i < WriteGroup::kMaxFiles; ++i) {
    CHECK(!group.full());
    const std::string data = "v1-" + std::to_string(i);
    REQUIRE(group.Add("many/" + std::to_string(i), data.data(), data.size()).ok());
  }
  CHECK(group.full());
  REQUIRE(group.Commit().ok());
  CHECK(!group.full());
  REQUIRE(group.Add("many/0", "v2", 2).ok());
  REQUIRE(group.Add("many/0", "v3", 2).ok());
  REQUIRE(group.Commit().ok());
  CHECK(ReadAll(s.root_dir() + "/many/0") == "v3");
  CHECK(ReadAll(s.root_dir() + "/many/63") == "v1-63");
  CHECK(TempFiles(s.root_dir()).empty());
}

TEST_CASE("power lost at any step of a commit leaves every path with its old or its complete new file",
          "[output][group][crash]") {
  const OutputSync sync = GENERATE(OutputSync::kFilesystem, OutputSync::kFile);
  CAPTURE(int(sync));
  for (int crash_at = 0;; ++crash_at) {
    CAPTURE(crash_at);
    Scratch s(sync);
    for (const std::string& p : kPaths) REQUIRE(s.root().WriteAtomic(p, "old", 3).ok());
    // The process dies before its `crash_at`-th file operation: that one and all later fail.
    int ops = 0;
    s.env().SetFileOpHook([&](testing::FileOp, const std::string&) { return ops++ >= crash_at ? EIO : 0; });
    {
      WriteGroup group(&s.root());
      bool added = true;
      for (const std::string& p : kPaths) {
        const std::string data = NewContent(p);
        added = added && group.Add(p, data.data(), data.size()).ok();
      }
      if (added) (void)group.Commit();
    }
    const bool finished = ops <= crash_at;
    s.env().SetFileOpHook(nullptr);
    REQUIRE(s.env().DropUnsyncedOutput().ok());
    for (const std::string& p : kPaths) {
      const std::string now = ReadAll(s.root_dir() + "/" + p);
      CAPTURE(p, now);
      CHECK((now == "old" || now == NewContent(p)));
    }
    if (finished) {
      for (const std::string& p : kPaths) CHECK(ReadAll(s.root_dir() + "/" + p) == NewContent(p));
      break;
    }
  }
}

}  // namespace
}  // namespace imgsink::daemon
