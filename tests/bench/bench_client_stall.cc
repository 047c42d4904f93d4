// bench_client_stall: how long imgsink::Client::save_image blocks its caller, next to a memcpy
// of the same tensor (the floor of any copying hand-off).
//
//   bench_client_stall --endpoint ipc:///tmp/x/d.sock --tensor batch.f32 --shape 64,3,256,256
//                      [--repeat 20] [--ownership copy|borrow]
//
// Each round times save_image alone, then waits (untimed) for the job to end, as a training
// loop whose step is longer than the daemon's work would see it.  Prints one JSON object.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_spec.h"
#include "imgsink/proto/formats.h"
#include "imgsink/client.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace bench = imgsink::bench;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size())))];
}

nlohmann::json Summary(const std::vector<double>& ms) {
  return {{"median", Quantile(ms, 0.5)}, {"p90", Quantile(ms, 0.9)},
          {"max", ms.empty() ? 0.0 : *std::max_element(ms.begin(), ms.end())}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"time imgsink::Client::save_image against a memcpy of the tensor"};
  bench::SpecFlags flags;
  bench::AddSpecFlags(&app, &flags);
  std::string endpoint, ownership = "copy";
  int repeat = 20;
  app.add_option("--endpoint", endpoint, "the daemon's endpoint")->required();
  app.add_option("--repeat", repeat, "saves (and memcpys) to time");
  app.add_option("--ownership", ownership, "copy or borrow")->check(CLI::IsMember({"copy", "borrow"}));
  CLI11_PARSE(app, argc, argv);

  imgsink::SaveRequest request;
  imgsink::Status s = bench::ToSaveRequest(flags, &request);
  std::vector<uint8_t> tensor;
  if (s.ok()) s = bench::ReadTensorFile(flags.tensor_path, &tensor);
  if (!s.ok()) {
    std::fprintf(stderr, "bench_client_stall: %s\n", s.ToString().c_str());
    return 2;
  }

  std::vector<double> warm_ms, fresh_ms;
  std::vector<uint8_t> warm(tensor.size(), 1);
  for (int i = 0; i < repeat; ++i) {
    auto t0 = Clock::now();
    std::memcpy(warm.data(), tensor.data(), tensor.size());
    warm_ms.push_back(Ms(Clock::now() - t0));
    t0 = Clock::now();
    std::unique_ptr<uint8_t[]> fresh(new uint8_t[tensor.size()]);
    std::memcpy(fresh.get(), tensor.data(), tensor.size());
    fresh_ms.push_back(Ms(Clock::now() - t0));
    if (fresh[tensor.size() - 1] != warm[tensor.size() - 1]) return 3;
  }

  std::unique_ptr<imgsink::Client> client;
  s = imgsink::Client::Open(endpoint, imgsink::ClientOptions(), &client);
  if (!s.ok()) {
    std::fprintf(stderr, "bench_client_stall: %s\n", s.ToString().c_str());
    return 1;
  }
  imgsink::TensorView view{tensor.data(), request.dtype, request.shape, request.layout};
  imgsink::SaveOptions options;
  options.format = request.format;
  options.mode = request.mode;
  options.render = request.render;
  options.png = request.png;
  options.jpeg = request.jpeg;
  options.ownership = ownership == "borrow" ? imgsink::Ownership::kBorrow : imgsink::Ownership::kCopy;
  const std::string ext(*imgsink::FormatInfoOf(*request.format).extensions.begin());
  const std::string path = request.mode == imgsink::OutputMode::kGrid
                               ? "stall/grid" + ext : "stall/img_{index:02d}" + ext;
  std::vector<double> stall_ms, done_ms;
  std::map<std::string, int> outcomes;
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = Clock::now();
    imgsink::Job job = client->save_image(view, path, options);
    stall_ms.push_back(Ms(Clock::now() - t0));
    const imgsink::Status end = job.wait(std::chrono::minutes(2));
    done_ms.push_back(Ms(Clock::now() - t0));
    ++outcomes[end.ok() ? "ok" : std::string(imgsink::ErrorCodeName(end.code()))];
    if (!end.ok() && outcomes.size() == 1 + (outcomes.count("ok") ? 1u : 0u)) {
      std::fprintf(stderr, "bench_client_stall: %s\n", end.ToString().c_str());
    }
  }
  nlohmann::json out = {{"ownership", ownership},
                        {"tensor_bytes", tensor.size()},
                        {"save_image_ms", Summary(stall_ms)},
                        {"until_done_ms", Summary(done_ms)},
                        {"memcpy_warm_ms", Summary(warm_ms)},
                        {"memcpy_fresh_ms", Summary(fresh_ms)},
                        {"outcomes", outcomes}};
  std::printf("%s\n", out.dump().c_str());
  return outcomes.size() == 1 && outcomes.count("ok") ? 0 : 1;
}
