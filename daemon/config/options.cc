#include "daemon/config/options.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <thread>

#include "daemon/config/config_file.h"
#include "daemon/journal/journal_types.h"
#include "daemon/log/log.h"
#include "daemon/version.h"
#include "imgsink/proto/endpoint.h"

namespace imgsink::daemon {
namespace {

// Text forms of options whose struct field is not the option's type.
struct TextOptions {
  std::string manifest = "on";
  std::string output_sync = "fs";
  std::string journal = "on";
  std::string recovery = "strict";
  std::vector<std::string> output_roots{"./imgsink-out"};
  std::string paths = "roots";
  std::string s3_addressing = "auto";
};

void AddS3Options(CLI::App* app, DaemonOptions* o, TextOptions* t) {
  app->add_option("--output", o->outputs,
                  "another place every file goes to as well (repeatable, at most 8): s3://bucket/prefix "
                  "(object <prefix>/<path>) or a directory; a job is done only when every output "
                  "has its files");
  app->add_option("--s3-endpoint", o->s3.endpoint,
                  "S3 endpoint URL, e.g. http://127.0.0.1:9000 (default: $AWS_ENDPOINT_URL, else "
                  "AWS in the region)");
  app->add_option("--s3-region", o->s3.region, "S3 region (default: $AWS_REGION, else us-east-1)");
  app->add_option("--s3-access-key-id", o->s3.access_key_id,
                  "S3 access key id (default: $AWS_ACCESS_KEY_ID); put keys in the config file or "
                  "the environment, not on the command line");
  app->add_option("--s3-secret-access-key", o->s3.secret_access_key,
                  "S3 secret key (default: $AWS_SECRET_ACCESS_KEY; never logged)");
  app->add_option("--s3-session-token", o->s3.session_token,
                  "S3 session token of temporary credentials (default: $AWS_SESSION_TOKEN)");
  app->add_option("--s3-addressing", t->s3_addressing,
                  "path: http://endpoint/bucket/key; virtual: http://bucket.endpoint/key; auto: "
                  "virtual for AWS, path for any other endpoint")
      ->check(CLI::IsMember({"auto", "path", "virtual"}))
      ->capture_default_str();
  app->add_option("--s3-connections", o->s3.max_connections,
                  "uploads in flight at once per s3:// output (connections are reused)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app->add_option("--s3-tries", o->s3.tries,
                  "tries of one request (5xx, 429, SlowDown, connection errors; backoff with "
                  "jitter) before the job's write fails and is retried as --write-tries says")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app->add_option("--s3-timeout-ms", o->s3.stall_timeout_ms,
                  "a request that moves under 1 KiB/s this long is dropped and tried again")
      ->check(CLI::Range(1000, 3600000))
      ->capture_default_str();
  app->add_option("--s3-multipart-threshold", o->s3.multipart_threshold,
                  "objects this large are uploaded in parts (K/M/G suffixes)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app->add_option("--s3-part-size", o->s3.part_size, "multipart part size, at least 5M")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app->add_option("--s3-manifest-lines", o->s3.manifest_lines_per_object,
                  "manifest: one object per this many lines...")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app->add_option("--s3-manifest-flush-ms", o->s3.manifest_flush_ms,
                  "...or per this many milliseconds, whichever comes first")
      ->check(CLI::Range(0, 3600000))
      ->capture_default_str();
}

void AddOptions(CLI::App* app, DaemonOptions* o, TextOptions* t) {
  app->set_version_flag("--version", std::string("imgsinkd ") + kImgsinkVersion);
  app->add_option("--config", o->config_file,
                  "TOML file with any of these options (keys: long names with '_' for '-'); "
                  "command-line flags override it");
  app->add_flag("--check-config", o->check_config,
                "validate the options, print the effective configuration and exit");
  app->add_option("--listen", o->listen,
                  "ZeroMQ endpoint to bind (repeatable), e.g. ipc:///run/imgsink/imgsinkd.sock;\n"
                  "default: " + DefaultEndpoint() + " (an ipc socket's directory must be this "
                  "user's or root's and not writable by others, unless sticky)");
  app->add_option("--curve-secret-key", o->curve_secret_key,
                  "file with this daemon's CURVE secret key (imgsinkctl keygen): tcp:// endpoints "
                  "then need CURVE and an allowed client key");
  app->add_option("--curve-allowed-keys", o->curve_allowed_keys,
                  "file of allowed client public keys (one Z85 key a line), or a directory of "
                  "*.pub files");
  app->add_flag("--insecure-tcp", o->insecure_tcp,
                "allow tcp:// endpoints without CURVE (anyone who can connect can write files)");
  app->add_option("--ipc-mode", o->ipc_mode, "mode of ipc:// socket files, e.g. 0660");
  app->add_option("--ipc-group", o->ipc_group, "group of ipc:// socket files");
  app->add_option("--shm", o->shm,
                  "on: same-host clients may hand tensors over in shared memory (a memfd "
                  "registered on the side socket <ipc socket file>.shm) instead of copying them "
                  "through the ipc socket; off: frames only")
      ->capture_default_str();
  app->add_option("--output-root", t->output_roots,
                  "output directory (created if missing; repeatable): relative paths resolve "
                  "beneath the first, which also holds the manifest; with --paths roots an "
                  "absolute path is accepted only beneath one of them")
      ->capture_default_str();
  app->add_option("--paths", t->paths,
                  "roots: every file lands beneath an --output-root (a system service; the "
                  "client's working directory is ignored, '..' and links refused); caller: a "
                  "per-user daemon running as the user: relative paths resolve against each "
                  "client's working directory and absolute paths are taken as they are, as "
                  "torchvision.utils.save_image would (the kernel decides)")
      ->check(CLI::IsMember({"roots", "caller"}))
      ->capture_default_str();
  app->add_option("--manifest", t->manifest,
                  "on: append a JSON line per written file (path, job, time, bytes, crc32c, "
                  "meta) to <output-root>/manifest.jsonl")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app->add_option("--output-sync", t->output_sync,
                  "how a job's files are made durable (together, up to 64 at a time, before they "
                  "are renamed into place): fs: one syncfs of the output filesystem for their data "
                  "and one for their directory entries (fastest, but it also waits for other "
                  "programs' unwritten data on that filesystem, e.g. a checkpoint being saved; "
                  "needs Linux >= 5.8 to see write errors); file: fsync each file and each "
                  "directory once (waits only for the daemon's own files); the manifest follows suit "
                  "(syncfs, or fdatasync of manifest.jsonl)")
      ->check(CLI::IsMember({"fs", "file"}))
      ->capture_default_str();
  app->add_option("--tensorboard-logdir", o->tensorboard_logdir,
                  "directory beneath which saves with a TensorBoard target (imgsink.SummaryWriter) "
                  "append image summaries to their run's event file, this daemon being its one "
                  "writer; empty: such saves are refused.  With --paths roots a run (log_dir) is "
                  "beneath it (an absolute one only beneath it); with --paths caller a run "
                  "resolves as an image path does (against the client's working directory, or "
                  "absolute as given), as torch's SummaryWriter resolves log_dir")
      ->capture_default_str();
  app->add_option("--tensorboard-max-file-bytes", o->tensorboard_max_file_bytes,
                  "start a new event file in a run before one would grow past this size")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app->add_option("--workers", o->workers,
                  "stages computing at once (render, encode, write; one waiting for its "
                  "output's syncs does not count); 0 = one per core")
      ->capture_default_str();
  app->add_option("--max-request-bytes", o->max_request_bytes,
                  "largest tensor frame accepted, in bytes (a larger one than the budgets is refused "
                  "as too_large when it asks for credit)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app->add_option("--max-pixels-per-image", o->max_pixels_per_image,
                  "largest output image accepted, in pixels (width x height)")
      ->capture_default_str();
  app->add_option("--max-files-per-request", o->max_files_per_request,
                  "most files one save may write (mode each: the batch size); more is too_large")
      ->capture_default_str();
  app->add_option("--max-metadata-bytes", o->max_metadata_bytes,
                  "most metadata bytes (keys + values) per save; every file and manifest line "
                  "carries them, and files x metadata bytes is at most 16 MiB (too_large)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app->add_option("--max-pending-replies", o->max_pending_replies,
                  "replies and done events queued to one client that does not read; beyond "
                  "them its replies are dropped (its jobs still finish)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 24))
      ->capture_default_str();
  app->add_option("--journal", t->journal,
                  "on: acknowledge a job only once it is durable on disk; off: no durability "
                  "(benchmarks, or when losing queued images on a crash is fine)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app->add_option("--journal-dir", o->journal_dir, "directory of the job journal (outside --output-root, which may not lie in it either)")
      ->capture_default_str();
  app->add_option("--journal-recovery", t->recovery,
                  "strict: refuse to start on a corrupt journal record (naming file and offset); "
                  "skip-corrupt: skip such records, loudly")
      ->check(CLI::IsMember({"strict", "skip-corrupt"}))
      ->capture_default_str();
  app->add_option("--memory-budget", o->memory_budget,
                  "bytes of job data held in RAM (K/M/G suffixes are powers of 1024)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app->add_option("--journal-budget", o->journal_budget,
                  "bytes of journal on disk (K/M/G suffixes are powers of 1024; at least 1M; "
                  "segments are a quarter of it, 256K to 64M, sized at start: a reload may not "
                  "go under four of them)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app->add_option("--credit-ttl-ms", o->credit_ttl_ms,
                  "credit a client leaves unused this long is taken back")
      ->capture_default_str();
  app->add_option("--write-tries", o->write_tries,
                  "failed tries of a blocked output (ENOSPC, EIO, ...) logged as warnings; "
                  "later ones are logged as errors, one in this many.  An acknowledged job is "
                  "never dropped for a condition that can pass: new credit stops (clients see "
                  "busy) and the job is written once the output writes again")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app->add_option("--retry-max-delay-ms", o->retry_max_delay_ms,
                  "the wait between tries of a blocked output starts at 100 ms and doubles up to "
                  "this")
      ->check(CLI::Range(1, 3600000))
      ->capture_default_str();
  app->add_option("--metrics-listen", o->metrics_listen,
                  "serve Prometheus metrics on http://HOST:PORT/metrics, e.g. 127.0.0.1:9464 "
                  "(no auth: bind loopback); empty = off");
  app->add_option("--idle-exit", o->idle_exit_s,
                  "exit (draining, as on SIGTERM) after this many seconds with no client message "
                  "and no job in flight; 0 = never")
      ->check(CLI::Range(0, 31536000))  // up to a year
      ->capture_default_str();
  app->add_option("--log-level", o->log_level, "error, warning, notice, info or debug")
      ->check(CLI::IsMember({"error", "warning", "notice", "info", "debug"}))
      ->capture_default_str();
}

// The long option names given in `args` ("--name" or "--name=value").
std::set<std::string> GivenNames(const std::vector<std::string>& args) {
  std::set<std::string> names;
  for (const std::string& a : args) {
    if (a.rfind("--", 0) == 0) names.insert(a.substr(2, a.find('=') - 2));
  }
  return names;
}

// The value of --config in `args`, or "".
std::string ConfigPath(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) return args[i + 1];
    if (args[i].rfind("--config=", 0) == 0) return args[i].substr(9);
  }
  return "";
}

}  // namespace

std::optional<int> ParseCommandLine(const std::vector<std::string>& args, DaemonOptions* options) {
  CLI::App app{
      "imgsinkd: writes image tensors pushed by training processes as PNG/JPEG files,\n"
      "pixel-identical to torchvision.utils.save_image, without making training wait.",
      "imgsinkd"};
  TextOptions text;
  AddOptions(&app, options, &text);
  AddS3Options(&app, options, &text);
  std::vector<std::string> all;
  const std::string config = ConfigPath(args);
  if (!config.empty()) {
    std::set<std::string> known;
    for (const CLI::Option* opt : app.get_options()) {
      for (const std::string& name : opt->get_lnames()) known.insert(name);
    }
    known.erase("config");
    Status s = ConfigFileArgs(config, known, GivenNames(args), &all);
    if (!s.ok()) {
      std::cerr << "imgsinkd: " << s.message() << "\n";
      return 2;
    }
  }
  all.insert(all.end(), args.begin(), args.end());
  std::reverse(all.begin(), all.end());  // CLI11 takes a vector in reverse order
  try {
    app.parse(all);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help/version to stdout, errors to stderr
    return code == 0 ? 0 : 2;
  }
  options->journal = text.journal == "on";
  options->manifest = text.manifest == "on";
  options->output_sync = text.output_sync == "file" ? OutputSync::kFile : OutputSync::kFilesystem;
  options->journal_skip_corrupt = text.recovery == "skip-corrupt";
  options->caller_paths = text.paths == "caller";
  if (!text.output_roots.empty()) {
    options->output_root = text.output_roots[0];
    options->more_output_roots.assign(text.output_roots.begin() + 1, text.output_roots.end());
  }
  (void)ParseS3Addressing(text.s3_addressing, &options->s3.addressing);  // checked by CLI11
  return std::nullopt;
}

Status FinalizeOptions(DaemonOptions* options) {
  if (options->workers == 0) {
    options->workers = std::max(1u, std::thread::hardware_concurrency());
  }
  if (options->workers > 1024) return Status(ErrorCode::kBadOption, "--workers must be at most 1024");
  if (options->listen.empty() && options->inherited_sockets.empty()) {
    options->listen.push_back(DefaultEndpoint());
  }
  if (options->output_root.empty() ||
      std::any_of(options->more_output_roots.begin(), options->more_output_roots.end(),
                  [](const std::string& root) { return root.empty(); })) {
    return Status(ErrorCode::kBadOption, "--output-root must not be empty");
  }
  if (options->caller_paths && options->output_root.find("://") != std::string::npos) {
    return Status(ErrorCode::kBadOption, "--paths caller writes where each client's path points, on this "
                                         "machine: it needs a local --output-root, not " +
                                             options->output_root);
  }
  for (const std::string& root : options->more_output_roots) {
    if (root.find("://") != std::string::npos || options->output_root.find("://") != std::string::npos) {
      return Status(ErrorCode::kBadOption, "--output-root " + root +
                                               ": several output roots must all be local directories");
    }
  }
  if (options->tensorboard_max_file_bytes < 4096) {
    return Status(ErrorCode::kBadOption, "--tensorboard-max-file-bytes must be at least 4096");
  }
  // Each output adds its own counters to the status reply, which must stay under 16 KiB.
  constexpr size_t kMaxOutputs = 8;
  if (options->outputs.size() > kMaxOutputs) {
    return Status(ErrorCode::kBadOption, "at most " + std::to_string(kMaxOutputs) +
                                             " --output places (" +
                                             std::to_string(options->outputs.size()) + " given)");
  }
  for (const std::string& out : options->outputs) {
    if (out.empty() || out == options->output_root) {
      return Status(ErrorCode::kBadOption, "--output must name another place than --output-root");
    }
    if (out.rfind("s3://", 0) == 0) {
      if (options->caller_paths) {
        // Object keys are paths relative to an output root; a caller-mode daemon's files lie
        // anywhere the user may write.
        return Status(ErrorCode::kBadOption, "--output " + out + " needs --paths roots: an object's "
                                             "key is its path relative to an output root");
      }
      S3Location where;
      Status s = ParseS3Url(out, &where);
      if (!s.ok()) return s;
      S3Settings resolved = options->s3;
      s = ResolveS3Settings(&resolved);  // credentials and endpoint: fail at start, not upload
      if (!s.ok()) return s;
    }
  }
  if (options->max_request_bytes == 0 || options->max_pixels_per_image == 0 ||
      options->max_files_per_request == 0) {
    return Status(ErrorCode::kBadOption, "limits must be positive");
  }
  if (options->memory_budget == 0) {
    return Status(ErrorCode::kBadOption, "--memory-budget must be positive");
  }
  if (options->journal && options->journal_dir.empty()) {
    return Status(ErrorCode::kBadOption, "--journal-dir must not be empty");
  }
  if (options->journal && options->journal_budget < journal::kMinJournalBudget) {
    // Compaction deletes only sealed segments: a budget that cannot hold a few of them
    // would leave an idle daemon answering busy forever.
    return Status(ErrorCode::kBadOption,
                  "--journal-budget must be at least 1M (segments are a quarter of the budget, "
                  "at least 256K; compaction needs room for the active one)");
  }
  const bool any_tcp =
      std::any_of(options->listen.begin(), options->listen.end(), IsTcpEndpoint) ||
      std::any_of(options->inherited_sockets.begin(), options->inherited_sockets.end(),
                  [](const InheritedSocket& s) { return IsTcpEndpoint(s.endpoint); });
  if (any_tcp && options->curve_secret_key.empty() && !options->insecure_tcp) {
    return Status(ErrorCode::kBadOption,
                  "tcp:// endpoints need CURVE (--curve-secret-key and --curve-allowed-keys) or, "
                  "knowingly, --insecure-tcp");
  }
  if (!options->curve_secret_key.empty() && options->curve_allowed_keys.empty()) {
    return Status(ErrorCode::kBadOption,
                  "--curve-secret-key needs --curve-allowed-keys: without it any key would do");
  }
  if (!options->ipc_mode.empty()) {
    char* end = nullptr;
    const unsigned long mode = std::strtoul(options->ipc_mode.c_str(), &end, 8);
    if (*end != '\0' || mode > 0777) {
      return Status(ErrorCode::kBadOption, "--ipc-mode must be octal permission bits, e.g. 0660");
    }
  }
  return Status::OK();
}

bool IsTcpEndpoint(const std::string& endpoint) { return endpoint.rfind("tcp://", 0) == 0; }

}  // namespace imgsink::daemon
