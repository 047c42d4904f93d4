// TensorView size checks and the default endpoint rule.
#include <unistd.h>

#include <catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "imgsink/endpoint.h"
#include "imgsink/tensor_view.h"

namespace imgsink {
namespace {

TensorView View(DType dtype, std::vector<int64_t> shape, Layout layout) {
  static const char kByte = 0;
  TensorView v;
  v.data = &kByte;
  v.dtype = dtype;
  v.shape = std::move(shape);
  v.layout = layout;
  return v;
}

TEST_CASE("TensorByteSize multiplies dims by the item size", "[client][tensor_view]") {
  size_t bytes = 0;
  REQUIRE(TensorByteSize(View(DType::kFloat32, {16, 3, 256, 256}, Layout::kNCHW), &bytes).ok());
  CHECK(bytes == size_t(16) * 3 * 256 * 256 * 4);
  REQUIRE(TensorByteSize(View(DType::kBFloat16, {5, 7}, Layout::kHW), &bytes).ok());
  CHECK(bytes == 70);
  REQUIRE(TensorByteSize(View(DType::kFloat64, {2, 3, 1}, Layout::kHWC), &bytes).ok());
  CHECK(bytes == 48);
  size_t count = 0;
  REQUIRE(TensorElementCount(View(DType::kUint16, {1, 2, 3, 4}, Layout::kNHWC), &count).ok());
  CHECK(count == 24);
}

TEST_CASE("TensorByteSize refuses bad shapes with kBadShape", "[client][tensor_view]") {
  size_t bytes = 123;
  Status s = TensorByteSize(View(DType::kUint8, {3, 4}, Layout::kCHW), &bytes);
  CHECK(s.code() == ErrorCode::kBadShape);
  CHECK(s.message().find("CHW") != std::string::npos);
  CHECK(TensorByteSize(View(DType::kUint8, {3, 0, 4}, Layout::kCHW), &bytes).code() ==
        ErrorCode::kBadShape);
  CHECK(TensorByteSize(View(DType::kUint8, {3, -1, 4}, Layout::kCHW), &bytes).code() ==
        ErrorCode::kBadShape);
  CHECK(bytes == 123);  // untouched on failure
}

TEST_CASE("TensorByteSize detects overflow of elements and of bytes", "[client][tensor_view]") {
  size_t bytes = 0;
  const int64_t big = int64_t{1} << 32;
  // 2^32 * 2^32 elements overflows size_t.
  CHECK(TensorByteSize(View(DType::kUint8, {big, big}, Layout::kHW), &bytes).code() ==
        ErrorCode::kBadShape);
  // 2^62 elements fit in size_t, but 2^62 * 8 bytes do not.
  CHECK(TensorByteSize(View(DType::kFloat64, {int64_t{1} << 31, int64_t{1} << 31}, Layout::kHW),
                       &bytes).code() == ErrorCode::kBadShape);
  // The protocol bounds the byte size by 2^63 - 1: 2^60 float64 = 2^63 bytes is one too many.
  CHECK(TensorByteSize(View(DType::kFloat64, {int64_t{1} << 30, int64_t{1} << 30}, Layout::kHW),
                       &bytes).code() == ErrorCode::kBadShape);
  // 2^59 float64 = 2^62 bytes fits; so does (2^63 - 1) uint8.
  REQUIRE(TensorByteSize(View(DType::kFloat64, {int64_t{1} << 29, int64_t{1} << 30}, Layout::kHW),
                         &bytes).ok());
  CHECK(bytes == size_t{1} << 62);
  REQUIRE(TensorByteSize(View(DType::kUint8, {INT64_MAX}, Layout::kHW), &bytes).code() ==
          ErrorCode::kBadShape);  // rank 1 is not HW
  REQUIRE(TensorByteSize(View(DType::kUint8, {1, INT64_MAX}, Layout::kHW), &bytes).ok());
  CHECK(bytes == size_t{INT64_MAX});
}

TEST_CASE("ValidateTensorView refuses null data", "[client][tensor_view]") {
  TensorView v = View(DType::kUint8, {2, 2}, Layout::kHW);
  v.data = nullptr;
  size_t bytes = 0;
  CHECK(ValidateTensorView(v, &bytes).code() == ErrorCode::kBadRequest);
}

// Sets or unsets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) setenv(name, value, 1); else unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1); else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST_CASE("ClientDefaultEndpoint prefers IMGSINK_ENDPOINT", "[client][endpoint]") {
  const char* old = std::getenv("IMGSINK_ENDPOINT");
  const std::string saved = old ? old : "";
  setenv("IMGSINK_ENDPOINT", "tcp://10.0.0.1:5555", 1);
  CHECK(ClientDefaultEndpoint() == "tcp://10.0.0.1:5555");
  setenv("IMGSINK_ENDPOINT", "", 1);
  CHECK(ClientDefaultEndpoint() == DefaultEndpoint());
  if (old) setenv("IMGSINK_ENDPOINT", saved.c_str(), 1); else unsetenv("IMGSINK_ENDPOINT");
}

TEST_CASE("DefaultEndpoint follows XDG_RUNTIME_DIR, else /tmp/imgsink-$UID", "[client][endpoint]") {
  {
    ScopedEnv env("XDG_RUNTIME_DIR", "/run/user/4242");
    CHECK(DefaultSocketPath() == "/run/user/4242/imgsink/imgsinkd.sock");
    CHECK(DefaultEndpoint() == "ipc:///run/user/4242/imgsink/imgsinkd.sock");
  }
  const std::string fallback = "/tmp/imgsink-" + std::to_string(getuid()) + "/imgsinkd.sock";
  {
    ScopedEnv env("XDG_RUNTIME_DIR", nullptr);
    CHECK(DefaultEndpoint() == "ipc://" + fallback);
  }
  {
    ScopedEnv env("XDG_RUNTIME_DIR", "");
    CHECK(DefaultSocketPath() == fallback);
  }
}

}  // namespace
}  // namespace imgsink
