// JobRecord: the payload of a journal ACCEPTED record -- everything needed to redo a job with
// byte-identical output after a crash (JOURNAL_FORMAT.md, "ACCEPTED payload: the job record").
// The journal owns this format (it is part of what a journal directory holds); the daemon's
// pipeline encodes it and its start-up decodes it, neither knows its bytes.
//
// It stores the ENCODED files (ISJ3), exactly the bytes the output gets: a JPEG is about 3 % of
// the pixels it encodes, a PNG about half, so the journal's bandwidth goes 2-30x further than
// with the rendered pixels that ISJ2 records held (themselves a quarter of a float32 tensor),
// and replay only writes.  Older records (ISJ1, ISJ2: pixels) are still read; their replay
// encodes again (the encoders are deterministic).  The save header is stored in the protocol's
// canonical msgpack form of the daemon that wrote it: since PROTOCOL.md omits keys at their
// default, older records hold every key, newer ones fewer; the protocol's decoder reads both to
// the same request (tested in tests/journal/job_record_test.cc), so a journal survives the
// upgrade.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/render/image.h"
#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"

namespace imgsink::daemon::journal {

// What a job record holds, decoded.
struct JobRecord {
  std::string client;         // the ROUTER routing id the job's done event goes to
  SaveRequest request;        // the save header, as the client sent it
  OutputFormat format = OutputFormat::kPng;  // the request's format, or the one its path implies
  // The files' bytes in output order (ISJ3), or, from an older record, the rendered images
  // (ISJ1, ISJ2); exactly one of the two is non-empty.
  std::vector<std::vector<uint8_t>> files;
  std::vector<Image> images;
  // File i's output path as validation resolved it when the job was accepted (relative to
  // the first output root, or absolute: imgsink/proto/paths.h ResolveOutputPath), so replay
  // writes the same files whatever the cwd and path mode of the restarted daemon.  (ISJ1
  // records, from before path modes: the request's path expanded again, relative.)
  std::vector<std::string> paths;
};

// Returns the record's bytes before the files: client id, canonical save header, the resolved
// output `paths` (one per file), the files' sizes.  The full record is this prefix followed by
// the bytes of `files` in order, so the caller can journal the files in place (no copy).
// Pure; thread-safe.
std::string EncodeJobRecordPrefix(const std::string& client, const SaveRequest& request,
                                  const std::vector<std::string>& paths,
                                  const std::vector<std::vector<uint8_t>>& files);

// Decodes a whole record into *record (paths included).  Returns kJournalFailed on a record that
// does not parse or whose file count does not fit its mode (after the journal's CRC that means
// a bug, not disk damage).  Pure; thread-safe.
Status DecodeJobRecord(const uint8_t* data, size_t size, JobRecord* record);

}  // namespace imgsink::daemon::journal
