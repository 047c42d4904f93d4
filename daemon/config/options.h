// DaemonOptions: every setting of imgsinkd in one struct.  Filled from defaults, then (later) a
// config file, then the command line; validated once by CheckOptions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/output/output_sync.h"
#include "daemon/output/s3/s3_settings.h"
#include "daemon/service/listen_fds.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon {

struct DaemonOptions {
  // The TOML file the options were read from (--config), empty for none.
  std::string config_file;
  // --check-config: validate, print the effective configuration, exit.
  bool check_config = false;

  // ZeroMQ endpoints the ROUTER socket binds.  Empty means DefaultEndpoint(), unless sockets
  // were inherited.
  std::vector<std::string> listen;
  // Listening sockets handed over by the service manager (socket activation).  Not a setting:
  // main() fills it before FinalizeOptions.  Their endpoints are listened on too (through the
  // inherited fd, with ZMQ_USE_FD), under the same rules as `listen` (tcp needs CURVE).
  std::vector<InheritedSocket> inherited_sockets;
  // The first --output-root: relative output paths resolve beneath it (created if missing), and
  // the manifest lives there.
  std::string output_root = "./imgsink-out";
  // The further --output-root directories (repeatable; config: output_root = [..]): absolute
  // output paths beneath one of them are accepted too.
  std::vector<std::string> more_output_roots;
  // --paths caller: a per-user daemon resolving relative paths against each client's cwd and
  // taking absolute paths as they are (imgsink/proto/paths.h PathMode::kCaller); false: the
  // confined --paths roots.
  bool caller_paths = false;
  // More sinks that get every file too (--output, repeatable): "s3://bucket/prefix" or another
  // directory.  A job is done only when every sink has its files.
  std::vector<std::string> outputs;
  // s3:// outputs: endpoint, credentials and limits (--s3-*; unset ones come from the AWS_*
  // variables when the sink opens).  The secret and the token are never printed.
  S3Settings s3;
  // Append a line per written file to <output_root>/manifest.jsonl (durably).
  bool manifest = true;
  // How output files are made durable (--output-sync fs | file; daemon/output/output_sync.h).
  OutputSync output_sync = OutputSync::kFilesystem;
  // Directory beneath which "tb" saves append image summaries to each run's TensorBoard event
  // file (daemon/output/TB_EVENT_FORMAT.md); "" = off (tb saves are refused).  With
  // --paths caller a run resolves against the client's cwd (or is absolute) and only a run
  // sent without a cwd lands beneath it (tb_sink.h TensorBoardPathRules).
  std::string tensorboard_logdir;
  // An event file is rotated (a new one started) before a record would take it past this size.
  uint64_t tensorboard_max_file_bytes = uint64_t{128} << 20;
  // Worker threads that render/encode/write.  0 means one per core.
  unsigned workers = 0;

  // Validation limits (see daemon/validate/validate.h).
  uint64_t max_request_bytes = uint64_t{1} << 30;      // tensor frame bytes per request
  uint64_t max_pixels_per_image = uint64_t{1} << 28;   // output pixels (width x height)
  uint64_t max_files_per_request = 4096;                // files one save may write (mode each)
  uint64_t max_metadata_bytes = 16 * 1024;             // metadata keys + values per save
  // Messages queued to one client that does not read before its replies are dropped.
  uint64_t max_pending_replies = 1000;

  // Durability (daemon/journal/JOURNAL_FORMAT.md).
  bool journal = true;  // false: jobs live in RAM only and are acked before anything is durable
  std::string journal_dir = "./imgsink-journal";
  bool journal_skip_corrupt = false;  // --journal-recovery=skip-corrupt

  // Budgets and flow control (daemon/admission/credit_ledger.h).
  uint64_t memory_budget = uint64_t{2} << 30;   // tensor/pixel bytes of jobs in RAM
  uint64_t journal_budget = uint64_t{8} << 30;  // bytes of journal on disk
  uint64_t credit_ttl_ms = 30000;               // unused credit is taken back after this
  int write_tries = 8;                          // tries of a blocked output logged as warnings
  uint64_t retry_max_delay_ms = 30000;          // backoff between tries doubles up to this

  // tcp:// endpoints: CURVE (this daemon's secret key file; the allowed client public keys, a
  // file or a directory of *.pub files), or plain only with insecure_tcp.
  std::string curve_secret_key;
  std::string curve_allowed_keys;
  bool insecure_tcp = false;

  // ipc:// socket files: mode (octal text, e.g. "0660") and group; empty keeps the defaults.
  std::string ipc_mode;
  std::string ipc_group;
  // Same-host clients may hand tensors over in shared memory (a side socket next to each ipc://
  // socket file; PROTOCOL.md "Shared-memory hand-off").
  bool shm = true;

  std::string log_level = "info";  // error, warning, notice, info, debug

  // Exit (draining, as on SIGTERM) after this many seconds with no client message and no job
  // in flight; 0 = never.  For a per-user daemon started on demand by a client.
  uint64_t idle_exit_s = 0;

  // HOST:PORT to serve Prometheus metrics on (GET /metrics; daemon/metrics/README.md); "" = off.
  std::string metrics_listen;
};

// Returns true iff `endpoint` is a tcp:// endpoint (which needs CURVE or insecure_tcp).
bool IsTcpEndpoint(const std::string& endpoint);

// Returns true iff `running` and `reloaded` differ only in what SIGHUP applies to a running
// daemon (memory_budget, journal_budget, credit_ttl_ms, workers, log_level); else names the others in
// *not_reloadable (they need a restart).  REQUIRES: both finalized.
bool OnlyReloadableDiffer(const DaemonOptions& running, const DaemonOptions& reloaded,
                          std::string* not_reloadable);

// Returns OK iff `reloaded`'s journal budget suits the running journal, whose segments were
// sized at start (`segment_bytes`; 0: no journal): at least MinJournalBudgetForSegments of
// them.  Else kBadOption saying the least budget the running daemon takes and that a restart
// picks smaller segments.  REQUIRES: reloaded is finalized.
Status CheckReloadedJournalBudget(const DaemonOptions& reloaded, uint64_t segment_bytes);

// The effective configuration as TOML (what --check-config prints).
std::string FormatConfig(const DaemonOptions& options);

// Parses the command line `args` (without the program name) and the --config file it names
// into *options (starting from defaults): flags > file > defaults.  Returns std::nullopt when
// the daemon should run, else the code to exit with: 0 after --help/--version (text printed
// to stdout), 2 after a usage or config error (message printed to stderr).
std::optional<int> ParseCommandLine(const std::vector<std::string>& args, DaemonOptions* options);

// Fills defaults that depend on the machine (workers = cores, listen = default endpoint) and
// returns OK iff the options are usable together.
Status FinalizeOptions(DaemonOptions* options);

}  // namespace imgsink::daemon
