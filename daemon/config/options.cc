#include "daemon/config/options.h"

#include <CLI/CLI.hpp>

#include <algorithm>
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
                 "largest tensor frame accepted, in bytes (at most the budgets)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--max-pixels-per-image", options->max_pixels_per_image,
                 "largest output image accepted, in pixels (width x height)")
      ->capture_default_str();
  std::string journal = options->journal ? "on" : "off";
  app.add_option("--journal", journal,
                 "on: acknowledge a job only once it is durable on disk; off: no durability "
                 "(benchmarks, or when losing queued images on a crash is fine)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--journal-dir", options->journal_dir, "directory of the job journal")
      ->capture_default_str();
  std::string recovery = options->journal_skip_corrupt ? "skip-corrupt" : "strict";
  app.add_option("--journal-recovery", recovery,
                 "strict: refuse to start on a corrupt journal record (naming file and offset); "
                 "skip-corrupt: skip such records, loudly")
      ->check(CLI::IsMember({"strict", "skip-corrupt"}))
      ->capture_default_str();
  app.add_option("--memory-budget", options->memory_budget,
                 "bytes of job data held in RAM (K/M/G suffixes are powers of 1024)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--journal-budget", options->journal_budget,
                 "bytes of journal on disk (K/M/G suffixes are powers of 1024)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--credit-ttl-ms", options->credit_ttl_ms,
                 "credit a client leaves unused this long is taken back")
      ->capture_default_str();
  app.add_option("--write-tries", options->write_tries,
                 "attempts to write an output file (ENOSPC, EIO, ...) before its job fails")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--retry-max-delay-ms", options->retry_max_delay_ms,
                 "the wait between write tries starts at 100 ms and doubles up to this")
      ->check(CLI::Range(1, 3600000))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
    options->journal = journal == "on";
    options->journal_skip_corrupt = recovery == "skip-corrupt";
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
  if (options->memory_budget == 0) return Status(ErrorCode::kBadOption, "--memory-budget must be positive");
  if (options->journal && options->journal_dir.empty()) {
    return Status(ErrorCode::kBadOption, "--journal-dir must not be empty");
  }
  // A request larger than the budget could never be granted credit.
  options->max_request_bytes = std::min(options->max_request_bytes, options->memory_budget);
  if (options->journal) {
    options->max_request_bytes = std::min(options->max_request_bytes, options->journal_budget);
  }
  return Status::OK();
}

}  // namespace imgsink
