// EventFile (daemon/output/tb_event_file.h): names, the version record first, rotation at the
// size limit, a torn tail cut off after a crash, replayed records not written twice.
#include "daemon/output/tb_event_file.h"

#include <unistd.h>

#include <algorithm>
#include <catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "daemon/output/tb_record.h"
#include "test_util/temp_dir.h"

namespace imgsink::daemon::tb {
namespace {

namespace fs = std::filesystem;

// A scratch directory (the tests' one TempDir) as a std::filesystem path.
struct Scratch {
  testutil::TempDir tmp{"tb-event"};
  fs::path dir{tmp.path()};
};

std::unique_ptr<EventFile> Open(const Scratch& s, uint64_t max_bytes) {
  std::unique_ptr<Directory> root, run;
  REQUIRE(DefaultEnv()->OpenDirectory(s.dir.string(), &root).ok());
  REQUIRE(root->OpenDirectory("run", true, &run).ok());
  EventFileOptions o;
  o.env = DefaultEnv();
  o.host = "testhost";
  o.max_file_bytes = max_bytes;
  return std::make_unique<EventFile>(o, std::move(run), (s.dir / "run").string());
}

std::vector<std::string> Files(const Scratch& s) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(s.dir / "run")) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The records of a file; *whole says whether every byte belongs to one.
std::vector<std::string> Records(const fs::path& p, bool* whole) {
  const std::string bytes = ReadAll(p);
  std::vector<std::string> out;
  const size_t end = ScanRecords(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                 [&](const uint8_t* d, size_t n) {
                                   out.emplace_back(reinterpret_cast<const char*>(d), n);
                                 });
  *whole = end == bytes.size();
  return out;
}

bool IsVersion(const std::string& event) {
  return event.size() >= 15 && event.substr(event.size() - 15) == std::string("\x1a\x0d") + "brain.Event:2";
}

std::vector<PendingRecord> Recs(std::vector<std::string> events, bool replayed = false) {
  std::vector<PendingRecord> out;
  for (auto& e : events) out.push_back(PendingRecord{std::move(e), replayed});
  return out;
}

TEST_CASE("the first append creates a TensorBoard-named file that starts with the version") {
  Scratch s;
  auto f = Open(s, 1 << 20);
  uint64_t n = 0;
  REQUIRE(f->Append(Recs({"a", "bb"}), &n).ok());
  CHECK(n == 2);
  const auto files = Files(s);
  REQUIRE(files.size() == 1);
  CHECK(files[0] == f->current());
  CHECK(IsOurEventFile(files[0], "testhost"));
  CHECK(files[0].rfind("events.out.tfevents.", 0) == 0);
  bool whole = false;
  const auto recs = Records(s.dir / "run" / files[0], &whole);
  CHECK(whole);
  REQUIRE(recs.size() == 3);
  CHECK(IsVersion(recs[0]));
  CHECK(recs[1] == "a");
  CHECK(recs[2] == "bb");
}

TEST_CASE("files rotate before a record would pass the size limit") {
  Scratch s;
  const uint64_t limit = 4096;
  auto f = Open(s, limit);
  const std::string payload(1000, 'x');
  uint64_t n = 0;
  for (int i = 0; i < 20; ++i) {
    REQUIRE(f->Append(Recs({payload + std::to_string(i)}), &n).ok());
  }
  const auto files = Files(s);
  CHECK(files.size() >= 5);
  int seen = 0;
  for (const auto& name : files) {
    CHECK(fs::file_size(s.dir / "run" / name) <= limit);
    bool whole = false;
    const auto recs = Records(s.dir / "run" / name, &whole);
    CHECK(whole);
    REQUIRE(!recs.empty());
    CHECK(IsVersion(recs[0]));
    for (size_t i = 1; i < recs.size(); ++i) CHECK(recs[i] == payload + std::to_string(seen++));
  }
  CHECK(seen == 20);
  CHECK(std::is_sorted(files.begin(), files.end()));
}

TEST_CASE("a record larger than the limit gets a file of its own") {
  Scratch s;
  auto f = Open(s, 4096);
  uint64_t n = 0;
  REQUIRE(f->Append(Recs({"small"}), &n).ok());
  REQUIRE(f->Append(Recs({std::string(10000, 'b')}), &n).ok());
  REQUIRE(f->Append(Recs({"small again"}), &n).ok());
  CHECK(Files(s).size() == 3);
}

TEST_CASE("after a crash a torn tail is cut off and appending goes on in the same file") {
  Scratch s;
  std::string name;
  {
    auto f = Open(s, 1 << 20);
    uint64_t n = 0;
    REQUIRE(f->Append(Recs({"one", "two"}), &n).ok());
    name = f->current();
  }
  const fs::path path = s.dir / "run" / name;
  std::string torn;
  AppendRecord("three, torn by the crash", &torn);
  {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out.write(torn.data(), std::streamsize(torn.size() - 5));
  }
  auto f = Open(s, 1 << 20);
  uint64_t n = 0;
  REQUIRE(f->Append(Recs({"four"}), &n).ok());
  CHECK(f->current() == name);
  bool whole = false;
  const auto recs = Records(path, &whole);
  CHECK(whole);
  REQUIRE(recs.size() == 4);
  CHECK(IsVersion(recs[0]));
  CHECK(recs[1] == "one");
  CHECK(recs[2] == "two");
  CHECK(recs[3] == "four");
}

TEST_CASE("a file whose version record was torn gets one again") {
  Scratch s;
  std::string name;
  {
    auto f = Open(s, 1 << 20);
    uint64_t n = 0;
    REQUIRE(f->Append(Recs({"one"}), &n).ok());
    name = f->current();
  }
  fs::resize_file(s.dir / "run" / name, 7);
  auto f = Open(s, 1 << 20);
  uint64_t n = 0;
  REQUIRE(f->Append(Recs({"two"}), &n).ok());
  bool whole = false;
  const auto recs = Records(s.dir / "run" / name, &whole);
  CHECK(whole);
  REQUIRE(recs.size() == 2);
  CHECK(IsVersion(recs[0]));
  CHECK(recs[1] == "two");
}

TEST_CASE("a replayed record already in the file is skipped once; fresh ones never are") {
  Scratch s;
  {
    auto f = Open(s, 1 << 20);
    uint64_t n = 0;
    REQUIRE(f->Append(Recs({"A", "B"}), &n).ok());
  }
  auto f = Open(s, 1 << 20);
  uint64_t n = 0;
  REQUIRE(f->Append(Recs({"A"}, /*replayed=*/true), &n).ok());
  CHECK(n == 0);
  REQUIRE(f->Append(Recs({"B"}, /*replayed=*/false), &n).ok());  // a new job: written
  CHECK(n == 1);
  REQUIRE(f->Append(Recs({"B", "A", "C"}, /*replayed=*/true), &n).ok());
  CHECK(n == 2);  // B skipped (one earlier copy), A (its one copy already used) and C written
  bool whole = false;
  const auto recs = Records(s.dir / "run" / f->current(), &whole);
  CHECK(whole);
  CHECK(recs == std::vector<std::string>{recs[0], "A", "B", "B", "A", "C"});
}

TEST_CASE("files of other writers are left alone") {
  Scratch s;
  fs::create_directories(s.dir / "run");
  const fs::path other = s.dir / "run" / "events.out.tfevents.1700000000.otherhost.1234.0";
  { std::ofstream(other) << "not ours"; }
  auto f = Open(s, 1 << 20);
  uint64_t n = 0;
  REQUIRE(f->Append(Recs({"x"}), &n).ok());
  CHECK(ReadAll(other) == "not ours");
  CHECK(Files(s).size() == 2);
  CHECK(!IsOurEventFile(other.filename(), "testhost"));
}

}  // namespace
}  // namespace imgsink::daemon::tb

namespace imgsink::daemon::tb {
namespace {

TEST_CASE("a newest file another writer holds locked is left to it") {
  Scratch s;
  std::string theirs;
  {
    auto f = Open(s, 1 << 20);
    uint64_t n = 0;
    REQUIRE(f->Append(Recs({"theirs"}), &n).ok());
    theirs = f->current();
    // `f` still holds the lock: it is the other daemon of this host.
    auto g = Open(s, 1 << 20);
    REQUIRE(g->Append(Recs({"ours"}), &n).ok());
    CHECK(g->current() != theirs);
    bool whole = false;
    CHECK(Records(s.dir / "run" / theirs, &whole).size() == 2);
    CHECK(Records(s.dir / "run" / g->current(), &whole).size() == 2);
  }
  CHECK(Files(s).size() == 2);
}

}  // namespace
}  // namespace imgsink::daemon::tb
