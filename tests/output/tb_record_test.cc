// TensorBoard record framing and Event encoding (daemon/output/tb_record.h).  The Python tests
// (tests/python/test_tensorboard.py) decode the same bytes with Debian's python3-protobuf.
#include "daemon/output/tb_record.h"

#include <catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "daemon/journal/crc32c.h"

namespace imgsink::daemon::tb {
namespace {

uint32_t Fixed32At(const std::string& s, size_t pos) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | uint8_t(s[pos + size_t(i)]);
  return v;
}

uint64_t Fixed64At(const std::string& s, size_t pos) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | uint8_t(s[pos + size_t(i)]);
  return v;
}

std::vector<std::string> Scan(const std::string& bytes, size_t* end) {
  std::vector<std::string> out;
  *end = ScanRecords(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                     [&](const uint8_t* d, size_t n) { out.emplace_back(reinterpret_cast<const char*>(d), n); });
  return out;
}

TEST_CASE("a record is length, masked CRC of the length, data, masked CRC of the data") {
  std::string r;
  AppendRecord("123456789", &r);
  REQUIRE(r.size() == kRecordOverhead + 9);
  CHECK(Fixed64At(r, 0) == 9);
  // CRC-32C("123456789") = 0xE3069283 (RFC 3720); masked: rotate right 15, add 0xa282ead8.
  CHECK(Fixed32At(r, 12 + 9) == 0xc78ab0e5u);
  CHECK(journal::UnmaskCrc(Fixed32At(r, 12 + 9)) == 0xE3069283u);
  CHECK(Fixed32At(r, 8) == journal::MaskCrc(journal::Crc32cOf(r.data(), 8)));
  CHECK(r.substr(12, 9) == "123456789");
}

TEST_CASE("an empty record has its two CRCs") {
  std::string r;
  AppendRecord("", &r);
  REQUIRE(r.size() == kRecordOverhead);
  size_t end = 0;
  const auto got = Scan(r, &end);
  CHECK(end == r.size());
  REQUIRE(got.size() == 1);
  CHECK(got[0].empty());
}

TEST_CASE("a scan stops at a torn tail wherever the cut falls") {
  std::string all;
  std::vector<size_t> ends;
  for (const char* data : {"first", "", "the third record, longer"}) {
    AppendRecord(data, &all);
    ends.push_back(all.size());
  }
  for (size_t cut = 0; cut <= all.size(); ++cut) {
    size_t expected_end = 0, expected_count = 0;
    for (size_t e : ends) {
      if (e <= cut) {
        expected_end = e;
        ++expected_count;
      }
    }
    size_t end = 0;
    const auto got = Scan(all.substr(0, cut), &end);
    INFO("cut at " << cut);
    CHECK(end == expected_end);
    CHECK(got.size() == expected_count);
  }
}

TEST_CASE("a scan stops at a flipped bit") {
  std::string all;
  AppendRecord("good", &all);
  const size_t first_end = all.size();
  AppendRecord("bad one", &all);
  AppendRecord("after", &all);
  for (size_t pos = first_end; pos < first_end + kRecordOverhead + 7; ++pos) {
    std::string bytes = all;
    bytes[pos] = char(bytes[pos] ^ 0x10);
    size_t end = 0;
    const auto got = Scan(bytes, &end);
    INFO("flipped byte " << pos);
    CHECK(end == first_end);
    CHECK(got.size() == 1);
  }
}

TEST_CASE("the version event is file_version brain.Event:2 after the wall time") {
  CHECK(EncodeVersionEvent(0.0) == std::string("\x1a\x0d") + "brain.Event:2");
  const std::string e = EncodeVersionEvent(1.5);
  REQUIRE(e.size() == 9 + 15);
  CHECK(e[0] == '\x09');  // field 1, fixed64
  double wall;
  std::memcpy(&wall, e.data() + 1, 8);
  CHECK(wall == 1.5);
  CHECK(e.substr(9) == std::string("\x1a\x0d") + "brain.Event:2");
}

TEST_CASE("an image event nests Summary.Value.Image as protobuf lays it out") {
  TensorBoardImage image;
  image.tag = "t";
  image.step = 300;  // varint ac 02
  image.wall_time = 0.0;
  const uint8_t png[] = {0x89, 'P', 'N', 'G'};
  const std::string e = EncodeImageEvent(image, 2, 3, 4, png, sizeof png);
  // Image: 08 02 10 03 18 04 22 04 <png>  (12 bytes)
  const std::string img = std::string("\x08\x02\x10\x03\x18\x04\x22\x04", 8) +
                          std::string(reinterpret_cast<const char*>(png), 4);
  // Value: 0a 01 't' 22 0c <img>  (17 bytes); Summary: 0a 11 <value>  (19 bytes)
  const std::string value = std::string("\x0a\x01t\x22\x0c", 5) + img;
  const std::string summary = std::string("\x0a\x11", 2) + value;
  CHECK(e == std::string("\x10\xac\x02\x2a\x13", 5) + summary);
}

TEST_CASE("a negative step is a ten-byte varint") {
  TensorBoardImage image;
  image.tag = "t";
  image.step = -1;
  const uint8_t png[] = {1};
  const std::string e = EncodeImageEvent(image, 1, 1, 3, png, 1);
  CHECK(e.substr(0, 11) == std::string("\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11));
}

}  // namespace
}  // namespace imgsink::daemon::tb
