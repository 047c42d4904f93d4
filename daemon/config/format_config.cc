// The effective configuration as TOML, what --check-config prints (options.h: FormatConfig).
// Secrets are never printed, only whether one is set.
#include "daemon/config/options.h"

#include <sstream>
#include <string>

namespace imgsink::daemon {

std::string FormatConfig(const DaemonOptions& o) {
  std::ostringstream out;
  auto str = [&](const char* key, const std::string& v) { out << key << " = \"" << v << "\"\n"; };
  auto num = [&](const char* key, uint64_t v) { out << key << " = " << v << "\n"; };
  out << "listen = [";
  for (size_t i = 0; i < o.listen.size(); ++i) out << (i ? ", " : "") << '"' << o.listen[i] << '"';
  out << "]\n";
  str("curve_secret_key", o.curve_secret_key);
  str("curve_allowed_keys", o.curve_allowed_keys);
  out << "insecure_tcp = " << (o.insecure_tcp ? "true" : "false") << "\n";
  str("ipc_mode", o.ipc_mode);
  str("ipc_group", o.ipc_group);
  out << "shm = " << (o.shm ? "true" : "false") << "\n";
  if (o.more_output_roots.empty()) {
    str("output_root", o.output_root);
  } else {
    out << "output_root = [\"" << o.output_root << '"';
    for (const std::string& root : o.more_output_roots) out << ", \"" << root << '"';
    out << "]\n";
  }
  str("paths", o.caller_paths ? "caller" : "roots");
  out << "output = [";
  for (size_t i = 0; i < o.outputs.size(); ++i) out << (i ? ", " : "") << '"' << o.outputs[i] << '"';
  out << "]\n";
  if (!o.outputs.empty()) {
    str("s3_endpoint", o.s3.endpoint);
    str("s3_region", o.s3.region);
    str("s3_access_key_id", o.s3.access_key_id);
    // Secrets are never printed: only whether one is set in the options.
    str("s3_secret_access_key", o.s3.secret_access_key.empty() ? "" : "(set)");
    str("s3_session_token", o.s3.session_token.empty() ? "" : "(set)");
    str("s3_addressing", o.s3.addressing == S3Addressing::kPath
                             ? "path"
                             : o.s3.addressing == S3Addressing::kVirtualHost ? "virtual" : "auto");
    num("s3_connections", o.s3.max_connections);
    num("s3_tries", uint64_t(o.s3.tries));
    num("s3_timeout_ms", o.s3.stall_timeout_ms);
    num("s3_multipart_threshold", o.s3.multipart_threshold);
    num("s3_part_size", o.s3.part_size);
    num("s3_manifest_lines", o.s3.manifest_lines_per_object);
    num("s3_manifest_flush_ms", o.s3.manifest_flush_ms);
  }
  str("manifest", o.manifest ? "on" : "off");
  str("output_sync", o.output_sync == OutputSync::kFile ? "file" : "fs");
  str("tensorboard_logdir", o.tensorboard_logdir);
  num("tensorboard_max_file_bytes", o.tensorboard_max_file_bytes);
  num("workers", o.workers);
  num("max_request_bytes", o.max_request_bytes);
  num("max_pixels_per_image", o.max_pixels_per_image);
  num("max_files_per_request", o.max_files_per_request);
  num("max_metadata_bytes", o.max_metadata_bytes);
  num("max_pending_replies", o.max_pending_replies);
  str("journal", o.journal ? "on" : "off");
  str("journal_dir", o.journal_dir);
  str("journal_recovery", o.journal_skip_corrupt ? "skip-corrupt" : "strict");
  num("memory_budget", o.memory_budget);
  num("journal_budget", o.journal_budget);
  num("credit_ttl_ms", o.credit_ttl_ms);
  num("write_tries", uint64_t(o.write_tries));
  num("retry_max_delay_ms", o.retry_max_delay_ms);
  str("log_level", o.log_level);
  str("metrics_listen", o.metrics_listen);
  num("idle_exit", o.idle_exit_s);
  return out.str();
}

}  // namespace imgsink::daemon
