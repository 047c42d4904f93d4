// Crc32c (ISA-L) against Boost.CRC, the byte-wise implementation every journal before it was
// written with: same value for every length, alignment and way of splitting the input, so the
// format is unchanged and old journals stay readable.
#include <boost/crc.hpp>
#include <catch.hpp>

#include <cstring>
#include <random>
#include <vector>

#include "daemon/journal/crc32c.h"
#include "daemon/journal/record_format.h"

namespace imgsink::daemon::journal::testing {
namespace {

uint32_t BoostCrc32c(const void* data, size_t size) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = uint8_t(rng());
  return v;
}

TEST_CASE("crc32c: the standard check value and the empty input") {
  CHECK(Crc32cOf("123456789", 9) == 0xE3069283u);
  CHECK(Crc32cOf(nullptr, 0) == 0u);
  CHECK(Crc32cOf("a", 0) == 0u);
  Crc32c c;
  CHECK(c.Value() == 0u);
}

TEST_CASE("crc32c: equals Boost.CRC for lengths 0..300 at every misalignment 0..7") {
  const std::vector<uint8_t> bytes = RandomBytes(300 + 8, 1);
  int mismatches = 0;
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t len = 0; len <= 300; ++len) {
      const uint8_t* p = bytes.data() + offset;
      if (Crc32cOf(p, len) != BoostCrc32c(p, len)) ++mismatches;
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("crc32c: equals Boost.CRC on large random buffers and uniform bytes") {
  for (size_t size : {size_t(4096), size_t(65537), size_t(1) << 20, (size_t(3) << 20) + 5}) {
    const std::vector<uint8_t> bytes = RandomBytes(size, uint32_t(size));
    CHECK(Crc32cOf(bytes.data(), size) == BoostCrc32c(bytes.data(), size));
    for (uint8_t fill : {uint8_t(0), uint8_t(0xFF)}) {
      const std::vector<uint8_t> same(size, fill);
      CHECK(Crc32cOf(same.data(), size) == BoostCrc32c(same.data(), size));
    }
  }
}

TEST_CASE("crc32c: chunked updates equal one pass, whatever the cut points") {
  const std::vector<uint8_t> bytes = RandomBytes(200000, 7);
  const uint32_t whole = BoostCrc32c(bytes.data(), bytes.size());
  std::mt19937 rng(11);
  for (int round = 0; round < 50; ++round) {
    Crc32c c;
    size_t at = 0;
    while (at < bytes.size()) {
      // Mostly short odd pieces (the kernels' tails), sometimes long ones, sometimes empty.
      const size_t pick = rng() % 4 == 0 ? rng() % 40000 : rng() % 19;
      const size_t n = std::min(pick, bytes.size() - at);
      c.Update(bytes.data() + at, n);
      at += n;
    }
    CHECK(c.Value() == whole);
  }
}

TEST_CASE("crc32c: a segment header written by the Boost.CRC build decodes byte for byte") {
  // EncodeSegmentHeader({seq 0x0102030405060708, floor 77}) as the Boost-based journal wrote it.
  const uint8_t golden[kSegmentHeaderSize] = {
      0x49, 0x4d, 0x47, 0x53, 0x4a, 0x52, 0x4e, 0x4c, 0x01, 0x00, 0x00, 0x00, 0x08, 0x07, 0x06, 0x05,
      0x04, 0x03, 0x02, 0x01, 0x4d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4d, 0x2b, 0xb3, 0x8a};
  uint8_t h[kSegmentHeaderSize];
  EncodeSegmentHeader(SegmentHeader{0x0102030405060708ull, 77}, h);
  CHECK(std::memcmp(h, golden, sizeof h) == 0);
  SegmentHeader back;
  uint32_t version = 0;
  CHECK(DecodeSegmentHeader(golden, sizeof golden, &back, &version) == HeaderCheck::kOk);
  // And a record: ACCEPTED, job 0x1122334455667788, payload "abc" (masked CRC from that build).
  const uint8_t payload[3] = {'a', 'b', 'c'};
  ByteSpan span{payload, 3};
  uint8_t r[kRecordHeaderSize];
  EncodeRecordHeader(RecordType::kAccepted, 0x1122334455667788ull, &span, 1, r);
  CHECK(GetU32(r + 4) == 0x3e7ea5d7u);
}

}  // namespace
}  // namespace imgsink::daemon::journal::testing
