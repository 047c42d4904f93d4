// libFuzzer harness: the journal's job-record decoder (the payload of an ACCEPTED record, read
// back at start-up).  A record passes the journal's CRC, but a journal may come from a damaged
// disk, another build or an adversary who can write the journal directory.
#include <cstddef>
#include <cstdint>

#include "daemon/journal/job_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  imgsink::daemon::journal::JobRecord record;
  (void)imgsink::daemon::journal::DecodeJobRecord(data, size, &record);
  return 0;
}
