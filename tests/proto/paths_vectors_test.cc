// proto/vectors/paths.json against the one C++ implementation of the path rules
// (imgsink/proto/paths.h); the Python client runs the same file (tests/python/test_paths.py).
#include <catch.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "imgsink/proto/paths.h"
#include "message_json.h"

namespace imgsink {
namespace {

using test::Json;

Json LoadPathVectors() {
  std::ifstream in(IMGSINK_SOURCE_DIR "/proto/vectors/paths.json");
  REQUIRE(in.good());
  Json doc = Json::parse(in);
  REQUIRE(doc.at("version") == 1);
  REQUIRE_FALSE(doc.at("relative_paths").empty());
  REQUIRE_FALSE(doc.at("templates").empty());
  REQUIRE_FALSE(doc.at("resolve").empty());
  return doc;
}

TEST_CASE("path vectors: the relative-path rule", "[proto][paths][vectors]") {
  const Json doc = LoadPathVectors();
  size_t accepted = 0, refused = 0;
  for (const Json& v : doc.at("relative_paths")) {
    const std::string path = v.at("path").get<std::string>();
    const Status s = CheckRelativePath(path);
    CAPTURE(v.at("name").get<std::string>(), s.ToString());
    if (v.contains("ok")) {
      ++accepted;
      CHECK(s.ok());
    } else {
      ++refused;
      REQUIRE(v.at("error") == "bad_path");
      CHECK(s.code() == ErrorCode::kBadPath);
    }
  }
  CHECK(accepted > 0);
  CHECK(refused > 0);
}

TEST_CASE("path vectors: save path templates expand or are refused", "[proto][paths][vectors]") {
  const Json doc = LoadPathVectors();
  for (const Json& v : doc.at("templates")) {
    const std::string tmpl = v.at("path").get<std::string>();
    const OutputMode mode = v.at("mode") == "each" ? OutputMode::kEach : OutputMode::kGrid;
    const auto meta = v.at("meta").get<std::map<std::string, std::string>>();
    const int64_t files = v.at("files").get<int64_t>();
    std::vector<std::string> paths;
    const Status s = ExpandSavePaths(tmpl, mode, meta, files, &paths);
    CAPTURE(v.at("name").get<std::string>(), s.ToString());
    if (v.contains("paths")) {
      REQUIRE(s.ok());
      CHECK(paths == v.at("paths").get<std::vector<std::string>>());
      CHECK(CheckSavePath(tmpl, mode, meta).ok());
    } else {
      REQUIRE(v.at("error") == "bad_path");
      CHECK(s.code() == ErrorCode::kBadPath);
      CHECK(s.message().find("path") != std::string::npos);
      // What the clients check before sending sees every defect of the first file.
      if (files == 1) CHECK(CheckSavePath(tmpl, mode, meta).code() == ErrorCode::kBadPath);
    }
  }
}

TEST_CASE("path vectors: the daemon's path modes resolve or refuse", "[proto][paths][vectors]") {
  const Json doc = LoadPathVectors();
  size_t roots = 0, caller = 0, refused = 0;
  for (const Json& v : doc.at("resolve")) {
    PathRules rules;
    rules.mode = v.at("mode") == "caller" ? PathMode::kCaller : PathMode::kRoots;
    (rules.mode == PathMode::kCaller ? caller : roots)++;
    rules.roots = v.at("roots").get<std::vector<std::string>>();
    const std::string cwd = v.at("cwd").is_null() ? std::string() : v.at("cwd").get<std::string>();
    std::string out;
    const Status s = ResolveOutputPath(rules, cwd, v.at("path").get<std::string>(), &out);
    CAPTURE(v.at("name").get<std::string>(), s.ToString(), out);
    if (v.contains("result")) {
      REQUIRE(s.ok());
      CHECK(out == v.at("result").get<std::string>());
    } else {
      ++refused;
      CHECK(s.code() == ErrorCode::kBadPath);
      // A confined daemon's refusal names the roots a client may write beneath.
      if (v.at("why") == "outside" || v.at("why") == "dotdot") {
        for (const std::string& root : rules.roots) CHECK(s.message().find(root) != std::string::npos);
      }
    }
  }
  CHECK(roots > 0);
  CHECK(caller > 0);
  CHECK(refused > 0);
}

TEST_CASE("path vectors: make_path_vectors.py reproduces paths.json", "[proto][paths][python]") {
  const std::string cmd = std::string(IMGSINK_PYTHON) +
                          " " IMGSINK_SOURCE_DIR "/proto/vectors/make_path_vectors.py --check";
  CHECK(std::system(cmd.c_str()) == 0);
}

}  // namespace
}  // namespace imgsink
