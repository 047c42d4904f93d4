// TeeSink: several output sinks as one (--output-root and each --output): every file goes to
// every sink, and a batch is committed only when it is committed in all of them, so a job is
// done only when each sink has its files (the local disk and the object store alike).
//
// A failed batch is redone whole in every sink (rewriting a file or object already in place
// is harmless: the paths and keys are the same).  IsRetryable: retryable iff a sink that could
// have produced the error calls it retryable.  The manifest goes to every sink that keeps one;
// its callback runs once all of them are done (with the first error).  Counters: the sums,
// and each sink's own (AddSinkCounters).
// Thread-safety: as OutputSink.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "daemon/output/sink.h"

namespace imgsink::daemon {

// Adds each of one sink's counters `own` to *counters as "sink.<index>.<key>": the status
// reply's per-output keys (index 0: --output-root, 1...: each --output in order).
void AddSinkCounters(const std::map<std::string, uint64_t>& own, size_t index,
                     std::map<std::string, uint64_t>* counters);

// REQUIRES: sinks.size() >= 2.
std::unique_ptr<OutputSink> MakeTeeSink(std::vector<std::unique_ptr<OutputSink>> sinks);

}  // namespace imgsink::daemon
