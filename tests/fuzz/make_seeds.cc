// Writes the seed corpora of the fuzz harnesses from the real encoders:
//   fuzz_make_seeds <tests/fuzz/corpus>
// (corpus/fuzz_header, corpus/fuzz_job_record, corpus/fuzz_recovery; committed, so rerun only
// when a format changes).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "daemon/journal/job_record.h"
#include "daemon/journal/journal.h"
#include "daemon/journal/record_format.h"
#include "imgsink/proto/codec.h"

namespace {

namespace fs = std::filesystem;
using namespace imgsink;
using namespace imgsink::daemon;

void Write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

SaveRequest Save(OutputMode mode) {
  SaveRequest r;
  r.request_id = 7;
  r.dtype = DType::kUint8;
  r.shape = {2, 3, 2, 2};
  r.path = mode == OutputMode::kEach ? "s/{step:04d}/{index}.png" : "grid.png";
  r.mode = mode;
  r.metadata = {{"step", "12"}, {"tag", "caf\xc3\xa9"}};
  return r;
}

// An ISJ3 record: n small files (their bytes need not be real PNGs: the decoder never reads them).
std::string JobRecord(OutputMode mode, size_t n) {
  std::vector<std::string> paths;
  std::vector<std::vector<uint8_t>> files;
  for (size_t i = 0; i < n; ++i) {
    paths.push_back(mode == OutputMode::kEach ? "s/0012/" + std::to_string(i) + ".png" : "grid.png");
    files.emplace_back(12 + i, uint8_t(40 * i));
  }
  std::string record =
      journal::EncodeJobRecordPrefix(std::string("\0client", 7), Save(mode), paths, files);
  for (const std::vector<uint8_t>& file : files) record.append(file.begin(), file.end());
  return record;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  Write(out / "fuzz_header" / "save_each", EncodeClientMessage(Save(OutputMode::kEach)));
  Write(out / "fuzz_header" / "save_grid", EncodeClientMessage(Save(OutputMode::kGrid)));
  Write(out / "fuzz_header" / "status", EncodeClientMessage(StatusRequest{9}));
  CreditRequest credit;
  credit.request_id = 10;
  credit.bytes = 4096;
  Write(out / "fuzz_header" / "credit", EncodeClientMessage(credit));
  Write(out / "fuzz_job_record" / "each", JobRecord(OutputMode::kEach, 2));
  Write(out / "fuzz_job_record" / "grid", JobRecord(OutputMode::kGrid, 1));

  // A journal of jobs 1..6 (3 and 5 done) over 400-byte segments (four of them).
  const fs::path dir = fs::temp_directory_path() / "imgsink-fuzz-seeds";
  fs::remove_all(dir);
  journal::JournalOptions options;
  options.dir = dir.string();
  options.segment_bytes = 400;
  std::vector<journal::RecoveredJob> pending;
  journal::RecoveryReport report;
  std::unique_ptr<journal::Journal> j;
  if (!journal::Journal::Open(DefaultEnv(), options, &pending, &report, &j).ok()) return 1;
  for (uint64_t id = 1; id <= 6; ++id) {
    const std::string record = JobRecord(OutputMode::kGrid, 1);
    j->AppendAccepted(id, {Bytes::Own(record)}, nullptr);
    if (id == 3 || id == 5) j->AppendDone(id, Status::OK());
    j->Flush();
  }
  j->Close();
  std::string joined;
  std::vector<fs::path> segments;
  for (const auto& entry : fs::directory_iterator(dir)) {
    uint64_t seq;
    if (journal::ParseSegmentFileName(entry.path().filename().string(), &seq)) segments.push_back(entry.path());
  }
  std::sort(segments.begin(), segments.end());
  for (size_t i = 0; i < segments.size(); ++i) joined += (i ? "IMGSINK-SEG" : "") + Read(segments[i]);
  Write(out / "fuzz_recovery" / "strict_all_segments", std::string(1, '\0') + joined);
  Write(out / "fuzz_recovery" / "skip_all_segments", std::string(1, '\1') + joined);
  if (!segments.empty()) Write(out / "fuzz_recovery" / "strict_one", std::string(1, '\0') + Read(segments[0]));
  fs::remove_all(dir);
  std::printf("seeds written to %s (%zu segments)\n", out.c_str(), segments.size());
  return 0;
}
