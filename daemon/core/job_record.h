// JobRecord: the payload of a journal ACCEPTED record -- everything needed to redo a job with
// byte-identical output after a crash (daemon/journal/JOURNAL_FORMAT.md, "ACCEPTED payload").
//
// It stores the RENDERED pixels, not the tensor: uint8 pixels are a quarter of a float32
// tensor's bytes, so the journal's bandwidth goes 4x further, and replay needs only the
// (deterministic) encoders.  The save header is stored in the protocol's canonical msgpack form
// of the daemon that wrote it: since PROTOCOL.md omits keys at their default, older records hold
// every key, newer ones fewer; the protocol's decoder reads both to the same request (tested in
// tests/core/job_record_test.cc), so a journal survives the upgrade.
#pragma once

#include <cstdint>
#include <string>

#include "daemon/core/job.h"
#include "imgsink/proto/status.h"

namespace imgsink {

// The record's bytes before the pixels: client id, canonical save header, image geometry.  The
// full record is this prefix followed by the pixels of job.images in order, so the journal
// can write the pixel buffers in place (no copy).  REQUIRES: job rendered.
std::string EncodeJobRecordPrefix(const Job& job);

// Rebuilds a job (client, request, plan, images) from a whole record.  Returns kJournalFailed
// on a record that does not parse (after the journal's CRC that means a bug, not disk damage).
Status DecodeJobRecord(const uint8_t* data, size_t size, Job* job);

}  // namespace imgsink
