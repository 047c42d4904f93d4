// The canonical form's default rule (PROTOCOL.md "Canonical form"): optional save keys at
// their default are left out, every other value is written, and the old form with every key
// explicit still decodes (old clients, old journals).
#include <catch.hpp>
#include <cmath>
#include <iterator>

#include "imgsink/proto/codec.h"
#include "message_json.h"
#include "test_util/old_save_header.h"

namespace imgsink {
namespace {

Status DecodeClient(const std::string& bytes, ClientMessage* out, uint64_t* id) {
  return DecodeClientMessage(bytes.data(), bytes.size(), out, id);
}

// msgpack fixstr header + body.
std::string Str(const std::string& s) {
  REQUIRE(s.size() < 32);
  return static_cast<char>(0xa0 | s.size()) + s;
}

// Sets one optional save key off its default.
struct OffDefault {
  const char* key;
  void (*set)(SaveRequest*);
};
const OffDefault kOffDefaults[] = {
    {"cwd", [](SaveRequest* r) { r->cwd = "/w"; }},
    {"format", [](SaveRequest* r) { r->format = OutputFormat::kPng; }},
    {"mode", [](SaveRequest* r) { r->mode = OutputMode::kEach; }},
    {"nrow", [](SaveRequest* r) { r->render.nrow = 7; }},
    {"padding", [](SaveRequest* r) { r->render.padding = 0; }},
    {"pad_value", [](SaveRequest* r) { r->render.pad_value = 0.5; }},
    {"normalize", [](SaveRequest* r) { r->render.normalize = true; }},
    {"value_range", [](SaveRequest* r) { r->render.value_range.emplace(0.0, 0.0); }},
    {"scale_each", [](SaveRequest* r) { r->render.scale_each = true; }},
    {"keep_gray", [](SaveRequest* r) { r->render.keep_gray = true; }},
    {"png_level", [](SaveRequest* r) { r->png.compress_level = 0; }},
    {"png_bits", [](SaveRequest* r) { r->png.bit_depth = 16; }},
    {"png_filter", [](SaveRequest* r) { r->png.filter = PngFilter::kAll; }},
    {"png_strategy", [](SaveRequest* r) { r->png.strategy = PngStrategy::kDefault; }},
    {"jpeg_quality", [](SaveRequest* r) { r->jpeg.quality = 95; }},
    {"jpeg_subsampling", [](SaveRequest* r) { r->jpeg.subsampling = JpegSubsampling::k444; }},
    {"webp_lossless", [](SaveRequest* r) { r->webp.lossless = true; }},
    {"webp_quality", [](SaveRequest* r) { r->webp.quality = 0; }},
    {"policy", [](SaveRequest* r) { r->policy = BusyPolicy::kDrop; }},
    {"block_timeout_ms", [](SaveRequest* r) { r->block_timeout_ms = 0; }},
    {"meta", [](SaveRequest* r) { r->metadata["step"] = "1"; }},
    {"quantize", [](SaveRequest* r) { r->render.quantize = Quantize::kTensorBoard; }},
    {"tb", [](SaveRequest* r) { r->tensorboard = TensorBoardImage{"t", -3, 1.5}; }},
    {"shm", [](SaveRequest* r) { r->shm = ShmRef{1, 0}; }},
};

TEST_CASE("codec: save keys at their default are omitted, all others written",
          "[proto][codec][canonical]") {
  SaveRequest r;
  r.request_id = 3;
  r.shape = {1, 3, 8, 8};
  r.path = "x.png";
  const std::string minimal = EncodeClientMessage(r);
  CHECK(static_cast<uint8_t>(minimal[0]) == 0x87);  // fixmap: v, kind, id + 4 required keys
  CHECK(std::size(kOffDefaults) == 24);             // every optional key of the table
  for (const OffDefault& change : kOffDefaults) {
    INFO("key " << change.key);
    CHECK(minimal.find(Str(change.key)) == std::string::npos);
    SaveRequest changed = r;
    change.set(&changed);
    const std::string bytes = EncodeClientMessage(changed);
    CHECK(static_cast<uint8_t>(bytes[0]) == 0x88);  // exactly one more key
    CHECK(bytes.find(Str(change.key)) != std::string::npos);
    ClientMessage decoded;
    uint64_t id;
    REQUIRE(DecodeClient(bytes, &decoded, &id).ok());
    CHECK(test::ToJson(decoded) == test::ToJson(ClientMessage(changed)));
  }
  // pad_value -0.0 is another float64 than the default 0.0: written, and it survives.
  SaveRequest negative_zero = r;
  negative_zero.render.pad_value = -0.0;
  const std::string bytes = EncodeClientMessage(negative_zero);
  CHECK(static_cast<uint8_t>(bytes[0]) == 0x88);
  ClientMessage decoded;
  uint64_t id;
  REQUIRE(DecodeClient(bytes, &decoded, &id).ok());
  CHECK(std::signbit(std::get<SaveRequest>(decoded).render.pad_value));
}

TEST_CASE("codec: a header with every key explicit (the old canonical form) still decodes",
          "[proto][codec][canonical]") {
  // save_minimal_canonical as encoders wrote it before defaults were omitted (25 keys):
  // daemons must take it from old clients.
  const std::vector<uint8_t> old = test::FromHex(testutil::kEveryKeySaveHeaderHex);
  ClientMessage decoded;
  uint64_t id;
  REQUIRE(DecodeClient(std::string(old.begin(), old.end()), &decoded, &id).ok());
  SaveRequest want;
  want.request_id = 1;
  want.shape = {4, 3, 32, 32};
  want.path = "samples/step_000100.png";
  CHECK(test::ToJson(decoded) == test::ToJson(ClientMessage(want)));
  CHECK(static_cast<uint8_t>(EncodeClientMessage(decoded)[0]) == 0x87);
}

}  // namespace
}  // namespace imgsink
