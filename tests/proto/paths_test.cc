// CheckRelativePath, ExpandTemplate and TemplateUses; ExpandTemplate is checked against Python's
// str.format, the reference the protocol names.
#include "imgsink/proto/paths.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch.hpp>

namespace imgsink {
namespace {

using IntVars = std::map<std::string, int64_t>;
using StringVars = std::map<std::string, std::string>;

std::string Expand(std::string_view tmpl, const IntVars& ints, const StringVars& strings = {}) {
  std::string out;
  const Status status = ExpandTemplate(tmpl, strings, ints, &out);
  INFO(status.ToString());
  REQUIRE(status.ok());
  return out;
}

ErrorCode ExpandCode(std::string_view tmpl, const IntVars& ints, const StringVars& strings = {}) {
  std::string out;
  return ExpandTemplate(tmpl, strings, ints, &out).code();
}

TEST_CASE("CheckRelativePath accepts plain relative paths", "[path]") {
  for (const std::string path : {"a", "a/b/c.png", "..a", "a..", "...", ".hidden/x", "a/.b", "a b/c d.png",
                                 "\xE7\x8C\xAB/\xFF\xFE.png", "x/{index}.png"}) {
    CAPTURE(path);
    CHECK(CheckRelativePath(path).ok());
  }
  CHECK(CheckRelativePath(std::string(4096, 'a')).ok());
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "d/";
  CHECK(CheckRelativePath(deep + "f").ok());
}

TEST_CASE("CheckRelativePath refuses each broken rule with kBadPath and says which", "[path]") {
  const std::pair<std::string, std::string> cases[] = {
      {"", "empty"},
      {"/abs/x.png", "absolute"},
      {"/", "absolute"},
      {"a/", "ends with '/'"},
      {"a//b", "empty component"},
      {".", "'.' component"},
      {"./a", "'.' component"},
      {"a/./b", "'.' component"},
      {"a/.", "'.' component"},
      {"..", "'..' component"},
      {"../x", "'..' component"},
      {"a/../../x", "'..' component"},
      {"a/..", "'..' component"},
      {std::string("a\0b", 3), "NUL"},
      {std::string(4097, 'a'), "4097 bytes"},
  };
  for (const auto& [path, reason] : cases) {
    const Status status = CheckRelativePath(path);
    CAPTURE(path, status.message());
    CHECK(status.code() == ErrorCode::kBadPath);
    CHECK(status.message().find(reason) != std::string::npos);
  }
  // The message stays printable and short whatever the path holds.
  const Status status = CheckRelativePath(std::string("a\0\n\xFF", 4) + std::string(5000, 'z'));
  CHECK(status.message().find('\0') == std::string::npos);
  CHECK(status.message().size() < 400);
}

TEST_CASE("ExpandTemplate: fields, specs and literal braces", "[path]") {
  CHECK(Expand("img_{index}.png", {{"index", 7}}) == "img_7.png");
  CHECK(Expand("img_{index:d}.png", {{"index", 7}}) == "img_7.png");
  CHECK(Expand("img_{index:04d}.png", {{"index", 7}}) == "img_0007.png");
  CHECK(Expand("{index:01d}", {{"index", 0}}) == "0");
  CHECK(Expand("{index:03d}", {{"index", 12345}}) == "12345");
  CHECK(Expand("{index:03d}", {{"index", -7}}) == "-07");
  CHECK(Expand("{index:09d}", {{"index", 42}}) == "000000042");
  CHECK(Expand("{index}", {{"index", INT64_MIN}}) == "-9223372036854775808");
  CHECK(Expand("{index:05d}", {{"index", INT64_MAX}}) == "9223372036854775807");
  CHECK(Expand("{{index}}/{index}", {{"index", 3}}) == "{index}/3");
  CHECK(Expand("a}}b{{c", {}) == "a}b{c");
  CHECK(Expand("{{{index}}}", {{"index", 5}}) == "{5}");
  CHECK(Expand("run/{rank}/s{step:06d}_{index:03d}.png", {{"step", 1200}, {"index", 9}}, {{"rank", "r0"}}) ==
        "run/r0/s001200_009.png");
  CHECK(Expand("{name:}", {}, {{"name", "x"}}) == "x");
  CHECK(Expand("{_x1}", {{"_x1", 1}}) == "1");
  CHECK(Expand("plain/path.png", {}) == "plain/path.png");
}

TEST_CASE("ExpandTemplate refuses what it does not understand with kBadPath", "[path]") {
  const IntVars ints = {{"index", 1}};
  const StringVars strings = {{"rank", "r0"}, {"dots", ".."}, {"empty", ""}, {"slash", "/"}};
  for (const std::string tmpl :
       {"{}", "{0}", "{idx}", "{index:4d}", "{index:010d}", "{index:00d}", "{index:x}", "{index:04}", "{index:+d}",
        "{index:_d}", "{index!r}", "{index.real}", "{index[0]}", "{ index}", "{index", "index}", "{index}}", "{a{b}}",
        "{index:0{w}d}", "{rank:d}", "x/{dots}", "{empty}", "a/{slash}", "x/{index}/", "{dots}"}) {
    std::string out;
    const Status status = ExpandTemplate(tmpl, strings, ints, &out);
    CAPTURE(tmpl, status.message());
    CHECK(status.code() == ErrorCode::kBadPath);
  }
  // Absolute, '..', '.' and '//' expansions name files: the daemon's path mode judges them
  // (ResolveOutputPath), not the template rule.
  for (const std::string tmpl : {"{dots}/x", "a/{empty}/b", "{slash}x", "../{index}"}) {
    std::string out;
    CAPTURE(tmpl);
    CHECK(ExpandTemplate(tmpl, strings, ints, &out).ok());
  }
  CHECK(ExpandCode("{index}", {{"index", 1}}, {{"index", "x"}}) == ErrorCode::kBadPath);  // ambiguous
}

TEST_CASE("ExpandTemplate agrees with Python's str.format", "[path][python]") {
  const std::vector<std::string> templates = {
      "{index}",        "{index:d}",  "{index:01d}",  "{index:04d}", "{index:09d}",      "a/{index:03d}.png",
      "{{{index}}}",    "}}{index}",  "{{index}}",    "{index}{index}", "{{{{{index:02d}}}}}"};
  const std::vector<int64_t> indices = {0, 7, -7, 123, 99999, -1234567890123LL, INT64_MAX};
  const std::string dir = std::filesystem::temp_directory_path() / ("imgsink-tmpl-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream script(dir + "/t.py");
    script << "import sys\n"
              "for line in open(sys.argv[1], encoding='utf-8'):\n"
              "    tmpl, index = line.rstrip('\\n').split('\\t')\n"
              "    print(tmpl.format(index=int(index)))\n";
    std::ofstream cases(dir + "/cases");
    for (const auto& t : templates)
      for (int64_t i : indices) cases << t << '\t' << i << '\n';
  }
  const std::string command = std::string(IMGSINK_PYTHON) + " " + dir + "/t.py " + dir + "/cases > " + dir + "/out";
  const int rc = std::system(command.c_str());
  std::ifstream results(dir + "/out");
  std::vector<std::string> lines;
  for (std::string line; std::getline(results, line);) lines.push_back(line);
  std::filesystem::remove_all(dir);
  REQUIRE(rc == 0);
  REQUIRE(lines.size() == templates.size() * indices.size());
  size_t k = 0;
  for (const auto& t : templates) {
    for (int64_t i : indices) {
      CAPTURE(t, i);
      CHECK(Expand(t, {{"index", i}}) == lines[k++]);
    }
  }
}

TEST_CASE("TemplateUses finds fields, not literal text", "[path]") {
  CHECK(TemplateUses("{index}", "index"));
  CHECK(TemplateUses("a/{index:04d}.png", "index"));
  CHECK(TemplateUses("{{{index}}}", "index"));
  CHECK(TemplateUses("{rank}/{index}", "rank"));
  CHECK_FALSE(TemplateUses("{{index}}", "index"));
  CHECK_FALSE(TemplateUses("a/{rank}.png", "index"));
  CHECK_FALSE(TemplateUses("{indexes}", "index"));
  CHECK_FALSE(TemplateUses("{ind}", "index"));
  CHECK_FALSE(TemplateUses("index.png", "index"));
  CHECK_FALSE(TemplateUses("} {index}", "index"));  // malformed before the field
}

TEST_CASE("QuoteForMessage keeps UTF-8, escapes control bytes and cuts long input", "[path]") {
  CHECK(QuoteForMessage("a/b.png") == "\"a/b.png\"");
  CHECK(QuoteForMessage("\xE7\x8C\xAB") == "\"\xE7\x8C\xAB\"");
  CHECK(QuoteForMessage(std::string("a\0\n\"", 4)) == "\"a\\x00\\x0a\\x22\"");
  CHECK(QuoteForMessage("\xFF" "a") == "\"\\xffa\"");
  CHECK(QuoteForMessage(std::string(300, 'x')) == "\"" + std::string(200, 'x') + "...\"");
}

TEST_CASE("ParseMetaInt reads exactly the int64 decimal integers", "[path]") {
  int64_t v = 0;
  const std::pair<std::string, int64_t> ints[] = {
      {"0", 0}, {"-0", 0}, {"7", 7}, {"007", 7}, {"-12", -12},
      {"9223372036854775807", INT64_MAX}, {"-9223372036854775808", INT64_MIN},
      {std::string(40, '0') + "5", 5}};
  for (const auto& [text, value] : ints) {
    CAPTURE(text);
    REQUIRE(ParseMetaInt(text, &v));
    CHECK(v == value);
  }
  for (const std::string text : {"", "-", "+5", " 5", "5 ", "1e3", "0x10", "--1", "1-",
                                 "9223372036854775808", "-9223372036854775809",
                                 "99999999999999999999", "18446744073709551616"}) {
    CAPTURE(text);
    CHECK_FALSE(ParseMetaInt(text, &v));
  }
}

TEST_CASE("ExpandSavePaths gives one path per file, in index order", "[path]") {
  std::vector<std::string> paths;
  REQUIRE(ExpandSavePaths("r{rank}/{index:03d}.png", OutputMode::kEach, {{"rank", "2"}}, 1000, &paths).ok());
  REQUIRE(paths.size() == 1000);
  CHECK(paths[0] == "r2/000.png");
  CHECK(paths[999] == "r2/999.png");
  REQUIRE(ExpandSavePaths("{index}.png", OutputMode::kEach, {}, 1, &paths).ok());
  CHECK(paths == std::vector<std::string>{"0.png"});  // what was there before is replaced
  REQUIRE(ExpandSavePaths("g{{{x}}}.png", OutputMode::kGrid, {{"x", "a"}}, 1, &paths).ok());
  CHECK(paths == std::vector<std::string>{"g{a}.png"});
}

TEST_CASE("ExpandSavePaths agrees with ExpandTemplate for every file", "[path]") {
  const std::map<std::string, std::string> meta = {{"rank", "3"}, {"step", "-12"}, {"tag", "x{y}"}};
  for (const std::string tmpl : {"{index}", "a/{index:03d}/{index}.png", "{{{index:01d}}}",
                                 "{tag}/{step:05d}_{index:09d}_{rank}.png", "{index:d}{index:}"}) {
    std::vector<std::string> paths;
    REQUIRE(ExpandSavePaths(tmpl, OutputMode::kEach, meta, 1201, &paths).ok());
    REQUIRE(paths.size() == 1201);
    for (int64_t i = 0; i < 1201; ++i) {
      CAPTURE(tmpl, i);
      CHECK(paths[size_t(i)] == Expand(tmpl, {{"rank", 3}, {"step", -12}, {"index", i}}, {{"tag", "x{y}"}}));
    }
  }
}

TEST_CASE("ExpandSavePaths says why a save path is refused", "[path]") {
  std::vector<std::string> paths;
  const Status no_index = ExpandSavePaths("s/x.png", OutputMode::kEach, {}, 2, &paths);
  CHECK(no_index.code() == ErrorCode::kBadPath);
  CHECK(no_index.message().find("{index}") != std::string::npos);
  const Status clash = ExpandSavePaths("{index}.png", OutputMode::kEach, {{"index", "1"}}, 1, &paths);
  CHECK(clash.code() == ErrorCode::kBadPath);
  CHECK(clash.message().find("meta key 'index'") != std::string::npos);
  const Status grid = ExpandSavePaths("{index}.png", OutputMode::kGrid, {}, 1, &paths);
  CHECK(grid.code() == ErrorCode::kBadPath);
  CHECK(grid.message().find("unknown field {index}") != std::string::npos);
  CHECK(CheckSavePath("{index}.png", OutputMode::kGrid, {{"index", "4"}}).ok());  // meta in grid
  CHECK(CheckSavePath("{index}/{tag}", OutputMode::kEach, {{"tag", ".."}}).code() == ErrorCode::kBadPath);
  CHECK(CheckSavePath("{tag}/{index}.png", OutputMode::kEach, {{"tag", ".."}}).ok());  // the mode's to judge
}

}  // namespace
}  // namespace imgsink
