// The bytes the client puts on the wire equal the canonical vectors of proto/vectors.
//
// Each canonical client vector's "message" is rebuilt through the public API (TensorView,
// SaveOptions, ClientOptions::first_request_id for its id), sent to a fake daemon, and the
// header frame the daemon receives is compared with the vector's hex: save and status headers
// directly, credit headers as the request save_image sends before its save.  The client's
// format inference answers the vectors' inference cases.
#include <sys/mman.h>
#include <unistd.h>

#include <catch.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "fake_daemon.h"
#include "imgsink/client.h"
#include "imgsink/proto/codec.h"
#include "save_request.h"
#include "test_util.h"

namespace imgsink {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

std::string ToHex(const std::string& bytes) {
  std::string hex;
  char buf[3];
  for (unsigned char c : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    hex += buf;
  }
  return hex;
}

template <typename T>
T Parsed(bool (*parse)(std::string_view, T*), const Json& name) {
  T value{};
  INFO("name " << name.dump());
  REQUIRE(parse(name.get<std::string>(), &value));
  return value;
}

BusyPolicy ParsePolicy(const std::string& name) {
  if (name == "block") return BusyPolicy::kBlock;
  if (name == "drop") return BusyPolicy::kDrop;
  REQUIRE(name == "error");
  return BusyPolicy::kError;
}

// Maps a save vector's message onto the public API, key by key.
struct ApiSave {
  TensorView view;
  std::string path;
  SaveOptions options;
};

ApiSave FromJson(const Json& m, std::vector<uint8_t>* storage) {
  ApiSave a;
  a.view.dtype = Parsed(ParseDType, m.at("dtype"));
  a.view.shape = m.at("shape").get<std::vector<int64_t>>();
  a.view.layout = Parsed(ParseLayout, m.at("layout"));
  size_t bytes = 0;
  REQUIRE(TensorByteSize(a.view, &bytes).ok());
  storage->assign(bytes, 0x5A);
  a.view.data = storage->data();
  a.path = m.at("path").get<std::string>();
  SaveOptions& o = a.options;
  if (!m.at("format").is_null()) o.format = Parsed(ParseOutputFormat, m.at("format"));
  o.mode = Parsed(ParseOutputMode, m.at("mode"));
  o.render.nrow = m.at("nrow").get<int>();
  o.render.padding = m.at("padding").get<int>();
  o.render.pad_value = m.at("pad_value").get<double>();
  o.render.normalize = m.at("normalize").get<bool>();
  if (!m.at("value_range").is_null()) {
    o.render.value_range = std::make_pair(m.at("value_range")[0].get<double>(),
                                          m.at("value_range")[1].get<double>());
  }
  o.render.scale_each = m.at("scale_each").get<bool>();
  o.render.keep_gray = m.at("keep_gray").get<bool>();
  o.png.compress_level = m.at("png_level").get<int>();
  o.png.bit_depth = m.at("png_bits").get<int>();
  o.png.filter = Parsed(ParsePngFilter, m.at("png_filter"));
  o.png.strategy = Parsed(ParsePngStrategy, m.at("png_strategy"));
  o.jpeg.quality = m.at("jpeg_quality").get<int>();
  o.jpeg.subsampling = Parsed(ParseJpegSubsampling, m.at("jpeg_subsampling"));
  o.webp.lossless = m.at("webp_lossless").get<bool>();
  o.webp.quality = m.at("webp_quality").get<int>();
  o.policy = ParsePolicy(m.at("policy").get<std::string>());
  o.block_timeout_ms = m.at("block_timeout_ms").get<uint32_t>();
  o.metadata = m.at("meta").get<std::map<std::string, std::string>>();
  o.render.quantize = Parsed(ParseQuantize, m.at("quantize"));
  if (!m.at("tb").is_null()) {
    const Json& tb = m.at("tb");
    o.tensorboard = TensorBoardImage{tb.at("tag").get<std::string>(), tb.at("step").get<int64_t>(),
                                     tb.at("wall_time").get<double>()};
  }
  // v, kind, id, cwd (the client sends its own working directory with a relative path) + the
  // 26 save keys above + shm (the loop's, not an option: such vectors are skipped): none left
  // unmapped.
  REQUIRE(m.size() == 31);
  return a;
}

std::vector<Json> CanonicalClientVectors(const std::string& kind) {
  std::ifstream in(IMGSINK_SOURCE_DIR "/proto/vectors/vectors.json");
  REQUIRE(in.good());
  const Json doc = Json::parse(in);
  REQUIRE(doc.at("version") == 1);
  std::vector<Json> out;
  for (const Json& v : doc.at("vectors")) {
    if (v.at("direction") == "client" && v.value("canonical", false) &&
        v.at("message").at("kind") == kind) {
      out.push_back(v);
    }
  }
  return out;
}

TEST_CASE("save_image sends the canonical bytes of every canonical save vector",
          "[client][vectors]") {
  const std::vector<Json> vectors = CanonicalClientVectors("save");
  REQUIRE(vectors.size() >= 3);
  for (const Json& v : vectors) {
    const std::string name = v.at("name").get<std::string>();
    INFO("vector " << name);
    // `shm` is added by the I/O loop for a same-host daemon's segment (client_shm_test.cc).
    if (!v.at("message").at("shm").is_null()) continue;
    test::TempDir dir;
    test::FakeDaemon daemon(dir.Endpoint());
    ClientOptions client_options;
    client_options.first_request_id = v.at("message").at("id").get<uint64_t>();
    auto client = test::OpenClient(dir.Endpoint(), client_options);
    std::vector<uint8_t> storage;
    const ApiSave save = FromJson(v.at("message"), &storage);
    Job job = client->save_image(save.view, save.path, save.options);
    CHECK(job.request_id() == client_options.first_request_id);
    REQUIRE(job.wait(20s).ok());
    const auto got = daemon.received();
    REQUIRE(got.size() == 1);
    // The client sends its working directory with a relative path (PROTOCOL.md "Paths"), none
    // with an absolute one; with the vector's cwd in its place the bytes are the vector's.
    ClientMessage sent;
    uint64_t sent_id = 0;
    REQUIRE(DecodeClientMessage(reinterpret_cast<const uint8_t*>(got[0].header.data()), got[0].header.size(),
                                &sent, &sent_id)
                .ok());
    SaveRequest request = std::get<SaveRequest>(sent);
    CHECK(ToHex(EncodeClientMessage(request)) == ToHex(got[0].header));  // canonical as sent
    char cwd[4097];
    REQUIRE(getcwd(cwd, sizeof cwd) != nullptr);
    CHECK(request.cwd == (save.path.front() == '/' ? std::string() : std::string(cwd)));
    const Json& want_cwd = v.at("message").at("cwd");
    request.cwd = want_cwd.is_null() ? std::string() : want_cwd.get<std::string>();
    CHECK(ToHex(EncodeClientMessage(request)) == v.at("hex").get<std::string>());
    CHECK(got[0].payload == std::string(storage.begin(), storage.end()));
  }
}

TEST_CASE("status sends the canonical bytes of the canonical status vectors",
          "[client][vectors]") {
  const std::vector<Json> vectors = CanonicalClientVectors("status");
  REQUIRE_FALSE(vectors.empty());
  for (const Json& v : vectors) {
    INFO("vector " << v.at("name").get<std::string>());
    test::TempDir dir;
    test::FakeDaemon daemon(dir.Endpoint());
    ClientOptions client_options;
    client_options.first_request_id = v.at("message").at("id").get<uint64_t>();
    auto client = test::OpenClient(dir.Endpoint(), client_options);
    std::map<std::string, uint64_t> counters;
    REQUIRE(client->status(&counters, 20s).ok());
    const auto got = daemon.received();
    REQUIRE(got.size() == 1);
    CHECK(ToHex(got[0].header) == v.at("hex").get<std::string>());
  }
}

// Read-only zero pages that cost no memory until touched; the refused credit below keeps the
// client from ever reading them, so even a 4 GiB vector is cheap.
class ZeroPages {
 public:
  explicit ZeroPages(size_t bytes) : bytes_(bytes) {
    data_ = mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    REQUIRE(data_ != MAP_FAILED);
  }
  ~ZeroPages() { munmap(data_, bytes_); }
  const void* data() const { return data_; }

