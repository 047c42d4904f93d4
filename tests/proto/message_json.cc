#include "message_json.h"

#include <catch.hpp>

namespace imgsink::test {
namespace {

template <typename Enum>
Enum ParseOrFail(const Json& j, bool (*parse)(std::string_view, Enum*)) {
  Enum e{};
  const std::string name = j.get<std::string>();
  INFO("enum value " << name);
  REQUIRE(parse(name, &e));
  return e;
}

BusyPolicy ParsePolicy(const std::string& name) {
  if (name == "block") return BusyPolicy::kBlock;
  if (name == "drop") return BusyPolicy::kDrop;
  REQUIRE(name == "error");
  return BusyPolicy::kError;
}

const char* PolicyName(BusyPolicy p) {
  switch (p) {
    case BusyPolicy::kBlock:
      return "block";
    case BusyPolicy::kDrop:
      return "drop";
    case BusyPolicy::kError:
      return "error";
  }
  return "?";
}

Status StatusFromJson(const Json& j) {
  if (j.at("ok").get<bool>()) return Status::OK();
  ErrorCode code;
  REQUIRE(ErrorCodeFromName(j.at("code").get<std::string>(), &code));
  return Status(code, j.at("message").get<std::string>());
}

SaveRequest SaveFromJson(const Json& j) {
  SaveRequest r;
  r.request_id = j.at("id").get<uint64_t>();
  r.dtype = ParseOrFail(j.at("dtype"), ParseDType);
  r.shape = j.at("shape").get<std::vector<int64_t>>();
  r.layout = ParseOrFail(j.at("layout"), ParseLayout);
  r.path = j.at("path").get<std::string>();
  if (!j.at("cwd").is_null()) r.cwd = j.at("cwd").get<std::string>();
  if (!j.at("format").is_null()) r.format = ParseOrFail(j.at("format"), ParseOutputFormat);
  r.mode = ParseOrFail(j.at("mode"), ParseOutputMode);
  r.render.nrow = j.at("nrow").get<int>();
  r.render.padding = j.at("padding").get<int>();
  r.render.pad_value = j.at("pad_value").get<double>();
  r.render.normalize = j.at("normalize").get<bool>();
  if (!j.at("value_range").is_null()) {
    r.render.value_range.emplace(j.at("value_range").at(0).get<double>(),
                                 j.at("value_range").at(1).get<double>());
  }
  r.render.scale_each = j.at("scale_each").get<bool>();
  r.render.keep_gray = j.at("keep_gray").get<bool>();
  r.png.compress_level = j.at("png_level").get<int>();
  r.png.bit_depth = j.at("png_bits").get<int>();
  r.png.filter = ParseOrFail(j.at("png_filter"), ParsePngFilter);
  r.png.strategy = ParseOrFail(j.at("png_strategy"), ParsePngStrategy);
  r.jpeg.quality = j.at("jpeg_quality").get<int>();
  r.jpeg.subsampling = ParseOrFail(j.at("jpeg_subsampling"), ParseJpegSubsampling);
  r.webp.lossless = j.at("webp_lossless").get<bool>();
  r.webp.quality = j.at("webp_quality").get<int>();
  r.policy = ParsePolicy(j.at("policy").get<std::string>());
  r.block_timeout_ms = j.at("block_timeout_ms").get<uint32_t>();
  for (const auto& [k, v] : j.at("meta").items()) r.metadata[k] = v.get<std::string>();
  r.render.quantize = ParseOrFail(j.at("quantize"), ParseQuantize);
  if (!j.at("tb").is_null()) {
    const Json& tb = j.at("tb");
    REQUIRE(tb.size() == 3);
    r.tensorboard = TensorBoardImage{tb.at("tag").get<std::string>(), tb.at("step").get<int64_t>(),
                                     tb.at("wall_time").get<double>()};
  }
  if (!j.at("shm").is_null()) {
    r.shm = ShmRef{j.at("shm").at(0).get<uint64_t>(), j.at("shm").at(1).get<uint64_t>()};
  }
  REQUIRE(j.size() == 31);  // no key this helper ignores
  return r;
}

void AddRefusal(const Status& s, Json* j) {
  if (s.ok()) return;
  (*j)["code"] = std::string(ErrorCodeName(s.code()));
  (*j)["message"] = s.message();
}

}  // namespace

ClientMessage ClientMessageFromJson(const Json& j) {
  REQUIRE(j.at("v") == 1);
  const std::string kind = j.at("kind").get<std::string>();
  if (kind == "status") {
    REQUIRE(j.size() == 3);
    return StatusRequest{j.at("id").get<uint64_t>()};
  }
  if (kind == "credit") {
    REQUIRE(j.size() == 6);
    CreditRequest c;
    c.request_id = j.at("id").get<uint64_t>();
    c.bytes = j.at("bytes").get<uint64_t>();
    c.policy = ParsePolicy(j.at("policy").get<std::string>());
    c.timeout_ms = j.at("timeout_ms").get<uint32_t>();
    return c;
  }
  REQUIRE(kind == "save");
  return SaveFromJson(j);
}

ServerMessage ServerMessageFromJson(const Json& j) {
  REQUIRE(j.at("v") == 1);
  const std::string kind = j.at("kind").get<std::string>();
  if (kind == "done") {
    DoneEvent d;
    d.request_id = j.at("id").get<uint64_t>();
    d.job_id = j.at("job").get<uint64_t>();
    d.status = StatusFromJson(j);
    return d;
  }
  REQUIRE(kind == "reply");
  Reply r;
  r.request_id = j.at("id").get<uint64_t>();
  r.status = StatusFromJson(j);
  if (j.contains("job")) r.job_id = j.at("job").get<uint64_t>();
  if (j.contains("counters")) {
    for (const auto& [k, v] : j.at("counters").items()) r.counters[k] = v.get<uint64_t>();
  }
  if (j.contains("credit")) r.credit = j.at("credit").get<uint64_t>();
  return r;
}

Json ToJson(const ClientMessage& msg) {
  Json j;
  j["v"] = 1;
  if (const auto* s = std::get_if<StatusRequest>(&msg)) {
    j["kind"] = "status";
    j["id"] = s->request_id;
    return j;
  }
  if (const auto* c = std::get_if<CreditRequest>(&msg)) {
    j["kind"] = "credit";
    j["id"] = c->request_id;
    j["bytes"] = c->bytes;
    j["policy"] = PolicyName(c->policy);
    j["timeout_ms"] = c->timeout_ms;
    return j;
  }
  const auto& r = std::get<SaveRequest>(msg);
  j["kind"] = "save";
  j["id"] = r.request_id;
  j["dtype"] = std::string(DTypeName(r.dtype));
  j["shape"] = r.shape;
  j["layout"] = std::string(LayoutName(r.layout));
  j["path"] = r.path;
  j["cwd"] = r.cwd.empty() ? Json(nullptr) : Json(r.cwd);
  j["format"] = r.format ? Json(std::string(OutputFormatName(*r.format))) : Json(nullptr);
  j["mode"] = std::string(OutputModeName(r.mode));
  j["nrow"] = r.render.nrow;
  j["padding"] = r.render.padding;
  j["pad_value"] = r.render.pad_value;
  j["normalize"] = r.render.normalize;
  j["value_range"] = r.render.value_range
                         ? Json::array({r.render.value_range->first, r.render.value_range->second})
                         : Json(nullptr);
  j["scale_each"] = r.render.scale_each;
  j["keep_gray"] = r.render.keep_gray;
  j["png_level"] = r.png.compress_level;
  j["png_bits"] = r.png.bit_depth;
  j["png_filter"] = std::string(PngFilterName(r.png.filter));
  j["png_strategy"] = std::string(PngStrategyName(r.png.strategy));
  j["jpeg_quality"] = r.jpeg.quality;
  j["jpeg_subsampling"] = std::string(JpegSubsamplingName(r.jpeg.subsampling));
  j["webp_lossless"] = r.webp.lossless;
  j["webp_quality"] = r.webp.quality;
  j["policy"] = PolicyName(r.policy);
  j["block_timeout_ms"] = r.block_timeout_ms;
  j["meta"] = Json::object();
  for (const auto& [k, v] : r.metadata) j["meta"][k] = v;
  j["quantize"] = std::string(QuantizeName(r.render.quantize));
  if (r.tensorboard) {
    j["tb"] = Json::object();  // nlohmann::json sorts keys: compared as maps, not bytes
    j["tb"]["tag"] = r.tensorboard->tag;
    j["tb"]["step"] = r.tensorboard->step;
    j["tb"]["wall_time"] = r.tensorboard->wall_time;
  } else {
    j["tb"] = nullptr;
  }
  j["shm"] = r.shm ? Json::array({r.shm->segment, r.shm->offset}) : Json();
  return j;
}

Json ToJson(const ServerMessage& msg) {
  Json j;
  j["v"] = 1;
  if (const auto* d = std::get_if<DoneEvent>(&msg)) {
    j["kind"] = "done";
    j["id"] = d->request_id;
    j["job"] = d->job_id;
    j["ok"] = d->status.ok();
    AddRefusal(d->status, &j);
    return j;
  }
  const auto& r = std::get<Reply>(msg);
  j["kind"] = "reply";
  j["id"] = r.request_id;
  j["ok"] = r.status.ok();
  // PROTOCOL.md "Reply": credit if non-zero, else counters if any, else job.
  if (r.status.ok() && r.credit != 0) {
    j["credit"] = r.credit;
  } else if (r.status.ok() && !r.counters.empty()) {
    j["counters"] = Json::object();
    for (const auto& [k, v] : r.counters) j["counters"][k] = v;
  } else if (r.status.ok()) {
    j["job"] = r.job_id;
  }
  AddRefusal(r.status, &j);
  return j;
}

std::vector<uint8_t> FromHex(const std::string& hex) {
  REQUIRE(hex.size() % 2 == 0);
  std::vector<uint8_t> out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string ToHex(const std::string& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

}  // namespace imgsink::test
