#include "daemon/journal/job_record.h"

#include <catch.hpp>

namespace imgsink::journal {
namespace {

JobRecord RenderedJob() {
  JobRecord job;
  job.client = std::string("\x01\x02\x00\x03", 4);
  job.request.request_id = 77;
  job.request.dtype = DType::kFloat32;
  job.request.shape = {2, 3, 2, 2};
  job.request.path = "s/{index:02d}.jpg";
  job.request.mode = OutputMode::kEach;
  job.request.metadata = {{"step", "12"}};
  for (int i = 0; i < 2; ++i) {
    Image image;
    image.width = 2;
    image.height = 2;
    image.channels = 3;
    image.pixels.assign(12, uint8_t(10 * i + 1));
    job.images.push_back(image);
  }
  return job;
}

std::string WholeRecord(const JobRecord& job) {
  std::string record = EncodeJobRecordPrefix(job.client, job.request, job.images);
  for (const Image& image : job.images) record.append(image.pixels.begin(), image.pixels.end());
  return record;
}

TEST_CASE("a job record round-trips the client, request and pixels", "[journal][job_record]") {
  const JobRecord job = RenderedJob();
  const std::string record = WholeRecord(job);
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
  REQUIRE(back.images.size() == 2);
  CHECK(back.images[1].pixels == job.images[1].pixels);
  CHECK(back.images[1].width == 2);
  CHECK(back.images[1].channels == 3);
  CHECK(back.paths == std::vector<std::string>{"s/00.jpg", "s/01.jpg"});  // expanded again
}

TEST_CASE("a record whose image count does not fit its mode is refused", "[journal][job_record]") {
  JobRecord job = RenderedJob();
  job.request.mode = OutputMode::kGrid;
  job.request.path = "grid.png";
  const std::string record = WholeRecord(job);  // two images for one grid file
  JobRecord back;
  CHECK(DecodeJobRecord(reinterpret_cast<const uint8_t*>(record.data()), record.size(), &back).code() ==
        ErrorCode::kJournalFailed);
  job.images.resize(1);
  const std::string one = WholeRecord(job);
  REQUIRE(DecodeJobRecord(reinterpret_cast<const uint8_t*>(one.data()), one.size(), &back).ok());
  CHECK(back.paths == std::vector<std::string>{"grid.png"});
}

TEST_CASE("a record's explicit format wins over its path's extension", "[journal][job_record]") {
  JobRecord job = RenderedJob();
  job.request.format = OutputFormat::kPng;
  const std::string record = WholeRecord(job);
  JobRecord back;
  REQUIRE(DecodeJobRecord(reinterpret_cast<const uint8_t*>(record.data()), record.size(), &back).ok());
  CHECK(back.format == OutputFormat::kPng);
}

TEST_CASE("every truncation and a trailing byte are refused", "[journal][job_record]") {
  const std::string record = WholeRecord(RenderedJob());
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
}  // namespace imgsink::journal
