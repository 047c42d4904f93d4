#include "daemon/journal/job_record.h"

#include <catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "test_util/old_save_header.h"

namespace imgsink::daemon::journal {
namespace {

JobRecord EncodedJob() {
  JobRecord job;
  job.client = std::string("\x01\x02\x00\x03", 4);
  job.request.request_id = 77;
  job.request.dtype = DType::kFloat32;
  job.request.shape = {2, 3, 2, 2};
  job.request.path = "s/{index:02d}.jpg";
  job.request.mode = OutputMode::kEach;
  job.request.metadata = {{"step", "12"}};
  job.request.cwd = "/home/u/run";
  job.paths = {"/home/u/run/s/00.jpg", "/home/u/run/s/01.jpg"};  // as a --paths caller daemon resolved them
  job.files = {std::vector<uint8_t>{0xff, 0xd8, 1, 2, 3}, std::vector<uint8_t>(300, 7)};
  return job;
}

std::string WholeRecord(const JobRecord& job) {
  std::string record = EncodeJobRecordPrefix(job.client, job.request, job.paths, job.files);
  for (const std::vector<uint8_t>& file : job.files) record.append(file.begin(), file.end());
  return record;
}

template <typename T>
void PutLe(std::string* out, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) out->push_back(char(uint64_t(value) >> (8 * i)));
}

TEST_CASE("a job record round-trips the client, request, paths and files", "[journal][job_record]") {
  const JobRecord job = EncodedJob();
  const std::string record = WholeRecord(job);
  CHECK(record.substr(0, 4) == "ISJ3");
  // The files are the record's last bytes, as they are: the journal writes them in place.
  CHECK(record.substr(record.size() - 305, 5) == std::string("\xff\xd8\x01\x02\x03", 5));
  JobRecord back;
  REQUIRE(DecodeJobRecord(reinterpret_cast<const uint8_t*>(record.data()), record.size(), &back).ok());
  CHECK(back.client == job.client);
  CHECK(back.request.request_id == 77);
  CHECK(back.request.path == job.request.path);
  CHECK(back.request.metadata == job.request.metadata);
  CHECK(back.request.mode == OutputMode::kEach);
  CHECK(back.request.dtype == DType::kFloat32);
  CHECK(back.request.shape == job.request.shape);
  CHECK(back.format == OutputFormat::kJpeg);  // inferred from the path: the request has none
  CHECK(back.images.empty());
  CHECK(back.files == job.files);
  CHECK(back.request.cwd == "/home/u/run");
  // The paths resolved at acceptance, not expanded again (that would give "s/00.jpg").
  CHECK(back.paths == job.paths);
}

TEST_CASE("a record of the pixels era (ISJ2) still replays from its pixels", "[journal][job_record]") {
  // Written by daemons before records held the encoded files: the same prefix up to the paths,
  // then an image table and the rendered pixels.
  const JobRecord job = EncodedJob();
  std::string record = EncodeJobRecordPrefix(job.client, job.request, job.paths, {});
  record.resize(record.size() - 4);  // without the (empty) file table
  record[3] = '2';
  PutLe<uint32_t>(&record, 2);
  for (int i = 0; i < 2; ++i) {  // 2x2 RGB, 8 bits
    PutLe<uint32_t>(&record, 2);
    PutLe<uint32_t>(&record, 2);
    PutLe<uint8_t>(&record, 3);
    PutLe<uint8_t>(&record, 8);
    PutLe<uint64_t>(&record, 12);
  }
  record += std::string(12, '\x01') + std::string(12, '\x0b');
  JobRecord back;
  REQUIRE(DecodeJobRecord(reinterpret_cast<const uint8_t*>(record.data()), record.size(), &back).ok());
  CHECK(back.files.empty());
  REQUIRE(back.images.size() == 2);
  CHECK(back.images[1].pixels == std::vector<uint8_t>(12, 11));
  CHECK(back.images[1].width == 2);
  CHECK(back.images[1].channels == 3);
  CHECK(back.paths == job.paths);
  CHECK(back.format == OutputFormat::kJpeg);
  // One pixel short: refused like any record that does not parse.
  CHECK(DecodeJobRecord(reinterpret_cast<const uint8_t*>(record.data()), record.size() - 1, &back)
            .code() == ErrorCode::kJournalFailed);
}

TEST_CASE("a record whose file count does not fit its mode is refused", "[journal][job_record]") {
  JobRecord job = EncodedJob();
  job.request.mode = OutputMode::kGrid;
  job.request.path = "grid.png";
  job.paths = {"grid.png", "grid.png"};
  const std::string record = WholeRecord(job);  // two files for one grid
  JobRecord back;
  CHECK(DecodeJobRecord(reinterpret_cast<const uint8_t*>(record.data()), record.size(), &back).code() ==
        ErrorCode::kJournalFailed);
  job.files.resize(1);
  job.paths.resize(1);
  const std::string one = WholeRecord(job);
  REQUIRE(DecodeJobRecord(reinterpret_cast<const uint8_t*>(one.data()), one.size(), &back).ok());
  CHECK(back.paths == std::vector<std::string>{"grid.png"});
}

TEST_CASE("a record's explicit format wins over its path's extension", "[journal][job_record]") {
  JobRecord job = EncodedJob();
  job.request.format = OutputFormat::kPng;
  const std::string record = WholeRecord(job);
  JobRecord back;
  REQUIRE(DecodeJobRecord(reinterpret_cast<const uint8_t*>(record.data()), record.size(), &back).ok());
  CHECK(back.format == OutputFormat::kPng);
}

TEST_CASE("a record journaled before save headers omitted defaults still replays", "[journal][job_record]") {
  // The save header inside a job record is the canonical encoding of its day.  Until defaults
  // were omitted that was every key (25); such records must still decode after an upgrade.
  // The header is proto/vectors' save_minimal_canonical as it was then (old_save_header.h).
  const std::string old_header = [] {
    const char* hex = testutil::kEveryKeySaveHeaderHex;
    std::string bytes;
    for (size_t i = 0; hex[i] != 0; i += 2) {
      bytes.push_back(char(std::stoi(std::string(hex + i, 2), nullptr, 16)));
    }
    return bytes;
  }();
  std::string record = "ISJ1";
  PutLe<uint16_t>(&record, 2);
  record += "c7";
  PutLe<uint32_t>(&record, uint32_t(old_header.size()));
  record += old_header;
  PutLe<uint32_t>(&record, 1);  // one image: 2x1, 3 channels, 8 bits
  PutLe<uint32_t>(&record, 2);
  PutLe<uint32_t>(&record, 1);
  PutLe<uint8_t>(&record, 3);
  PutLe<uint8_t>(&record, 8);
  PutLe<uint64_t>(&record, 6);
  record += "abcdef";
  JobRecord back;
  REQUIRE(DecodeJobRecord(reinterpret_cast<const uint8_t*>(record.data()), record.size(), &back).ok());
  CHECK(back.client == "c7");
  CHECK(back.request.request_id == 1);
  CHECK(back.request.path == "samples/step_000100.png");
  CHECK(back.request.shape == std::vector<int64_t>{4, 3, 32, 32});
  CHECK_FALSE(back.request.format.has_value());
  CHECK(back.format == OutputFormat::kPng);  // inferred from the path, as validation did
  CHECK(back.request.png.compress_level == PngOptions().compress_level);
  REQUIRE(back.images.size() == 1);
  CHECK(back.images[0].pixels == std::vector<uint8_t>{'a', 'b', 'c', 'd', 'e', 'f'});
  // Re-journaled today, the same job has the shorter header and decodes the same.
  JobRecord again;
  const std::string fresh =
      EncodeJobRecordPrefix(back.client, back.request, back.paths, {{'a', 'b', 'c', 'd', 'e', 'f'}}) + "abcdef";
  REQUIRE(fresh.size() < record.size());
  REQUIRE(
      DecodeJobRecord(reinterpret_cast<const uint8_t*>(fresh.data()), fresh.size(), &again).ok());
  CHECK(again.request.path == back.request.path);
  CHECK(again.format == OutputFormat::kPng);
  CHECK(again.paths == std::vector<std::string>{"samples/step_000100.png"});
}

TEST_CASE("a record whose paths do not match its files is refused", "[journal][job_record]") {
  JobRecord job = EncodedJob();
  job.paths.pop_back();
  const std::string fewer = WholeRecord(job);
  JobRecord back;
  CHECK(DecodeJobRecord(reinterpret_cast<const uint8_t*>(fewer.data()), fewer.size(), &back).code() ==
        ErrorCode::kJournalFailed);
  job.paths = {"/home/u/run/s/00.jpg", "/home/u/run/s/"};  // names a directory
  const std::string bad = WholeRecord(job);
  CHECK(DecodeJobRecord(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), &back).code() ==
        ErrorCode::kJournalFailed);
}

TEST_CASE("every truncation and a trailing byte are refused", "[journal][job_record]") {
  const std::string record = WholeRecord(EncodedJob());
  for (size_t n = 0; n < record.size(); ++n) {
    JobRecord back;
    INFO(n);
    CHECK(DecodeJobRecord(reinterpret_cast<const uint8_t*>(record.data()), n, &back).code() ==
          ErrorCode::kJournalFailed);
  }
  const std::string longer = record + "x";
  JobRecord back;
  CHECK_FALSE(DecodeJobRecord(reinterpret_cast<const uint8_t*>(longer.data()), longer.size(), &back).ok());
}

}  // namespace
}  // namespace imgsink::daemon::journal
