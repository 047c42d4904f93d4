// push_raw: pushes one tensor from a file through imgsink::Client and waits until it is written.
// Test tool for the integration tests:
//   push_raw --endpoint E --request request.json --tensor tensor.bin
// request.json holds "dtype", "shape", "layout", "path" and any save option under its wire name
// (proto/PROTOCOL.md).  Exits 0 iff the daemon wrote the job; prints the daemon's error otherwise.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgsink/client.h"

namespace {

using imgsink::Status;
using json = nlohmann::json;

template <typename Enum>
void ParseEnum(const json& j, const char* key, bool (*parse)(std::string_view, Enum*), Enum* out) {
  if (!j.contains(key)) return;
  if (!parse(j.at(key).get<std::string>(), out)) throw std::runtime_error(std::string("bad ") + key);
}

imgsink::SaveOptions OptionsFromJson(const json& j) {
  imgsink::SaveOptions o;
  if (j.contains("format") && !j["format"].is_null()) {
    imgsink::OutputFormat f;
    if (!imgsink::ParseOutputFormat(j["format"].get<std::string>(), &f)) throw std::runtime_error("format");
    o.format = f;
  }
  ParseEnum(j, "mode", imgsink::ParseOutputMode, &o.mode);
  o.render.nrow = j.value("nrow", o.render.nrow);
  o.render.padding = j.value("padding", o.render.padding);
  o.render.pad_value = j.value("pad_value", o.render.pad_value);
  o.render.normalize = j.value("normalize", o.render.normalize);
  o.render.scale_each = j.value("scale_each", o.render.scale_each);
  o.render.keep_gray = j.value("keep_gray", o.render.keep_gray);
  if (j.contains("value_range") && !j["value_range"].is_null()) {
    o.render.value_range = std::make_pair(j["value_range"][0].get<double>(), j["value_range"][1].get<double>());
  }
  o.png.compress_level = j.value("png_level", o.png.compress_level);
  o.png.bit_depth = j.value("png_bits", o.png.bit_depth);
  ParseEnum(j, "png_filter", imgsink::ParsePngFilter, &o.png.filter);
  ParseEnum(j, "png_strategy", imgsink::ParsePngStrategy, &o.png.strategy);
  o.jpeg.quality = j.value("jpeg_quality", o.jpeg.quality);
  ParseEnum(j, "jpeg_subsampling", imgsink::ParseJpegSubsampling, &o.jpeg.subsampling);
  if (j.contains("meta")) o.metadata = j["meta"].get<std::map<std::string, std::string>>();
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  std::string endpoint, request_path, tensor_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--endpoint") endpoint = argv[i + 1];
    if (flag == "--request") request_path = argv[i + 1];
    if (flag == "--tensor") tensor_path = argv[i + 1];
  }
  if (endpoint.empty() || request_path.empty() || tensor_path.empty()) {
    std::cerr << "usage: push_raw --endpoint E --request request.json --tensor tensor.bin\n";
    return 2;
  }
  json request;
  std::ifstream(request_path) >> request;
  std::ifstream in(tensor_path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  imgsink::TensorView view;
  view.data = bytes.data();
  view.shape = request.at("shape").get<std::vector<int64_t>>();
  if (!imgsink::ParseDType(request.at("dtype").get<std::string>(), &view.dtype) ||
      !imgsink::ParseLayout(request.at("layout").get<std::string>(), &view.layout)) {
    std::cerr << "push_raw: bad dtype or layout\n";
    return 2;
  }
  std::unique_ptr<imgsink::Client> client;
  Status s = imgsink::Client::Open(endpoint, imgsink::ClientOptions(), &client);
  if (s.ok()) {
    imgsink::Job job = client->save_image(view, request.at("path").get<std::string>(), OptionsFromJson(request));
    s = job.wait(std::chrono::seconds(60));
  }
  if (!s.ok()) {
    std::cerr << "push_raw: " << s.ToString() << "\n";
    return 1;
  }
  return 0;
}
