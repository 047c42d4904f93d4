#include "test_util.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <stdexcept>

#include "daemon/journal/record_format.h"

namespace imgsink::daemon::journal::testing {

namespace fs = std::filesystem;

std::vector<uint8_t> PayloadFor(uint64_t job_id, size_t size, uint32_t salt) {
  std::vector<uint8_t> out(size);
  uint64_t x = job_id * 0x9E3779B97F4A7C15ull + salt + 1;
  for (size_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = uint8_t(x);
  }
  return out;
}

Status AcceptAndWait(Journal* j, uint64_t job_id, const std::vector<uint8_t>& payload) {
  std::promise<Status> done;
  auto f = done.get_future();
  j->AppendAccepted(job_id, {Bytes::Copy(payload.data(), payload.size())},
                    [&done](const Status& s) { done.set_value(s); });
  return f.get();
}

Status DoneAndWait(Journal* j, uint64_t job_id, const Status& outcome) {
  std::promise<Status> done;
  auto f = done.get_future();
  j->AppendDone(job_id, outcome, [&done](const Status& s) { done.set_value(s); });
  return f.get();
}

JournalOptions Options(const std::string& dir, uint64_t segment_bytes,
                       JournalOptions::Recovery mode) {
  JournalOptions o;
  o.dir = dir;
  o.segment_bytes = segment_bytes;
  o.recovery = mode;
  return o;
}

Opened OpenJournal(Env* env, const JournalOptions& options) {
  Opened o;
  o.status = Journal::Open(env, options, &o.pending, &o.report, &o.journal);
  return o;
}

std::vector<uint64_t> PendingIds(const std::vector<RecoveredJob>& pending) {
  std::vector<uint64_t> ids;
  for (const RecoveredJob& j : pending) ids.push_back(j.job_id);
  return ids;
}

std::vector<uint8_t> PayloadOf(const RecoveredJob& job) {
  return std::vector<uint8_t>(job.payload.data, job.payload.data + job.payload.size);
}

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    uint64_t seq;
    if (ParseSegmentFileName(e.path().filename().string(), &seq)) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

void CopyDir(const std::string& from, const std::string& to) {
  for (const auto& e : fs::directory_iterator(from)) {
    if (e.is_regular_file()) fs::copy_file(e.path(), fs::path(to) / e.path().filename());
  }
}

size_t Find(const std::vector<uint8_t>& hay, const std::vector<uint8_t>& needle) {
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end());
  return it == hay.end() ? std::string::npos : size_t(it - hay.begin());
}

}  // namespace imgsink::daemon::journal::testing
