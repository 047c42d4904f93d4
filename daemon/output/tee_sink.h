// TeeSink: several output sinks as one (--output-root and each --output): every file goes to
// every sink, and a batch is committed only when it is committed in all of them, so a job is
// done only when each sink has its files (the local disk and the object store alike).
//
// A failed batch is redone whole in every sink (rewriting a file or object already in place
// is harmless: the paths and keys are the same).  IsRetryable: retryable iff a sink that could
// have produced the error calls it retryable.  The manifest goes to every sink that keeps one;
// its callback runs once all of them are done (with the first error).
// Thread-safety: as OutputSink.
#pragma once

#include <memory>
#include <vector>

#include "daemon/output/sink.h"

namespace imgsink::daemon {

// REQUIRES: sinks.size() >= 2.
std::unique_ptr<OutputSink> MakeTeeSink(std::vector<std::unique_ptr<OutputSink>> sinks);

}  // namespace imgsink::daemon
