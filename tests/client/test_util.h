// Helpers shared by the client tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <catch.hpp>

#include "imgsink/client.h"
#include "test_util/temp_dir.h"

namespace imgsink::test {

// Generous bound for waits that must succeed; the tests never assert on durations.
inline constexpr std::chrono::seconds kLong{20};

using TempDir = imgsink::testutil::TempDir;

// Opens a client or fails the test.
inline std::unique_ptr<Client> OpenClient(const std::string& endpoint,
                                          const ClientOptions& options = ClientOptions()) {
  std::unique_ptr<Client> client;
  const Status s = Client::Open(endpoint, options, &client);
  INFO(s.ToString());
  REQUIRE(s.ok());
  REQUIRE(client != nullptr);
  return client;
}

// A uint8 CHW tensor (3 x h x w) whose bytes are `seed`, `seed`+1, ... (mod 256).
struct Uint8Image {
  std::vector<uint8_t> bytes;
  TensorView view;

  Uint8Image(int h, int w, uint8_t seed) : bytes(size_t(3) * h * w) {
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(seed + i);
    view.data = bytes.data();
    view.dtype = DType::kUint8;
    view.shape = {3, h, w};
    view.layout = Layout::kCHW;
  }
  Uint8Image(const Uint8Image&) = delete;  // view.data points into bytes
  Uint8Image& operator=(const Uint8Image&) = delete;
  std::string AsString() const { return std::string(bytes.begin(), bytes.end()); }
};

}  // namespace imgsink::test
