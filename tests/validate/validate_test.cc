#include "daemon/validate/validate.h"

#include <catch.hpp>

#include <string>

#include "daemon/encode/encoder.h"
#include "imgsink/proto/formats.h"

namespace imgsink::daemon {
namespace {

SaveRequest Request(DType dtype, std::vector<int64_t> shape, Layout layout, std::string path) {
  SaveRequest r;
  r.dtype = dtype;
  r.shape = std::move(shape);
  r.layout = layout;
  r.path = std::move(path);
  return r;
}

size_t Bytes(const SaveRequest& r) {
  size_t n = DTypeSize(r.dtype);
  for (int64_t d : r.shape) n *= size_t(d);
  return n;
}

ErrorCode Code(const SaveRequest& r, size_t payload, ValidationLimits limits = {}) {
  SavePlan plan;
  return ValidateSave(r, payload, limits, &plan).code();
}

TEST_CASE("grid geometry follows make_grid") {
  SaveRequest r = Request(DType::kFloat32, {6, 3, 17, 23}, Layout::kNCHW, "a/b.png");
  r.render.nrow = 4;
  r.render.padding = 5;
  SavePlan plan;
  REQUIRE(ValidateSave(r, Bytes(r), {}, &plan).ok());
  CHECK(plan.format == OutputFormat::kPng);
  CHECK(plan.n == 6);
  // xmaps = min(4, 6) = 4, ymaps = ceil(6 / 4) = 2
  CHECK(plan.out_width == 4 * (23 + 5) + 5);
  CHECK(plan.out_height == 2 * (17 + 5) + 5);
  CHECK(plan.out_channels == 3);
  CHECK(plan.files == 1);
}

TEST_CASE("a batch of one has no padding; one channel becomes RGB unless keep_gray") {
  SaveRequest r = Request(DType::kFloat32, {1, 1, 7, 9}, Layout::kNCHW, "x.jpeg");
  SavePlan plan;
  REQUIRE(ValidateSave(r, Bytes(r), {}, &plan).ok());
  CHECK(plan.out_width == 9);
  CHECK(plan.out_height == 7);
  CHECK(plan.out_channels == 3);
  CHECK(plan.format == OutputFormat::kJpeg);
  r.render.keep_gray = true;
  REQUIRE(ValidateSave(r, Bytes(r), {}, &plan).ok());
  CHECK(plan.out_channels == 1);
}

TEST_CASE("layouts map to n, c, h, w") {
  SavePlan plan;
  SaveRequest hwc = Request(DType::kUint8, {5, 6, 4}, Layout::kHWC, "x.png");
  REQUIRE(ValidateSave(hwc, Bytes(hwc), {}, &plan).ok());
  CHECK((plan.n == 1 && plan.c == 4 && plan.h == 5 && plan.w == 6));
  SaveRequest hw = Request(DType::kUint8, {5, 6}, Layout::kHW, "x.png");
  REQUIRE(ValidateSave(hw, Bytes(hw), {}, &plan).ok());
  CHECK((plan.n == 1 && plan.c == 1 && plan.out_channels == 3));
}

TEST_CASE("each mode needs {index} and writes one file per image") {
  SaveRequest r = Request(DType::kFloat32, {3, 3, 4, 4}, Layout::kNCHW, "s/{index:04d}.png");
  r.mode = OutputMode::kEach;
  SavePlan plan;
  REQUIRE(ValidateSave(r, Bytes(r), {}, &plan).ok());
  CHECK(plan.files == 3);
  CHECK(plan.paths == std::vector<std::string>{"s/0000.png", "s/0001.png", "s/0002.png"});
  CHECK(plan.out_width == 4);
  r.path = "s/fixed.png";
  CHECK(Code(r, Bytes(r)) == ErrorCode::kBadPath);
  r.path = "s/{{index}}.png";  // literal braces, no field
  CHECK(Code(r, Bytes(r)) == ErrorCode::kBadPath);
}

TEST_CASE("validation expands every output path once, and refuses a later bad one") {
  // A 4091-byte tag + "{index}.png": index 0..9 gives 4096 bytes, index 10 one too many.  (In
  // components of at most 255 bytes, which the writer can create.)
  std::string tag;
  for (int i = 0; i < 20; ++i) tag += std::string(200, 'a') + "/";
  tag += std::string(71, 'a');
  REQUIRE(tag.size() == 4091);
  SaveRequest r = Request(DType::kUint8, {10, 1, 1, 1}, Layout::kNCHW, "{tag}{index}.png");
  r.mode = OutputMode::kEach;
  r.metadata = {{"tag", tag}};
  SavePlan plan;
  REQUIRE(ValidateSave(r, Bytes(r), {}, &plan).ok());
  REQUIRE(plan.paths.size() == 10);
  CHECK(plan.paths[9] == tag + "9.png");
  r.shape = {11, 1, 1, 1};
  CHECK(Code(r, Bytes(r)) == ErrorCode::kBadPath);
  SaveRequest grid = Request(DType::kFloat32, {4, 3, 2, 2}, Layout::kNCHW, "g/{step}.png");
  grid.metadata = {{"step", "12"}};
  REQUIRE(ValidateSave(grid, Bytes(grid), {}, &plan).ok());
  CHECK(plan.paths == std::vector<std::string>{"g/12.png"});  // one file for the whole grid
}

TEST_CASE("sizes: mismatch, overflow and limits") {
  SaveRequest r = Request(DType::kFloat32, {2, 3, 4, 4}, Layout::kNCHW, "x.png");
  CHECK(Code(r, Bytes(r) - 1) == ErrorCode::kSizeMismatch);
  CHECK(Code(r, Bytes(r) + 4) == ErrorCode::kSizeMismatch);
  CHECK(Code(r, Bytes(r), ValidationLimits{Bytes(r) - 1, 1 << 20, {}}) == ErrorCode::kTooLarge);
  CHECK(Code(r, Bytes(r), ValidationLimits{1 << 20, 4 * 4, {}}) == ErrorCode::kTooLarge);
  SaveRequest huge = Request(DType::kFloat64, {int64_t(1) << 40, 3, int64_t(1) << 20, 2}, Layout::kNCHW, "x.png");
  CHECK(Code(huge, 0) == ErrorCode::kBadShape);  // 2^40 * 3 * 2^20 * 2 * 8 overflows 64 bits
  SaveRequest rank = Request(DType::kFloat32, {3, 4}, Layout::kCHW, "x.png");
  CHECK(Code(rank, 48) == ErrorCode::kBadShape);
  SaveRequest zero = Request(DType::kFloat32, {3, 0, 4}, Layout::kCHW, "x.png");
  CHECK(Code(zero, 0) == ErrorCode::kBadShape);
}

TEST_CASE("grid larger than a JPEG can hold is too large") {
  SaveRequest r = Request(DType::kUint8, {2, 3, 1, 40000}, Layout::kNCHW, "wide.jpg");
  CHECK(Code(r, Bytes(r)) == ErrorCode::kTooLarge);  // 2 * 40002 + 2 > 65500
  r.path = "wide.png";
  CHECK(Code(r, Bytes(r)) == ErrorCode::kOk);
}

TEST_CASE("channels, dtypes and formats that cannot go together") {
  SaveRequest rgba = Request(DType::kFloat32, {4, 3, 3}, Layout::kCHW, "x.jpg");
  CHECK(Code(rgba, Bytes(rgba)) == ErrorCode::kBadFormat);
  rgba.path = "x.png";
  CHECK(Code(rgba, Bytes(rgba)) == ErrorCode::kOk);
  SaveRequest five = Request(DType::kFloat32, {5, 3, 3}, Layout::kCHW, "x.png");
  CHECK(Code(five, Bytes(five)) == ErrorCode::kBadShape);
  SaveRequest u16 = Request(DType::kUint16, {3, 3, 3}, Layout::kCHW, "x.png");
  CHECK(Code(u16, Bytes(u16)) == ErrorCode::kBadDtype);
  u16.png.bit_depth = 16;
  CHECK(Code(u16, Bytes(u16)) == ErrorCode::kOk);
  SaveRequest u8 = Request(DType::kUint8, {3, 3, 3}, Layout::kCHW, "x.png");
  u8.render.normalize = true;
  CHECK(Code(u8, Bytes(u8)) == ErrorCode::kBadOption);
}

TEST_CASE("per-format limits and channel rules come from the format table") {
  const ValidationLimits roomy{uint64_t(1) << 40, uint64_t(1) << 40, {}};
  for (const FormatInfo& f : kFormatTable) {
    INFO("format " << f.name);
    const std::string path = "x" + std::string(*f.extensions.begin());
    // The widest image the format holds passes, one pixel more is too large.  (Validation
    // never reads the tensor, so a 2 GiB size costs nothing here.)
    SaveRequest wide = Request(DType::kUint8, {1, f.max_dimension}, Layout::kHW, path);
    wide.render.keep_gray = true;
    CHECK(Code(wide, Bytes(wide), roomy) == ErrorCode::kOk);
    wide.shape[1] += 1;
    CHECK(Code(wide, Bytes(wide), roomy) == ErrorCode::kTooLarge);
    SaveRequest high = Request(DType::kUint8, {f.max_dimension + 1, 1}, Layout::kHW, path);
    high.render.keep_gray = true;
    CHECK(Code(high, Bytes(high), roomy) == ErrorCode::kTooLarge);
    // Alpha (2 or 4 channels) only where the table says so.
    for (int64_t channels : {2, 4}) {
      SaveRequest alpha = Request(DType::kFloat32, {channels, 3, 3}, Layout::kCHW, "noext");
      alpha.format = f.format;
      CHECK(Code(alpha, Bytes(alpha)) == (f.alpha ? ErrorCode::kOk : ErrorCode::kBadFormat));
    }
    // uint16 input needs 16-bit output, which only a 16-bit format can give.
    SaveRequest u16 = Request(DType::kUint16, {3, 3, 3}, Layout::kCHW, path);
    u16.png.bit_depth = 16;
    const int bits = OutputBitDepth(f.format, u16);
    CHECK(bits <= f.max_bit_depth);
    CHECK(Code(u16, Bytes(u16)) == (bits == 16 ? ErrorCode::kOk : ErrorCode::kBadDtype));
  }
}

TEST_CASE("format comes from the option, else the extension") {
  SaveRequest r = Request(DType::kFloat32, {3, 3, 3}, Layout::kCHW, "noext");
  CHECK(Code(r, Bytes(r)) == ErrorCode::kBadFormat);
  r.format = OutputFormat::kJpeg;
  SavePlan plan;
  REQUIRE(ValidateSave(r, Bytes(r), {}, &plan).ok());
  CHECK(plan.format == OutputFormat::kJpeg);
  SaveRequest upper = Request(DType::kFloat32, {3, 3, 3}, Layout::kCHW, "X.JPEG");
  REQUIRE(ValidateSave(upper, Bytes(upper), {}, &plan).ok());
  CHECK(plan.format == OutputFormat::kJpeg);
}

// Issue 12 row 9: names the writer can never create were acknowledged, then failed after
// ~12.7 s of retries; invalid UTF-8 reached the manifest mangled.  Now refused before the ack.
TEST_CASE("paths the writer cannot create are refused before the job is acknowledged") {
  const std::string long_name(256, 'a');
  for (const std::string& path :
       {long_name + ".png", long_name + "/x.png", "d/" + long_name + ".png",
        std::string(".imgsink-tmp.0123456789abcdef.png"), std::string("d/.imgsink-tmp.x/y.png"),
        std::string("bad\xff.png"), std::string("d\xc3(/x.png"), std::string("\xed\xa0\x80.png"),
        std::string("manifest.jsonl")}) {
    SaveRequest r = Request(DType::kFloat32, {3, 3, 3}, Layout::kCHW, path);
    r.format = OutputFormat::kPng;
    INFO(path);
    SavePlan plan;
    const Status s = ValidateSave(r, Bytes(r), {}, &plan);
    CHECK(s.code() == ErrorCode::kBadPath);
  }
  // Mode each: every expanded path is checked (a meta value can make any of them bad).
  SaveRequest each = Request(DType::kFloat32, {2, 3, 3, 3}, Layout::kNCHW, "{k}/{index}.png");
  each.mode = OutputMode::kEach;
  each.metadata["k"] = std::string(300, 'k');
  CHECK(Code(each, Bytes(each)) == ErrorCode::kBadPath);
  each.metadata["k"] = "caf\xc3\xa9";  // valid UTF-8 passes
  CHECK(Code(each, Bytes(each)) == ErrorCode::kOk);
  SaveRequest fits = Request(DType::kFloat32, {3, 3, 3}, Layout::kCHW,
                             std::string(251, 'a') + ".png");  // 255 bytes
  CHECK(Code(fits, Bytes(fits)) == ErrorCode::kOk);
}

TEST_CASE("paths that escape the root are refused") {
  for (const char* path : {"../x.png", "/abs.png", "a/../../x.png", "a/..", "dir/"}) {
    SaveRequest r = Request(DType::kFloat32, {3, 3, 3}, Layout::kCHW, path);
    r.format = OutputFormat::kPng;  // paths only: no extension to infer from
    INFO(path);
    CHECK(Code(r, Bytes(r)) == ErrorCode::kBadPath);
  }
  // '.' and empty components are dropped (the client sends the path as written).
  for (const char* path : {"a//b.png", "./a/./b.png"}) {
    SaveRequest r = Request(DType::kFloat32, {3, 3, 3}, Layout::kCHW, path);
    SavePlan plan;
    REQUIRE(ValidateSave(r, Bytes(r), {}, &plan).ok());
    CHECK(plan.paths == std::vector<std::string>{"a/b.png"});
  }
}

TEST_CASE("the path mode resolves each expanded path once, with the request's cwd") {
  ValidationLimits roots;
  roots.paths.roots = {"/srv/out", "/data/shared"};
  SaveRequest r = Request(DType::kFloat32, {2, 3, 3, 3}, Layout::kNCHW, "s/{index}.png");
  r.mode = OutputMode::kEach;
  r.cwd = "/home/u/run";
  SavePlan plan;
  // roots: beneath the first root, cwd ignored; absolute beneath any root.
  REQUIRE(ValidateSave(r, Bytes(r), roots, &plan).ok());
  CHECK(plan.paths == std::vector<std::string>{"s/0.png", "s/1.png"});
  r.path = "/data/shared/r/{index}.png";
  REQUIRE(ValidateSave(r, Bytes(r), roots, &plan).ok());
  CHECK(plan.paths == std::vector<std::string>{"/data/shared/r/0.png", "/data/shared/r/1.png"});
  r.path = "/home/u/{index}.png";
  SavePlan refused;
  const Status outside = ValidateSave(r, Bytes(r), roots, &refused);
  CHECK(outside.code() == ErrorCode::kBadPath);
  CHECK(outside.message().find("/srv/out") != std::string::npos);
  CHECK(outside.message().find("/data/shared") != std::string::npos);
  // caller: against the cwd; '..' kept for the kernel; the request keeps the path as written.
  ValidationLimits caller = roots;
  caller.paths.mode = PathMode::kCaller;
  r.path = "../out/{index}.png";
  REQUIRE(ValidateSave(r, Bytes(r), caller, &plan).ok());
  CHECK(plan.paths == std::vector<std::string>{"/home/u/run/../out/0.png", "/home/u/run/../out/1.png"});
  CHECK(r.path == "../out/{index}.png");
  // The first root's manifest is no output in either mode.
  r.mode = OutputMode::kGrid;
  r.shape = {3, 3, 3};
  r.layout = Layout::kCHW;
  r.path = "/srv/out/manifest.jsonl";
  r.format = OutputFormat::kPng;
  CHECK(Code(r, Bytes(r), caller) == ErrorCode::kBadPath);
  CHECK(Code(r, Bytes(r), roots) == ErrorCode::kBadPath);
}

}  // namespace
}  // namespace imgsink::daemon

