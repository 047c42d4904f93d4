// types.h and status.h: wire names, parsers, sizes, and format inference against PIL itself.
#include "imgsink/proto/types.h"

#include <array>
#include <catch.hpp>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "imgsink/proto/formats.h"
#include "imgsink/proto/status.h"

namespace imgsink {
namespace {

TEST_CASE("types: sizes and ranks", "[proto][types]") {
  CHECK(DTypeSize(DType::kUint8) == 1);
  CHECK(DTypeSize(DType::kUint16) == 2);
  CHECK(DTypeSize(DType::kFloat16) == 2);
  CHECK(DTypeSize(DType::kBFloat16) == 2);
  CHECK(DTypeSize(DType::kFloat32) == 4);
  CHECK(DTypeSize(DType::kFloat64) == 8);
  CHECK(LayoutRank(Layout::kHW) == 2);
  CHECK(LayoutRank(Layout::kCHW) == 3);
  CHECK(LayoutRank(Layout::kHWC) == 3);
  CHECK(LayoutRank(Layout::kNCHW) == 4);
  CHECK(LayoutRank(Layout::kNHWC) == 4);
}

// Every wire name parses back to its value, and the names are exactly PROTOCOL.md's.
template <typename Enum>
void CheckNames(std::string_view (*name)(Enum), bool (*parse)(std::string_view, Enum*),
                std::initializer_list<const char*> expected) {
  int i = 0;
  for (const char* want : expected) {
    const auto e = static_cast<Enum>(i++);
    CHECK(name(e) == want);
    Enum back{};
    REQUIRE(parse(want, &back));
    CHECK(back == e);
  }
  Enum unused{};
  CHECK_FALSE(parse("", &unused));
  CHECK_FALSE(parse("nonsense", &unused));
}

TEST_CASE("types: wire names round-trip", "[proto][types]") {
  CheckNames(DTypeName, ParseDType,
             {"uint8", "uint16", "float16", "bfloat16", "float32", "float64"});
  CheckNames(LayoutName, ParseLayout, {"HW", "CHW", "NCHW", "HWC", "NHWC"});
  CheckNames(OutputFormatName, ParseOutputFormat, {"png", "jpeg"});
  CheckNames(OutputModeName, ParseOutputMode, {"grid", "each"});
  CheckNames(JpegSubsamplingName, ParseJpegSubsampling, {"444", "422", "420"});
  CheckNames(PngFilterName, ParsePngFilter, {"all", "none", "sub", "up", "avg", "paeth"});
  CheckNames(PngStrategyName, ParsePngStrategy, {"default", "filtered", "huffman", "rle"});
}

TEST_CASE("types: parsers are exact except the jpg alias", "[proto][types]") {
  OutputFormat f = OutputFormat::kPng;
  CHECK(ParseOutputFormat("jpg", &f));
  CHECK(f == OutputFormat::kJpeg);
  CHECK_FALSE(ParseOutputFormat("PNG", &f));
  CHECK_FALSE(ParseOutputFormat("jpeg ", &f));
  DType d;
  CHECK_FALSE(ParseDType("Float32", &d));
  CHECK_FALSE(ParseDType(std::string_view("uint8\0", 6), &d));
  Layout l;
  CHECK_FALSE(ParseLayout("nchw", &l));
}

TEST_CASE("status: error code names and ToString", "[proto][status]") {
  CHECK(ErrorCodeName(ErrorCode::kOk) == "ok");
  CHECK(ErrorCodeName(ErrorCode::kBadMessage) == "bad_message");
  CHECK(ErrorCodeName(ErrorCode::kUnsupportedVersion) == "unsupported_version");
  CHECK(ErrorCodeName(ErrorCode::kShuttingDown) == "shutting_down");
  CHECK(ErrorCodeName(ErrorCode::kJournalFailed) == "journal_failed");
  CHECK(ErrorCodeName(ErrorCode::kNoCredit) == "no_credit");
  CHECK(ErrorCodeName(ErrorCode::kCount_) == "unknown");
  for (int i = 0; i < static_cast<int>(ErrorCode::kCount_); ++i) {
    const auto code = static_cast<ErrorCode>(i);
    ErrorCode back = ErrorCode::kCount_;
    REQUIRE(ErrorCodeFromName(ErrorCodeName(code), &back));
    CHECK(back == code);
  }
  ErrorCode c;
  CHECK_FALSE(ErrorCodeFromName("unknown", &c));
  CHECK_FALSE(ErrorCodeFromName("Busy", &c));
  CHECK(Status().ToString() == "OK");
  CHECK(Status(ErrorCode::kBusy, "queue full").ToString() == "busy: queue full");
  CHECK(Status(ErrorCode::kInternal, "").ToString() == "internal");
}

// Paths whose format PIL's Image.save would infer; the expected answers come from PIL itself.
const char* const kPaths[] = {
    "a.png",     "a.PNG",       "dir.jpg/a.png", "a.jpg",     "a.JPEG",    "a.jpe", "a.jfif",
    "a.JfIf",    "a.apng",      "a.gif",         "a.bmp",     "a",         ".png",  "..png",
    "dir/.png",  ".hidden.jpg", "a..png",        "a.png.txt", "a.txt.png", "a.",    "a.jpg/",
    "dir.png/a", "...png",      "a.pn",          "a. png",
};

// Runs PIL's own extension lookup for kPaths; returns path -> PIL's format name, lower-cased
// ("png", "jpeg", "gif", ...), or "" when PIL knows no format for it.
std::map<std::string, std::string> PilFormats() {
  std::string script =
      "import os, sys\n"
      "from PIL import Image\n"
      "Image.init()\n"
      "for p in sys.stdin.read().split('\\n'):\n"
      "    f = Image.EXTENSION.get(os.path.splitext(p)[1].lower(), '')\n"
      "    print(f.lower())\n";
  const std::string dir = IMGSINK_BINARY_DIR;
  const std::string script_path = dir + "/proto_types_test_pil.py";
  const std::string input_path = dir + "/proto_types_test_paths.txt";
  {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(script_path.c_str(), "w"), std::fclose);
    REQUIRE(f);
    std::fputs(script.c_str(), f.get());
    std::unique_ptr<FILE, int (*)(FILE*)> in(std::fopen(input_path.c_str(), "w"), std::fclose);
    REQUIRE(in);
    for (size_t i = 0; i < std::size(kPaths); ++i) {
      std::fprintf(in.get(), i ? "\n%s" : "%s", kPaths[i]);
    }
  }
  const std::string cmd = std::string(IMGSINK_PYTHON) + " " + script_path + " < " + input_path;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  REQUIRE(pipe);
  std::map<std::string, std::string> out;
  char line[64];
  for (const char* path : kPaths) {
    REQUIRE(std::fgets(line, sizeof line, pipe.get()) != nullptr);
    std::string format(line);
    while (!format.empty() && format.back() == '\n') format.pop_back();
    out[path] = format;
  }
  std::remove(script_path.c_str());
  std::remove(input_path.c_str());
  return out;
}

TEST_CASE("types: InferOutputFormat agrees with PIL", "[proto][types][python]") {
  const std::map<std::string, std::string> pil = PilFormats();
  // Guard against a broken reference: PIL must see both formats among these paths.
  CHECK(pil.at("a.png") == "png");
  CHECK(pil.at("a.JPEG") == "jpeg");
  for (const char* path : kPaths) {
    INFO("path " << path);
    OutputFormat f;
    const bool inferred = InferOutputFormat(path, &f);
    // A format of PIL's that is not in our table is no format to us.
    const std::string want = FindFormatByName(pil.at(path)) != nullptr ? pil.at(path) : "";
    CHECK((inferred ? std::string(OutputFormatName(f)) : std::string()) == want);
  }
}

}  // namespace
}  // namespace imgsink
