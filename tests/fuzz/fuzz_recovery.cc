// libFuzzer harness: journal recovery (Journal::Open) over segment files made from the input.
// The first byte picks strict or skip-corrupt recovery and how many segments the rest is cut
// into (at the separator "IMGSINK-SEG", so a corpus file may hold several); each part becomes
// segment 1, 2, ... of a fresh journal directory under /dev/shm (or $TMPDIR).  Recovery must
// never crash, leak or read out of bounds, whatever the bytes; after a successful open the
// journal must accept a new job and reopen.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/journal/journal.h"
#include "daemon/journal/record_format.h"

namespace {

namespace fs = std::filesystem;
using namespace imgsink::daemon;

// The scratch directory of this process, removed when it exits (libFuzzer returns from main
// at -max_total_time / -runs, so static destructors run; a crash leaves it for inspection).
struct ScratchDir {
  std::string path;
  ScratchDir() {
    const char* shm = "/dev/shm";
    path = (access(shm, W_OK) == 0 ? std::string(shm) : fs::temp_directory_path().string()) +
           "/imgsink-fuzz-recovery-" + std::to_string(getpid());
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

const std::string& Base() {
  static const ScratchDir dir;
  return dir.path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t control = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string dir = Base() + "/j";
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  fs::create_directories(dir);
  constexpr std::string_view kSeparator = "IMGSINK-SEG";
  size_t start = 0;
  for (uint64_t seq = 1 + (control >> 4);; ++seq) {
    const size_t sep = rest.find(kSeparator, start);
    const std::string_view part = rest.substr(start, sep == std::string_view::npos ? std::string_view::npos : sep - start);
    std::ofstream(dir + "/" + journal::SegmentFileName(seq), std::ios::binary)
        .write(part.data(), std::streamsize(part.size()));
    if (sep == std::string_view::npos) break;
    start = sep + kSeparator.size();
  }
  journal::JournalOptions options;
  options.dir = dir;
  options.segment_bytes = 4096;
  options.recovery = (control & 1) ? journal::JournalOptions::Recovery::kSkipCorrupt
                                   : journal::JournalOptions::Recovery::kStrict;
  std::vector<journal::RecoveredJob> pending;
  journal::RecoveryReport report;
  std::unique_ptr<journal::Journal> j;
  const imgsink::Status s = journal::Journal::Open(DefaultEnv(), options, &pending, &report, &j);
  if (!s.ok()) return 0;
  const uint64_t id = j->AllocateJobId();
  if (id == 0 || id > (uint64_t{1} << 62) + 1) std::abort();  // ids never wrap (issue 12 row 11)
  for (const journal::RecoveredJob& job : pending) {
    if (job.job_id >= id) std::abort();
  }
  if (id > (uint64_t{1} << 62)) return 0;  // a forged floor: the next record would be impossible
  const uint8_t pixel = 7;
  j->AppendAccepted(id, {Bytes::Copy(&pixel, 1)}, nullptr);
  if (!j->Close().ok()) return 0;
  j.reset();
  pending.clear();
  // What recovery accepted and the journal then wrote must open again, in either mode.
  if (!journal::Journal::Open(DefaultEnv(), options, &pending, &report, &j).ok()) std::abort();
  return 0;
}