 private:
  size_t bytes_;
  void* data_;
};

TEST_CASE("save_image first sends the canonical bytes of every canonical credit vector",
          "[client][vectors]") {
  const std::vector<Json> vectors = CanonicalClientVectors("credit");
  REQUIRE_FALSE(vectors.empty());
  for (const Json& v : vectors) {
    INFO("vector " << v.at("name").get<std::string>());
    const Json& m = v.at("message");
    test::TempDir dir;
    test::FakeDaemon daemon(dir.Endpoint(), test::FakeDaemon::AcceptAndWrite,
                            [](const test::ReceivedRequest& r) {
                              Reply busy;
                              busy.request_id = r.request_id;
                              busy.status = Status(ErrorCode::kBusy, "test refuses credit");
                              return test::Response{{busy}, {}};
                            });
    // The save takes the id before the credit request's (wrapping from 2^64 - 1 to 1).
    const uint64_t credit_id = m.at("id").get<uint64_t>();
    ClientOptions client_options;
    client_options.first_request_id = credit_id == 1 ? UINT64_MAX : credit_id - 1;
    auto client = test::OpenClient(dir.Endpoint(), client_options);
    const uint64_t bytes = m.at("bytes").get<uint64_t>();
    ZeroPages pages(bytes);
    TensorView view;
    view.data = pages.data();
    view.dtype = DType::kUint8;
    view.shape = {1, static_cast<int64_t>(bytes)};
    view.layout = Layout::kHW;
    SaveOptions options;
    options.policy = ParsePolicy(m.at("policy").get<std::string>());
    options.block_timeout_ms = m.at("timeout_ms").get<uint32_t>();
    options.ownership = Ownership::kBorrow;
    Job job = client->save_image(view, "c.png", options);
    CHECK(job.wait(20s).code() == ErrorCode::kBusy);
    CHECK(daemon.received().empty());
    const auto credits = daemon.credit_requests();
    REQUIRE(credits.size() == 1);
    CHECK(ToHex(credits[0].header) == v.at("hex").get<std::string>());
  }
}

TEST_CASE("save_image infers the format of every inference vector's path", "[client][vectors]") {
  std::ifstream in(IMGSINK_SOURCE_DIR "/proto/vectors/vectors.json");
  REQUIRE(in.good());
  const Json cases = Json::parse(in).at("formats").at("inference");
  REQUIRE(cases.size() >= 20);
  const uint8_t pixels[4] = {1, 2, 3, 4};
  TensorView view;
  view.data = pixels;
  view.dtype = DType::kUint8;
  view.shape = {2, 2};
  view.layout = Layout::kHW;
  for (const Json& c : cases) {
    const std::string path = c.at("path").get<std::string>();
    INFO("path " << path);
    // The inference cases include templates: give them the fields they name, so only the
    // format decides.
    SaveOptions options;
    options.metadata = {{"step", "100"}, {"rank", "3"}};
    if (path.find("{index") != std::string::npos) options.mode = OutputMode::kEach;
    SaveRequest request;
    size_t bytes = 0;
    const Status s = internal::BuildSaveRequest(view, path, options, &request, &bytes);
    if (c.at("format").is_null()) {
      // Refused locally: no format, unless the path breaks a path rule first.
      CHECK((s.code() == ErrorCode::kBadFormat || s.code() == ErrorCode::kBadPath));
    } else {
      CHECK(s.ok());
      CHECK_FALSE(request.format.has_value());  // the daemon infers it the same way
    }
  }
}

}  // namespace
}  // namespace imgsink
