// push_batch: sends synthetic image batches to imgsinkd and waits until they are written.
//
//   push_batch --endpoint ipc:///run/user/1000/imgsink/imgsinkd.sock
//              --path samples/grid.png --count 10 --batch 16 --size 256 --format png
//
// Each batch is float32 NCHW in [-1, 1] (smooth gradients, shapes, mild noise), saved as one
// make_grid image with normalize=true, value_range=(-1, 1).  With --count N > 1, batch k
// (0-based) goes to the path with "_<k>" inserted before the extension
// ("samples/grid.png" -> "samples/grid_0.png", ...; no extension: appended).
// CURVE keys for a tcp:// daemon come from --curve or $IMGSINK_CURVE (SERVER,PUBLIC,SECRET).
// Exit status: 0 when every batch is written; 1 when any failed (the daemon's message goes to
// stderr); 2 on a usage error.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "imgsink/client.h"
#include "imgsink/proto/formats.h"
#include "synthetic_batch.h"

namespace {

struct Args {
  std::string endpoint = imgsink::ClientDefaultEndpoint();
  std::string path;
  int count = 1;
  int batch = 16;
  int size = 256;
  std::string format;  // empty: inferred from the path
  bool borrow = false;
  std::string curve;   // SERVER,PUBLIC,SECRET; empty: none
};

// Returns `path` with "_<step>" before the extension of its last component.
std::string StepPath(const std::string& path, int step) {
  const size_t slash = path.rfind('/');
  const size_t name_start = slash == std::string::npos ? 0 : slash + 1;
  const size_t dot = path.rfind('.');
  // A leading dot (".hidden") starts a name, not an extension.
  const bool has_ext = dot != std::string::npos && dot > name_start;
  const size_t at = has_ext ? dot : path.size();
  return path.substr(0, at) + "_" + std::to_string(step) + path.substr(at);
}

imgsink::SaveOptions MakeOptions(const Args& args) {
  imgsink::SaveOptions options;
  options.render.normalize = true;
  options.render.value_range = std::make_pair(-1.0, 1.0);
  if (!args.format.empty()) {
    imgsink::OutputFormat format;
    imgsink::ParseOutputFormat(args.format, &format);  // CLI11 already checked the name
    options.format = format;
  }
  options.ownership = args.borrow ? imgsink::Ownership::kBorrow : imgsink::Ownership::kCopy;
  return options;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int Run(const Args& args) {
  imgsink::ClientOptions client_options;
  imgsink::Status s;
  if (!args.curve.empty()) {
    imgsink::CurveKeys keys;
    s = imgsink::ParseCurveKeys(args.curve, &keys);
    client_options.curve = keys;
  }
  std::unique_ptr<imgsink::Client> client;
  if (s.ok()) s = imgsink::Client::Open(args.endpoint, client_options, &client);
  if (!s.ok()) {
    std::fprintf(stderr, "push_batch: %s\n", s.ToString().c_str());
    return 1;
  }
  const imgsink::SaveOptions options = MakeOptions(args);
  // Batches are generated up front so the timing below measures the hand-off, not rendering.
  std::vector<std::vector<float>> batches;
  for (int k = 0; k < args.count; ++k) {
    batches.push_back(
        imgsink::examples::MakeSyntheticBatch(args.batch, 3, args.size, args.size, 1000 + k));
  }
  std::vector<std::pair<std::string, imgsink::Job>> jobs;
  const auto start = std::chrono::steady_clock::now();
  for (int k = 0; k < args.count; ++k) {
    imgsink::TensorView view;
    view.data = batches[k].data();
    view.dtype = imgsink::DType::kFloat32;
    view.shape = {args.batch, 3, args.size, args.size};
    view.layout = imgsink::Layout::kNCHW;
    std::string path = args.count > 1 ? StepPath(args.path, k) : args.path;
    imgsink::Job job = client->save_image(view, path, options);
    jobs.emplace_back(std::move(path), job);
  }
  const double submit_s = SecondsSince(start);
  int failures = 0;
  for (const auto& [path, job] : jobs) {
    // wait() ends on done, refusal or disconnection (ClientOptions::connect_timeout).
    const imgsink::Status done = job.wait();
    if (!done.ok()) {
      std::fprintf(stderr, "push_batch: %s: %s\n", path.c_str(), done.ToString().c_str());
      ++failures;
    }
  }
  const double written_s = SecondsSince(start);
  const double mib = double(args.count) * args.batch * 3 * args.size * args.size * 4 / (1 << 20);
  std::printf("%d/%d batches written (%.1f MiB of tensors): submitted in %.3f s, written in %.3f s\n",
              args.count - failures, args.count, mib, submit_s, written_s);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  CLI::App app("Sends synthetic float32 NCHW batches in [-1, 1] to imgsinkd and waits until "
               "each is written (make_grid, normalize=true, value_range=(-1, 1)).",
               "push_batch");
  app.add_option("--endpoint", args.endpoint, "daemon endpoint")->capture_default_str();
  app.add_option("--path", args.path,
                 "output path relative to the daemon's output root; with --count > 1, "
                 "batch k goes to <stem>_<k><ext>")
      ->required();
  app.add_option("--count", args.count, "number of batches")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--batch", args.batch, "images per batch (N)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--size", args.size, "image height and width (S)")
      ->check(CLI::Range(1, 16384))->capture_default_str();
  std::vector<std::string> format_names;  // the format table's names and aliases
  for (const imgsink::FormatInfo& f : imgsink::kFormatTable) {
    format_names.emplace_back(f.name);
    for (std::string_view alias : f.aliases) format_names.emplace_back(alias);
  }
  app.add_option("--format", args.format, "output format (default: from the path's extension)")
      ->check(CLI::IsMember(format_names));
  app.add_flag("--borrow", args.borrow,
               "send without copying (Ownership::kBorrow); default copies (kCopy)");
  app.add_option("--curve", args.curve,
                 "CURVE keys for a tcp:// daemon: SERVER_PUB,CLIENT_PUB,CLIENT_SECRET, each a "
                 "Z85 key or key file")
      ->envname("IMGSINK_CURVE");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help prints usage and succeeds
  }
  return Run(args);
}
