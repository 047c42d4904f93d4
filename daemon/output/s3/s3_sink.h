// S3Sink: the output sink for "s3://bucket/prefix": each file becomes the object
// <prefix>/<path> (the path relative to the output root, as the local sink writes it), uploaded
// through S3Client with SigV4, Content-MD5 and x-amz-content-sha256.
//
// Durability: Commit returns OK only once the server confirmed every object of the batch (200
// to the PUT, or to CompleteMultipartUpload), so a job is done only when its objects are.
// Keys are deterministic, so a replay after a crash rewrites the same objects.  An object of
// at least multipart_threshold bytes goes up in parts (S3Multipart, s3_multipart.h); the
// upload id is recorded (MultipartLog) before the first part and Recover aborts every upload a
// crash left open (the job, still in the journal, is uploaded again whole).
//
// Errors: a store that does not answer, or answers 5xx / 429 / SlowDown after the client's
// retries, fails the batch with kWriteFailed, which IsRetryable() calls retryable: the core
// keeps the job journaled and tries again later, as for a full disk.  A key the store refuses
// (KeyTooLongError, or over 1024 bytes) is kBadPath, never retried.
//
// Memory: a batch holds the encoded files until the server confirms them.  It copies them only
// within SinkBatch::AllowCopies (the copy room validation charged the job to the memory budget,
// copies_in_ram()); the file past it is uploaded from the caller's encoder buffer, which the
// job's encode room covers, and ends the batch.  So upload bytes in flight are always charged.
// Manifest: lines are gathered and written as objects
// <prefix>/.imgsink/manifest/<run id>-<seq>.jsonl, one per manifest_lines_per_object lines or
// manifest_flush_ms, whichever comes first; AppendManifest's callback runs once that object
// is confirmed.
// Thread-safety: as OutputSink.
#pragma once

#include <memory>

#include "daemon/output/sink.h"

namespace imgsink::daemon {

// Opens the sink `options.root` ("s3://bucket/prefix") names, with options.s3.  Checks nothing
// on the network (the store may come up later).  Errors: kBadOption (the URL, the settings);
// kWriteFailed (the multipart record in options.s3.state_dir).
Status OpenS3Sink(const SinkOptions& options, std::unique_ptr<OutputSink>* out);

// The key of `rel_path` under `prefix` ("" or "runs/a": "runs/a/<rel_path>").
std::string S3KeyFor(const std::string& prefix, std::string_view rel_path);

}  // namespace imgsink::daemon