namespace imgsink::daemon {
namespace {

TEST_CASE("metadata that cannot be written into the file is refused up front") {
  SaveRequest r = Request(DType::kFloat32, {3, 3, 3}, Layout::kCHW, "x.png");
  r.metadata = {{"step", "100"}, {"note", "caf\xc3\xa9"}};
  CHECK(Code(r, Bytes(r)) == ErrorCode::kOk);
  r.metadata = {{"a=b", "1"}};
  CHECK(Code(r, Bytes(r)) == ErrorCode::kBadOption);
  r.metadata = {{"ok", std::string("nul\0inside", 10)}};
  CHECK(Code(r, Bytes(r)) == ErrorCode::kBadOption);
}

}  // namespace
}  // namespace imgsink::daemon

namespace imgsink::daemon {
namespace {

TEST_CASE("paths are templates over meta keys in both modes") {
  SaveRequest r = Request(DType::kFloat32, {2, 3, 4, 4}, Layout::kNCHW, "r{rank}/s{step:06d}.png");
  r.metadata = {{"rank", "3"}, {"step", "1200"}, {"host", "node-7"}};
  SavePlan plan;
  REQUIRE(ValidateSave(r, Bytes(r), {}, &plan).ok());
  CHECK(plan.paths == std::vector<std::string>{"r3/s001200.png"});
  r.path = "{host}/{index:02d}.png";
  r.mode = OutputMode::kEach;
  REQUIRE(ValidateSave(r, Bytes(r), {}, &plan).ok());
  CHECK(plan.paths == std::vector<std::string>{"node-7/00.png", "node-7/01.png"});
  r.path = "{missing}/x.png";
  CHECK(Code(r, Bytes(r)) == ErrorCode::kBadPath);
  r.mode = OutputMode::kGrid;
  r.path = "{host:04d}.png";  // an integer spec on a string value
  CHECK(Code(r, Bytes(r)) == ErrorCode::kBadPath);
  r.path = "literal{{braces}}.png";
  REQUIRE(ValidateSave(r, Bytes(r), {}, &plan).ok());
  CHECK(plan.paths == std::vector<std::string>{"literal{braces}.png"});
}

// Issue 12, row 1: the charge follows the rendered canvas (padding, channels), not the tensor.
TEST_CASE("the plan's footprint counts the rendered canvas and room to encode it") {
  SaveRequest r = Request(DType::kUint8, {2, 3, 2, 2}, Layout::kNCHW, "g.png");
  r.render.padding = 5000;
  SavePlan plan;
  REQUIRE(ValidateSave(r, Bytes(r), {}, &plan).ok());
  const uint64_t canvas = uint64_t(2 * 5002 + 5000) * uint64_t(5002 + 5000) * 3;
  CHECK(plan.footprint_bytes == canvas + canvas + uint64_t(5002 + 5000));  // ~450 MB + encode
  r = Request(DType::kUint8, {4, 1, 8, 8}, Layout::kNCHW, "e_{index}.png");
  r.mode = OutputMode::kEach;
  REQUIRE(ValidateSave(r, Bytes(r), {}, &plan).ok());
  CHECK(plan.footprint_bytes == 4 * 8 * 8 * 3 + (8 * 8 * 3 + 8));  // gray -> RGB, 4 files
}

// Issue 13: an S3 output holds a batch's encoded files until the server confirms them; every
// file but the batch's last (the encoder's own buffer) is a copy the job is charged for.
TEST_CASE("the footprint charges the copies an uploading output holds, per copying sink") {
  SaveRequest r = Request(DType::kUint8, {4, 1, 8, 8}, Layout::kNCHW, "e_{index}.png");
  r.mode = OutputMode::kEach;
  const uint64_t encode_room = 8 * 8 * 3 + 8;
  const uint64_t local = 4 * 8 * 8 * 3 + encode_room;
  ValidationLimits limits;
  limits.staged_copies = 1;
  SavePlan plan;
  REQUIRE(ValidateSave(r, Bytes(r), limits, &plan).ok());
  CHECK(plan.copy_room_bytes == 3 * encode_room);
  CHECK(plan.footprint_bytes == local + 3 * encode_room);
  limits.staged_copies = 2;  // --output s3://a --output s3://b: two copies
  REQUIRE(ValidateSave(r, Bytes(r), limits, &plan).ok());
  CHECK(plan.footprint_bytes == local + 2 * 3 * encode_room);
  limits.staged_files = 2;  // a batch of two files copies one
  REQUIRE(ValidateSave(r, Bytes(r), limits, &plan).ok());
  CHECK(plan.copy_room_bytes == encode_room);
  limits.max_copy_room_bytes = 100;
  REQUIRE(ValidateSave(r, Bytes(r), limits, &plan).ok());
  CHECK(plan.copy_room_bytes == 100);
  limits.staged_copies = 0;  // a local disk copies nothing
  REQUIRE(ValidateSave(r, Bytes(r), limits, &plan).ok());
  CHECK(plan.copy_room_bytes == 0);
  CHECK(plan.footprint_bytes == local);
  r = Request(DType::kUint8, {1, 3, 8, 8}, Layout::kNCHW, "one.png");  // one file: no copy
  limits.staged_copies = 1;
  REQUIRE(ValidateSave(r, Bytes(r), limits, &plan).ok());
  CHECK(plan.copy_room_bytes == 0);
}

// Issue 12, row 10: one 65 KB each-save made 2000 files with 58 KB of metadata each.
TEST_CASE("files and metadata bytes per request are limited") {
  SaveRequest r = Request(DType::kUint8, {2000, 1, 1, 1}, Layout::kNCHW, "m_{index}.png");
  r.mode = OutputMode::kEach;
  ValidationLimits limits;
  limits.max_files_per_request = 1999;
  SavePlan plan;
  Status s = ValidateSave(r, Bytes(r), limits, &plan);
  CHECK(s.code() == ErrorCode::kTooLarge);
  CHECK(s.message().find("--max-files-per-request") != std::string::npos);
  limits.max_files_per_request = 2000;
  CHECK(ValidateSave(r, Bytes(r), limits, &plan).ok());
  for (int i = 0; i < 15; ++i) r.metadata["k" + std::to_string(i)] = std::string(3900, 'v');
  s = ValidateSave(r, Bytes(r), limits, &plan);
  CHECK(s.code() == ErrorCode::kTooLarge);
  CHECK(s.message().find("--max-metadata-bytes") != std::string::npos);
  limits.max_metadata_bytes = 64 * 1024;
  s = ValidateSave(r, Bytes(r), limits, &plan);  // 2000 copies of 58 KB: the copies limit
  CHECK(s.code() == ErrorCode::kTooLarge);
  CHECK(s.message().find("metadata bytes written per request") != std::string::npos);
  r.shape = {200, 1, 1, 1};  // 200 x 58 KB = 11.7 MB: under 16 MiB
  CHECK(ValidateSave(r, Bytes(r), limits, &plan).ok());
}

}  // namespace
}  // namespace imgsink::daemon
