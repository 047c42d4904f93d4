// OutputRoot refuses every path that would leave the root or go through a symbolic link, and
// writes nothing anywhere when it does.
#include <catch.hpp>

#include "output_test_util.h"

namespace imgsink::daemon {
namespace {

using testing::Scratch;
using testing::Tree;
namespace fs = std::filesystem;

Status Write(Scratch& s, std::string_view path, const std::string& data = "payload") {
  return s.root().WriteAtomic(path, data.data(), data.size());
}

TEST_CASE("lexical escapes are refused before touching the disk", "[output][escape]") {
  Scratch s;
  const std::string paths[] = {"../x", "a/../../x", "/abs", "/tmp/x", "a//b", "a/./b", "./a", "a/", "..", "",
                               std::string("a\0/../../x", 10), "a/.."};
  for (const std::string& path : paths) {
    CAPTURE(path);
    CHECK(Write(s, path).code() == ErrorCode::kBadPath);
  }
  CHECK(Tree(s.root_dir()).empty());
  CHECK(Tree(s.outside()).empty());
  CHECK(Tree(s.base()) == std::vector<std::string>{"outside", "root"});
}

TEST_CASE("a symlink to a directory outside the root is refused", "[output][escape]") {
  Scratch s;
  fs::create_directory_symlink(s.outside(), s.root_dir() + "/out");
  fs::create_directory_symlink("/tmp", s.root_dir() + "/tmp");
  for (const std::string path : {"out/x.png", "out/new/deeper/x.png", "tmp/imgsink-escape-probe.png"}) {
    const Status status = Write(s, path);
    CAPTURE(path, status.message());
    CHECK(status.code() == ErrorCode::kBadPath);
    CHECK(status.message().find("symbolic link") != std::string::npos);
  }
  CHECK(Tree(s.outside()).empty());
  CHECK_FALSE(fs::exists("/tmp/imgsink-escape-probe.png"));
}

TEST_CASE("a symlink to a directory inside the root is refused too", "[output][escape]") {
  Scratch s;
  fs::create_directories(s.root_dir() + "/real");
  fs::create_directory_symlink("real", s.root_dir() + "/alias");
  const Status status = Write(s, "alias/x.png");
  CHECK(status.code() == ErrorCode::kBadPath);
  CHECK(status.message().find("\"alias\" is a symbolic link") != std::string::npos);
  CHECK(Tree(s.root_dir() + "/real").empty());
  CHECK(Write(s, "real/x.png").ok());  // the real directory itself is fine
}

TEST_CASE("a symlinked parent deeper in the path is refused and nothing is created beyond it",
          "[output][escape]") {
  Scratch s;
  fs::create_directories(s.root_dir() + "/a");
  fs::create_directory_symlink(s.outside(), s.root_dir() + "/a/b");
  const Status status = Write(s, "a/b/c/d/x.png");
  CHECK(status.code() == ErrorCode::kBadPath);
  CHECK(status.message().find("\"a/b\" is a symbolic link") != std::string::npos);
  CHECK(Tree(s.outside()).empty());  // no "c" was made through the link
  // A dangling link is refused the same way, without creating its target.
  fs::create_directory_symlink(s.base() + "/nowhere", s.root_dir() + "/dangling");
  CHECK(Write(s, "dangling/x.png").code() == ErrorCode::kBadPath);
  CHECK_FALSE(fs::exists(s.base() + "/nowhere"));
}

TEST_CASE("a symlink at the target name is refused, not followed or replaced", "[output][escape]") {
  Scratch s;
  testing::WriteAll(s.outside() + "/victim", "precious");
  fs::create_symlink(s.outside() + "/victim", s.root_dir() + "/target.png");
  fs::create_directories(s.root_dir() + "/d");
  fs::create_symlink("../inside.png", s.root_dir() + "/d/t.png");
  testing::WriteAll(s.root_dir() + "/inside.png", "inside");
  for (const std::string path : {"target.png", "d/t.png"}) {
    const Status status = Write(s, path, "attack");
    CAPTURE(path, status.message());
    CHECK(status.code() == ErrorCode::kBadPath);
    CHECK(status.message().find("symbolic link") != std::string::npos);
  }
  CHECK(testing::ReadAll(s.outside() + "/victim") == "precious");
  CHECK(testing::ReadAll(s.root_dir() + "/inside.png") == "inside");
  CHECK(fs::is_symlink(s.root_dir() + "/target.png"));
  CHECK(testing::TempFiles(s.root_dir()).empty());
}

TEST_CASE("the root itself may be reached through a symlink; paths beneath it may not", "[output][escape]") {
  Scratch s;
  // Operators may point the daemon at a symlinked directory: only paths *beneath* the root are
  // held to the no-link rule.
  fs::create_directory_symlink(s.root_dir(), s.base() + "/root-link");
  std::unique_ptr<OutputRoot> via_link;
  REQUIRE(OutputRoot::Open(s.base() + "/root-link", &via_link).ok());
  REQUIRE(via_link->WriteAtomic("x.png", "x", 1).ok());
  CHECK(testing::ReadAll(s.root_dir() + "/x.png") == "x");
  // The root fd stays on the directory that was opened even if the name is moved away.
  fs::rename(s.root_dir(), s.base() + "/moved");
  REQUIRE(via_link->WriteAtomic("y.png", "y", 1).ok());
  CHECK(testing::ReadAll(s.base() + "/moved/y.png") == "y");
  fs::rename(s.base() + "/moved", s.root_dir());
}

}  // namespace
}  // namespace imgsink::daemon
