// formats.h: the format table is complete and consistent, and names, inference and the shared
// vectors (proto/vectors/vectors.json "formats") all agree with it.
#include "imgsink/proto/formats.h"

#include <catch.hpp>
#include <cctype>
#include <fstream>
#include <set>
#include <string>

#include "message_json.h"

namespace imgsink {
namespace {

using test::Json;

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

TEST_CASE("formats: every OutputFormat has its row, in enum order", "[proto][formats]") {
  REQUIRE(kOutputFormatCount >= 2);
  for (size_t i = 0; i < kOutputFormatCount; ++i) {
    const auto f = static_cast<OutputFormat>(i);
    INFO("format " << i);
    CHECK(IsOutputFormat(f));
    CHECK(FormatIndex(f) == i);
    CHECK(FormatInfoOf(f).format == f);
  }
  // One past the table is no format, so nothing indexes past the table's end.
  CHECK_FALSE(IsOutputFormat(static_cast<OutputFormat>(kOutputFormatCount)));
  CHECK(OutputFormatName(static_cast<OutputFormat>(kOutputFormatCount)).empty());
}

TEST_CASE("formats: rows are well formed", "[proto][formats]") {
  std::set<std::string_view> names, extensions, labels;
  for (const FormatInfo& f : kFormatTable) {
    INFO("format " << f.name);
    CHECK(!f.name.empty());
    CHECK(names.insert(f.name).second);
    for (std::string_view alias : f.aliases) CHECK(names.insert(alias).second);
    CHECK(labels.insert(f.metrics_label).second);
    CHECK(f.extensions.size >= 1);
    for (std::string_view ext : f.extensions) {
      INFO("extension " << ext);
      CHECK(ext.size() >= 2);
      CHECK(ext[0] == '.');
      CHECK(ext.find('/') == std::string_view::npos);
      CHECK(ext.find('.', 1) == std::string_view::npos);
      for (char c : ext) CHECK_FALSE(std::isupper(static_cast<unsigned char>(c)));
      CHECK(extensions.insert(ext).second);  // one format per extension
    }
    CHECK((f.max_bit_depth == 8 || f.max_bit_depth == 16));
    CHECK(f.max_dimension >= 1);
    CHECK(f.max_dimension <= 0x7fffffff);  // Image's int width and height
  }
}

TEST_CASE("formats: names and aliases parse to their row", "[proto][formats]") {
  for (const FormatInfo& f : kFormatTable) {
    INFO("format " << f.name);
    CHECK(OutputFormatName(f.format) == f.name);
    OutputFormat parsed{};
    REQUIRE(ParseOutputFormat(f.name, &parsed));
    CHECK(parsed == f.format);
    CHECK(FindFormatByName(f.name) == &f);
    for (std::string_view alias : f.aliases) {
      REQUIRE(ParseOutputFormat(alias, &parsed));
      CHECK(parsed == f.format);
    }
    CHECK_FALSE(ParseOutputFormat(Upper(f.name), &parsed));  // wire names are case-sensitive
  }
  CHECK(FindFormatByName("gif") == nullptr);
  CHECK(FindFormatByName("") == nullptr);
}

TEST_CASE("formats: every extension infers its format, in any case and directory",
          "[proto][formats]") {
  for (const FormatInfo& f : kFormatTable) {
    for (std::string_view ext : f.extensions) {
      for (const std::string& path :
           {"a" + std::string(ext), "dir.x/b" + Upper(ext), "r{rank}/{index:04d}" + std::string(ext)}) {
        INFO("path " << path);
        OutputFormat got{};
        REQUIRE(InferOutputFormat(path, &got));
        CHECK(got == f.format);
        CHECK(KnownExtensions().find(std::string(ext)) != std::string::npos);
      }
      OutputFormat unused{};
      CHECK_FALSE(InferOutputFormat(std::string(ext), &unused));  // a dotfile has no extension
      CHECK_FALSE(InferOutputFormat("a" + std::string(ext) + "/b", &unused));
    }
  }
}

TEST_CASE("formats: ResolveOutputFormat prefers the explicit format", "[proto][formats]") {
  OutputFormat got{};
  REQUIRE(ResolveOutputFormat(OutputFormat::kJpeg, "a.png", &got));
  CHECK(got == OutputFormat::kJpeg);
  REQUIRE(ResolveOutputFormat(OutputFormat::kPng, "no_extension", &got));
  CHECK(got == OutputFormat::kPng);
  REQUIRE(ResolveOutputFormat(std::nullopt, "a.jpeg", &got));
  CHECK(got == OutputFormat::kJpeg);
  CHECK_FALSE(ResolveOutputFormat(std::nullopt, "a.gif", &got));
}

Json LoadFormats() {
  std::ifstream in(IMGSINK_SOURCE_DIR "/proto/vectors/vectors.json");
  REQUIRE(in.good());
  return Json::parse(in).at("formats");
}

TEST_CASE("formats: the table is the vectors' table", "[proto][formats][vectors]") {
  const Json table = LoadFormats().at("table");
  REQUIRE(table.size() == kOutputFormatCount);
  for (size_t i = 0; i < kOutputFormatCount; ++i) {
    const FormatInfo& f = kFormatTable[i];
    const Json& row = table[i];
    INFO("format " << f.name);
    CHECK(row.at("name") == std::string(f.name));
    CHECK(row.at("aliases") == Json(std::vector<std::string>(f.aliases.begin(), f.aliases.end())));
    CHECK(row.at("extensions") ==
          Json(std::vector<std::string>(f.extensions.begin(), f.extensions.end())));
    CHECK(row.at("alpha") == f.alpha);
    CHECK(row.at("max_bit_depth") == f.max_bit_depth);
    CHECK(row.at("max_dimension") == f.max_dimension);
  }
}

TEST_CASE("formats: InferOutputFormat answers every inference vector", "[proto][formats][vectors]") {
  const Json cases = LoadFormats().at("inference");
  REQUIRE(cases.size() >= 20);
  for (const Json& c : cases) {
    const std::string path = c.at("path").get<std::string>();
    INFO("path " << path);
    OutputFormat got{};
    const bool inferred = InferOutputFormat(path, &got);
    CHECK(inferred == !c.at("format").is_null());
    if (inferred) CHECK(std::string(OutputFormatName(got)) == c.at("format").get<std::string>());
  }
}

}  // namespace
}  // namespace imgsink
