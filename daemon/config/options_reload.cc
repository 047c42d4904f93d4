// What a reload (SIGHUP) may change in a running daemon (options.h: OnlyReloadableDiffer,
// CheckReloadedJournalBudget).
#include "daemon/config/options.h"

#include <string>

#include "daemon/journal/journal_types.h"

namespace imgsink::daemon {

bool OnlyReloadableDiffer(const DaemonOptions& a, const DaemonOptions& b,
                          std::string* not_reloadable) {
  std::vector<std::string> differ;
  if (a.listen != b.listen || a.curve_secret_key != b.curve_secret_key ||
      a.curve_allowed_keys != b.curve_allowed_keys || a.insecure_tcp != b.insecure_tcp) {
    differ.push_back("listen/curve/insecure_tcp");
  }
  if (a.ipc_mode != b.ipc_mode || a.ipc_group != b.ipc_group) differ.push_back("ipc_mode/ipc_group");
  if (a.shm != b.shm) differ.push_back("shm");
  if (a.output_root != b.output_root || a.more_output_roots != b.more_output_roots ||
      a.caller_paths != b.caller_paths || a.manifest != b.manifest || a.output_sync != b.output_sync ||
      a.outputs != b.outputs || a.s3.endpoint != b.s3.endpoint || a.s3.region != b.s3.region ||
      a.s3.access_key_id != b.s3.access_key_id || a.s3.secret_access_key != b.s3.secret_access_key ||
      a.s3.session_token != b.s3.session_token || a.s3.addressing != b.s3.addressing) {
    differ.push_back("output_root/paths/output/s3/manifest/output_sync");
  }
  if (a.tensorboard_logdir != b.tensorboard_logdir ||
      a.tensorboard_max_file_bytes != b.tensorboard_max_file_bytes) {
    differ.push_back("tensorboard_logdir/tensorboard_max_file_bytes");
  }
  if (a.journal != b.journal || a.journal_dir != b.journal_dir) differ.push_back("journal/journal_dir");
  if (a.max_request_bytes != b.max_request_bytes) differ.push_back("max_request_bytes");
  if (a.max_pixels_per_image != b.max_pixels_per_image) differ.push_back("max_pixels_per_image");
  if (a.max_files_per_request != b.max_files_per_request ||
      a.max_metadata_bytes != b.max_metadata_bytes || a.max_pending_replies != b.max_pending_replies) {
    differ.push_back("max_files_per_request/max_metadata_bytes/max_pending_replies");
  }
  if (a.metrics_listen != b.metrics_listen) differ.push_back("metrics_listen");
  if (a.idle_exit_s != b.idle_exit_s) differ.push_back("idle_exit");
  if (a.write_tries != b.write_tries || a.retry_max_delay_ms != b.retry_max_delay_ms) {
    differ.push_back("write_tries/retry_max_delay_ms");
  }
  not_reloadable->clear();
  for (const std::string& d : differ) *not_reloadable += (not_reloadable->empty() ? "" : ", ") + d;
  return differ.empty();
}

Status CheckReloadedJournalBudget(const DaemonOptions& reloaded, uint64_t segment_bytes) {
  if (!reloaded.journal || segment_bytes == 0) return Status::OK();
  const uint64_t least = journal::MinJournalBudgetForSegments(segment_bytes);
  if (reloaded.journal_budget >= least) return Status::OK();
  // Compaction deletes only sealed segments, and the running journal keeps the segment size it
  // started with: under four of them an idle daemon could answer busy forever (issue 12 row 7).
  return Status(ErrorCode::kBadOption,
                "journal_budget " + std::to_string(reloaded.journal_budget) +
                    " is below " + std::to_string(least) + ", four of the " +
                    std::to_string(segment_bytes) +
                    "-byte journal segments this daemon started with (compaction needs room "
                    "for them); reload a budget of at least " + std::to_string(least) +
                    ", or restart the daemon with the lower budget (segments are sized at start)");
}

}  // namespace imgsink::daemon
