#include "daemon/config/options.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <thread>

#include "imgsink/endpoint.h"
#include "daemon/version.h"

namespace imgsink {

std::optional<int> ParseCommandLine(int argc, char** argv, DaemonOptions* options) {
  CLI::App app{
      "imgsinkd: writes image tensors pushed by training processes as PNG/JPEG files,\n"
      "pixel-identical to torchvision.utils.save_image, without making training wait.",
      "imgsinkd"};
  app.set_version_flag("--version", std::string("imgsinkd ") + kImgsinkVersion);
  app.add_option("--listen", options->listen,
                 "ZeroMQ endpoint to bind (repeatable), e.g. ipc:///run/imgsink/imgsinkd.sock;\n"
                 "default: " + DefaultEndpoint());
  app.add_option("--output-root", options->output_root,
                 "directory that every output path is resolved beneath (created if missing)")
      ->capture_default_str();
  app.add_option("--workers", options->workers,
                 "worker threads (render, encode, write); 0 = one per core")
      ->capture_default_str();
  app.add_option("--max-request-bytes", options->max_request_bytes,
                 "largest tensor frame accepted, in bytes")
      ->capture_default_str();
  app.add_option("--max-pixels-per-image", options->max_pixels_per_image,
                 "largest output image accepted, in pixels (width x height)")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help/version to stdout, errors to stderr
    return code == 0 ? 0 : 2;
  }
  return std::nullopt;
}

Status FinalizeOptions(DaemonOptions* options) {
  if (options->workers == 0) {
    options->workers = std::max(1u, std::thread::hardware_concurrency());
  }
  if (options->workers > 1024) {
    return Status(ErrorCode::kBadOption, "--workers must be at most 1024");
  }
  if (options->listen.empty()) options->listen.push_back(DefaultEndpoint());
  if (options->output_root.empty()) {
    return Status(ErrorCode::kBadOption, "--output-root must not be empty");
  }
  if (options->max_request_bytes == 0 || options->max_pixels_per_image == 0) {
    return Status(ErrorCode::kBadOption, "limits must be positive");
  }
  return Status::OK();
}

}  // namespace imgsink
