// The C++ client checks save paths with the daemon's rule (imgsink/proto/paths.h) before it
// sends: every template of proto/vectors/paths.json that the daemon refuses on its first file is
// refused locally with kBadPath, and every accepted one goes on the wire unchanged.
#include <catch.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <string>

#include "save_request.h"
#include "test_util.h"

namespace imgsink {
namespace {

using Json = nlohmann::json;

TEST_CASE("BuildSaveRequest applies the shared path vectors", "[client][paths][vectors]") {
  std::ifstream in(IMGSINK_SOURCE_DIR "/proto/vectors/paths.json");
  REQUIRE(in.good());
  const Json doc = Json::parse(in);
  test::Uint8Image image(2, 2, 0);
  size_t accepted = 0, refused = 0;
  for (const Json& v : doc.at("templates")) {
    SaveOptions options;
    options.mode = v.at("mode") == "each" ? OutputMode::kEach : OutputMode::kGrid;
    options.metadata = v.at("meta").get<std::map<std::string, std::string>>();
    options.format = OutputFormat::kPng;  // paths only: no inference from the extension
    const std::string path = v.at("path").get<std::string>();
    SaveRequest request;
    size_t bytes = 0;
    const Status s = internal::BuildSaveRequest(image.view, path, options, &request, &bytes);
    CAPTURE(v.at("name").get<std::string>(), s.ToString());
    if (v.contains("paths")) {
      ++accepted;
      REQUIRE(s.ok());
      CHECK(request.path == path);  // the template travels; the daemon expands it
    } else if (v.at("files") == 1) {  // a later file's defect (length) is the daemon's to see
      ++refused;
      CHECK(s.code() == ErrorCode::kBadPath);
    }
  }
  CHECK(accepted > 0);
  CHECK(refused > 0);
}

}  // namespace
}  // namespace imgsink

namespace imgsink {
namespace {

TEST_CASE("SaveOptions::ForTensorBoard makes a tb save of torch's grid and pixels",
          "[client][tensorboard]") {
  test::Uint8Image image(2, 2, 0);
  SaveOptions options = SaveOptions::ForTensorBoard("samples", -4, 12.5);
  SaveRequest request;
  size_t bytes = 0;
  REQUIRE(internal::BuildSaveRequest(image.view, "runs/exp1", options, &request, &bytes).ok());
  REQUIRE(request.tensorboard.has_value());
  CHECK(request.tensorboard->tag == "samples");
  CHECK(request.tensorboard->step == -4);
  CHECK(request.tensorboard->wall_time == 12.5);
  CHECK(request.path == "runs/exp1");  // the run directory: no extension needed
  CHECK(request.format == OutputFormat::kPng);
  CHECK(request.render.quantize == Quantize::kTensorBoard);
  CHECK(request.render.nrow == 8);
  CHECK(request.render.padding == 0);
  // The wall time defaults to the call's.
  const double now = std::chrono::duration<double>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(std::abs(SaveOptions::ForTensorBoard("t", 0).tensorboard->wall_time - now) < 60);
  // What cannot be an image summary is refused before sending.
  options.format = OutputFormat::kJpeg;
  CHECK(internal::BuildSaveRequest(image.view, "runs/exp1", options, &request, &bytes).code() ==
        ErrorCode::kBadOption);
  options = SaveOptions::ForTensorBoard("", 0, 0);
  CHECK(internal::BuildSaveRequest(image.view, "runs/exp1", options, &request, &bytes).code() ==
        ErrorCode::kBadOption);
  options = SaveOptions::ForTensorBoard("t", 0, 0);
  // An absolute run directory is sent as written, without a cwd: the daemon's mode decides.
  REQUIRE(internal::BuildSaveRequest(image.view, "/abs/run", options, &request, &bytes).ok());
  CHECK(request.path == "/abs/run");
  CHECK(request.cwd.empty());
}

}  // namespace
}  // namespace imgsink
