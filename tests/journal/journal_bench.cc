// journal_bench: CRC32C speed, journal throughput and acknowledgement latency on a real disk.
// Usage: journal_bench [DIR]   (default: a fresh directory under /tmp, removed afterwards)
// Not a ctest test: the figures depend on the machine.  JOURNAL_FORMAT.md quotes a run.
#include <stdlib.h>
#include <sys/vfs.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/journal/crc32c.h"
#include "daemon/journal/journal.h"

namespace ij = imgsink::daemon::journal;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

const char* FsName(const std::string& dir) {
  struct statfs st;
  if (::statfs(dir.c_str(), &st) != 0) return "unknown";
  switch (static_cast<unsigned long>(st.f_type)) {
    case 0xEF53: return "ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794C7630: return "overlayfs";
    default: return "other";
  }
}

void BenchCrc() {
  std::vector<uint8_t> buf(size_t(64) * 3 * 256 * 256 * 4);  // a float32 batch: 50.3 MB
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = uint8_t(i * 2654435761u >> 13);
  uint32_t crc = 0;
  auto t0 = Clock::now();
  constexpr int kRounds = 4;
  for (int r = 0; r < kRounds; ++r) crc = ij::Crc32cOf(buf.data(), buf.size());
  double s = Seconds(Clock::now() - t0);
  std::printf("crc32c (ISA-L crc32_iscsi): %.0f MB/s  (%.1f ms per 50.3 MB float32 batch, "
              "%.1f ms per 12.6 MB uint8 batch)  [%08x]\n",
              kRounds * buf.size() / s / 1e6, s / kRounds * 1e3, s / kRounds * 1e3 / 4, crc);
}

// The disk without the journal: append `size` bytes and fdatasync, `count` times.
void BenchRawDisk(const std::string& dir, size_t size, int count) {
  std::filesystem::create_directories(dir);
  std::unique_ptr<imgsink::daemon::WritableFile> f;
  std::string path = dir + "/raw";
  if (!imgsink::daemon::DefaultEnv()->NewWritableFile(path, &f).ok()) std::exit(1);
  std::vector<uint8_t> buf(size, 3);
  auto t0 = Clock::now();
  for (int i = 0; i < count; ++i) {
    if (!f->Append(imgsink::daemon::ByteSpan{buf.data(), buf.size()}).ok() || !f->Sync().ok()) {
      std::exit(1);
    }
  }
  double s = Seconds(Clock::now() - t0);
  f->Close();
  std::filesystem::remove(path);
  std::printf("raw disk, write %7.1f KB + fdatasync x %d: %.0f MB/s, %.0f syncs/s\n", size / 1e3,
              count, double(size) * count / s / 1e6, count / s);
}

std::unique_ptr<ij::Journal> OpenFresh(const std::string& dir) {
  std::filesystem::remove_all(dir);
  ij::JournalOptions o;
  o.dir = dir;
  std::vector<ij::RecoveredJob> pending;
  ij::RecoveryReport report;
  std::unique_ptr<ij::Journal> j;
  imgsink::Status s = ij::Journal::Open(imgsink::daemon::DefaultEnv(), o, &pending, &report, &j);
  if (!s.ok()) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(), s.message().c_str());
    std::exit(1);
  }
  return j;
}

// `threads` appenders keep `depth` records of `size` bytes in flight each, until `count`
// records are durable; each acknowledged job gets a DONE, as in the daemon.
void BenchThroughput(const std::string& dir, size_t size, int count, int threads, int depth) {
  auto j = OpenFresh(dir);
  auto pixels = std::make_shared<std::vector<uint8_t>>(size, uint8_t(7));
  imgsink::daemon::Bytes payload{pixels->data(), pixels->size(), pixels};
  std::mutex mu;
  std::condition_variable cv;
  int issued = 0, acked = 0;
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      std::unique_lock<std::mutex> l(mu);
      for (;;) {
        cv.wait(l, [&] { return issued - acked < threads * depth || issued == count; });
        if (issued == count) return;
        ++issued;
        l.unlock();
        uint64_t id = j->AllocateJobId();
        j->AppendAccepted(id, {payload}, [&, id](const imgsink::Status& s) {
          if (!s.ok()) std::abort();
          j->AppendDone(id, imgsink::Status::OK());
          std::lock_guard<std::mutex> g(mu);
          ++acked;
          cv.notify_all();
        });
        l.lock();
      }
    });
  }
  for (auto& t : ts) t.join();
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return acked == count; });
  }
  double s = Seconds(Clock::now() - t0);
  j->Flush();
  ij::JournalCounters c = j->counters();
  std::printf("append %7.1f KB records x %d (%d threads x %d in flight): %.0f MB/s, %.0f syncs/s, "
              "%.1f records/batch, %.0f ms total; on disk after: %.1f MB\n",
              size / 1e3, count, threads, depth, double(size) * count / s / 1e6, c.syncs / s,
              double(c.records_written) / double(c.batches), s * 1e3, c.bytes_on_disk / 1e6);
}

void BenchLatency(const std::string& dir, int threads, int per_thread, size_t size) {
  auto j = OpenFresh(dir);
  std::vector<uint8_t> body(size, 1);
  std::vector<std::vector<double>> lat(threads);
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        uint64_t id = j->AllocateJobId();
        std::promise<void> done;
        auto start = Clock::now();
        j->AppendAccepted(id, {imgsink::daemon::Bytes::Copy(body.data(), body.size())},
                          [&](const imgsink::Status& s) {
                            if (!s.ok()) std::abort();
                            done.set_value();
                          });
        done.get_future().wait();
        lat[t].push_back(Seconds(Clock::now() - start) * 1e3);
        j->AppendDone(id, imgsink::Status::OK());
      }
    });
  }
  for (auto& t : ts) t.join();
  double s = Seconds(Clock::now() - t0);
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all[std::min(all.size() - 1, size_t(p * all.size()))]; };
  j->Flush();
  ij::JournalCounters c = j->counters();
  std::printf("ack latency, %zu B records, %2d appenders: p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
              "%.0f acks/s, %.0f syncs/s, %.1f records/batch\n",
              size, threads, pct(0.50), pct(0.99), all.back(), all.size() / s, c.syncs / s,
              double(c.records_written) / double(c.batches));
}

}  // namespace

int main(int argc, char** argv) {
  std::string base;
  bool remove = false;
  if (argc > 1) {
    base = argv[1];
  } else {
    char tmpl[] = "/tmp/journal-bench-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return 1;
    base = tmpl;
    remove = true;
  }
  std::printf("journal_bench in %s (%s), %u hardware threads\n", base.c_str(), FsName(base),
              std::thread::hardware_concurrency());
  BenchCrc();
  const std::string dir = base + "/journal";
  BenchRawDisk(base + "/raw", size_t(64) * 3 * 256 * 256, 40);
  BenchRawDisk(base + "/raw", 200 * 1000, 500);
  BenchRawDisk(base + "/raw", 1024, 300);
  BenchThroughput(dir, size_t(64) * 3 * 256 * 256, 40, 2, 2);  // uint8 64x3x256x256
  BenchThroughput(dir, 200 * 1000, 2000, 4, 4);
  BenchLatency(dir, 1, 300, 1024);
  BenchLatency(dir, 8, 300, 1024);
  BenchLatency(dir, 32, 100, 1024);
  if (remove) std::filesystem::remove_all(base);
  return 0;
}
