// Start-up refusals of issue 12 row 5: a journal directory inside the output root (or the
// reverse), seen through symbolic links and missing directories.
#include <unistd.h>

#include <catch.hpp>
#include <filesystem>

#include "daemon/config/startup_checks.h"
#include "test_util/temp_dir.h"

namespace imgsink::daemon {
namespace {

using testutil::TempDir;

TEST_CASE("ResolvedPath: links and missing tails resolve; PathWithin is per component", "[config]") {
  TempDir dir("checks");
  std::filesystem::create_directories(dir.File("real/sub"));
  REQUIRE(::symlink(dir.File("real").c_str(), dir.File("link").c_str()) == 0);
  const std::string real = ResolvedPath(dir.File("real"));
  CHECK(ResolvedPath(dir.File("link")) == real);
  CHECK(ResolvedPath(dir.File("link/sub/missing/../x")) == real + "/sub/x");
  CHECK(ResolvedPath(dir.File("link/./sub/")) == real + "/sub");
  CHECK(PathWithin(real + "/sub", real));
  CHECK(PathWithin(real, real));
  CHECK_FALSE(PathWithin(real + "x", real));  // a sibling sharing a prefix is not inside
  CHECK(PathWithin("/anything", "/"));
}

TEST_CASE("CheckJournalApart refuses a journal inside the output root and the reverse",
          "[config]") {
  TempDir dir("checks");
  std::filesystem::create_directories(dir.File("out"));
  REQUIRE(::symlink(dir.File("out").c_str(), dir.File("out-link").c_str()) == 0);

  // The attack of row 5: --journal-dir inside --output-root (here through a link, and missing).
  Status s = CheckJournalApart(dir.File("out-link/journal"), dir.File("out"));
  CHECK(s.code() == ErrorCode::kBadOption);
  CHECK_THAT(s.message(), Catch::Contains("within the output root"));
  s = CheckJournalApart(dir.File("out"), dir.File("out"));
  CHECK(s.code() == ErrorCode::kBadOption);
  s = CheckJournalApart(dir.File("journal"), dir.File("journal/out"));
  CHECK(s.code() == ErrorCode::kBadOption);
  CHECK_THAT(s.message(), Catch::Contains("within the journal directory"));
  s = CheckJournalApart(dir.path(), dir.File("out-link/x/.."));
  CHECK(s.code() == ErrorCode::kBadOption);

  CHECK(CheckJournalApart(dir.File("journal"), dir.File("out")).ok());
  CHECK(CheckJournalApart(dir.File("out-journal"), dir.File("out")).ok());
  CHECK(CheckJournalApart(dir.File("journal"), "s3://bucket/prefix").ok());  // not local
}

}  // namespace
}  // namespace imgsink::daemon
