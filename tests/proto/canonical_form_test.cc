// The canonical form's default rule (PROTOCOL.md "Canonical form"): optional save keys at
// their default are left out, every other value is written, and the old form with every key
// explicit still decodes (old clients, old journals).
#include <catch.hpp>
#include <cmath>
#include <iterator>

#include "imgsink/proto/codec.h"
#include "message_json.h"

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
};

TEST_CASE("codec: save keys at their default are omitted, all others written",
          "[proto][codec][canonical]") {
  SaveRequest r;
  r.request_id = 3;
  r.shape = {1, 3, 8, 8};
  r.path = "x.png";
  const std::string minimal = EncodeClientMessage(r);
  CHECK(static_cast<uint8_t>(minimal[0]) == 0x87);  // fixmap: v, kind, id + 4 required keys
  CHECK(std::size(kOffDefaults) == 20);             // every optional key of the table
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
  // save_minimal_canonical as encoders wrote it before defaults were omitted: 25 keys.  Daemons
  // must take it from old clients, and journals written then hold it.
  const std::vector<uint8_t> old = test::FromHex(
      "de0019a17601a46b696e64a473617665a2696401a56474797065a7666c6f61743332a57368617065940403"
      "2020a66c61796f7574a44e434857a470617468b773616d706c65732f737465705f3030303130302e706e67"
      "a6666f726d6174c0a46d6f6465a467726964a46e726f7708a770616464696e6702a97061645f76616c7565"
      "cb0000000000000000a96e6f726d616c697a65c2ab76616c75655f72616e6765c0aa7363616c655f656163"
      "68c2a96b6565705f67726179c2a9706e675f6c6576656c01a8706e675f6269747308aa706e675f66696c74"
      "6572a57061657468ac706e675f7374726174656779a3726c65ac6a7065675f7175616c6974794bb06a7065"
      "675f73756273616d706c696e67a3343230a6706f6c696379a5626c6f636bb0626c6f636b5f74696d656f75"
      "745f6d73cd7530a46d65746180");
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
