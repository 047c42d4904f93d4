// LocalSink: the output sink for a directory on a local file system: OutputRoot and WriteGroup
// (atomic, durable, never through a symbolic link) and manifest.jsonl in the root, every file
// through the Env.
// Thread-safety: as OutputSink.
#pragma once

#include <memory>

#include "daemon/output/sink.h"

namespace imgsink::daemon {

// Opens (creating) the directory `options.root`, and its manifest if `options.manifest`.
// Errors: kWriteFailed naming the directory or the manifest and the errno.
Status OpenLocalSink(const SinkOptions& options, std::unique_ptr<OutputSink>* out);

}  // namespace imgsink::daemon
