// DaemonOptions: every setting of imgsinkd in one struct.  Filled from defaults, then (later) a
// config file, then the command line; validated once by CheckOptions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "imgsink/proto/status.h"

namespace imgsink {

struct DaemonOptions {
  // ZeroMQ endpoints the ROUTER socket binds.  Empty means DefaultEndpoint().
  std::vector<std::string> listen;
  // Directory every output path is resolved beneath (created if missing).
  std::string output_root = "./imgsink-out";
  // Worker threads that render/encode/write.  0 means one per core.
  unsigned workers = 0;

  // Validation limits (see daemon/validate/validate.h).
  uint64_t max_request_bytes = uint64_t{1} << 30;      // tensor frame bytes per request
  uint64_t max_pixels_per_image = uint64_t{1} << 28;   // output pixels (width x height)

  // Durability (daemon/journal/JOURNAL_FORMAT.md).
  bool journal = true;  // false: jobs live in RAM only and are acked before anything is durable
  std::string journal_dir = "./imgsink-journal";
  bool journal_skip_corrupt = false;  // --journal-recovery=skip-corrupt

  // Budgets and flow control (daemon/admission/credit_ledger.h).
  uint64_t memory_budget = uint64_t{2} << 30;   // tensor/pixel bytes of jobs in RAM
  uint64_t journal_budget = uint64_t{8} << 30;  // bytes of journal on disk
  uint64_t credit_ttl_ms = 30000;               // unused credit is taken back after this
  int write_tries = 8;                          // attempts per output file (ENOSPC, EIO, ...)
  uint64_t retry_max_delay_ms = 30000;          // backoff between tries doubles up to this
};

// Parses argv into *options (starting from its current values).  Returns std::nullopt when the
// daemon should run, else the code to exit with: 0 after --help/--version (text printed to
// stdout), 2 after a usage error (message printed to stderr).
std::optional<int> ParseCommandLine(int argc, char** argv, DaemonOptions* options);

// Fills defaults that depend on the machine (workers = cores, listen = default endpoint) and
// returns OK iff the options are usable together.
Status FinalizeOptions(DaemonOptions* options);

}  // namespace imgsink
