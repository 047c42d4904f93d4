#include "reference_cases.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

namespace imgsink::daemon::testing {
namespace {

bool ReadFile(const std::string& path, std::vector<uint8_t>* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return true;
}

// The generator writes non-finite floats as "nan", "inf", "-inf".
double Number(const nlohmann::json& v) {
  if (!v.is_string()) return v.get<double>();
  const std::string s = v.get<std::string>();
  if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  return s == "inf" ? HUGE_VAL : -HUGE_VAL;
}

RenderOptions ParseOptions(const nlohmann::json& j) {
  RenderOptions o;
  o.nrow = j.at("nrow").get<int>();
  o.padding = j.at("padding").get<int>();
  o.pad_value = Number(j.at("pad_value"));
  o.normalize = j.at("normalize").get<bool>();
  if (!j.at("value_range").is_null()) {
    o.value_range = std::make_pair(Number(j.at("value_range")[0]), Number(j.at("value_range")[1]));
  }
  o.scale_each = j.at("scale_each").get<bool>();
  o.keep_gray = j.at("keep_gray").get<bool>();
  return o;
}

bool ParseCase(const std::string& folder, const nlohmann::json& j, ReferenceCase* c,
               std::string* error) {
  c->name = j.at("name").get<std::string>();
  if (!ParseDType(j.at("dtype").get<std::string>(), &c->dtype) ||
      !ParseLayout(j.at("layout").get<std::string>(), &c->layout)) {
    *error = c->name + ": bad dtype or layout";
    return false;
  }
  c->shape = j.at("shape").get<std::vector<int64_t>>();
  c->options = ParseOptions(j.at("options"));
  c->bit_depth = j.at("bit_depth").get<int>();
  const std::string input = j.at("input").get<std::string>();
  if (input == "all16") {
    for (uint32_t i = 0; i < 65536; ++i) {
      c->input.push_back(uint8_t(i & 0xFF));
      c->input.push_back(uint8_t(i >> 8));
    }
  } else if (!ReadFile(folder + "/" + input, &c->input)) {
    *error = "cannot read " + folder + "/" + input;
    return false;
  }
  if (j.contains("error")) {
    c->error = j.at("error").get<std::string>();
    return true;
  }
  c->expected.width = j.at("width").get<int>();
  c->expected.height = j.at("height").get<int>();
  c->expected.channels = j.at("channels").get<int>();
  c->expected.bit_depth = c->bit_depth;
  if (!ReadFile(folder + "/" + j.at("expected").get<std::string>(), &c->expected.pixels)) {
    *error = c->name + ": cannot read expected pixels";
    return false;
  }
  return true;
}

unsigned Sample(const Image& im, size_t i) {
  if (im.bit_depth == 8) return im.pixels[i];
  return unsigned(im.pixels[2 * i]) | unsigned(im.pixels[2 * i + 1]) << 8;
}

}  // namespace

bool LoadReferenceCases(const std::string& folder, std::vector<ReferenceCase>* out,
                        std::string* error) {
  std::ifstream f(folder + "/cases.json");
  if (!f) {
    *error = "cannot open " + folder + "/cases.json";
    return false;
  }
  try {
    const nlohmann::json all = nlohmann::json::parse(f);
    for (const auto& j : all) {
      ReferenceCase c;
      if (!ParseCase(folder, j, &c, error)) return false;
      out->push_back(std::move(c));
    }
  } catch (const std::exception& e) {
    *error = folder + "/cases.json: " + e.what();
    return false;
  }
  return true;
}

std::string CheckReferenceCase(const ReferenceCase& c, size_t misalign) {
  std::vector<uint8_t> storage(c.input.size() + 64);
  uint8_t* p = storage.data();
  while (reinterpret_cast<uintptr_t>(p) % 32 != 0) ++p;
  p += misalign;
  std::memcpy(p, c.input.data(), c.input.size());
  const TensorBatch batch = MakeTensorBatch(p, c.dtype, c.shape.data(), c.layout);
  Image got;
  const Status s = RenderGrid(batch, c.options, c.bit_depth, &got);
  std::ostringstream why;
  if (!c.error.empty()) {
    if (s.code() != ErrorCode::kBadOption) {
      why << "torch raised \"" << c.error << "\" but render gave " << s.ToString();
    }
    return why.str();
  }
  if (!s.ok()) return "render failed: " + s.ToString();
  const Image& want = c.expected;
  if (got.width != want.width || got.height != want.height || got.channels != want.channels ||
      got.bit_depth != want.bit_depth || got.pixels.size() != want.pixels.size()) {
    why << "geometry: got " << got.width << "x" << got.height << "x" << got.channels << " @"
        << got.bit_depth << " (" << got.pixels.size() << " bytes), want " << want.width << "x"
        << want.height << "x" << want.channels << " @" << want.bit_depth << " ("
        << want.pixels.size() << " bytes)";
    return why.str();
  }
  const size_t samples = want.pixels.size() / size_t(want.bit_depth / 8);
  size_t bad = 0;
  for (size_t i = 0; i < samples; ++i) {
    if (Sample(got, i) == Sample(want, i)) continue;
    if (++bad <= 5) {
      const size_t px = i / size_t(want.channels);
      why << " [y=" << px / size_t(want.width) << " x=" << px % size_t(want.width)
          << " c=" << i % size_t(want.channels) << ": got " << Sample(got, i) << " want "
          << Sample(want, i) << "]";
    }
  }
  if (bad == 0) return "";
  return std::to_string(bad) + " of " + std::to_string(samples) + " samples differ:" + why.str();
}

}  // namespace imgsink::daemon::testing
