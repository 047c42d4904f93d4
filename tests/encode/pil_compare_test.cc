// Cross-checks with PIL, the writer behind torchvision.utils.save_image: PIL reads our PNGs
// (pixels and text) exactly, and our JPEGs decode to the same pixels as PIL's own JPEGs.
#include <catch.hpp>
#include <string>

#include "daemon/encode/jpeg_encoder.h"
#include "daemon/encode/png_encoder.h"
#include "encode_test_util.h"

namespace imgsink::daemon {
namespace {

// argv: raw w h mode ours kind [quality subsampling|default].  Exit 77: PIL unavailable.
constexpr const char* kScript = R"PY(
import sys
try:
    from PIL import Image
except ImportError:
    sys.exit(77)
raw, w, h, mode, ours, kind = sys.argv[1:7]
size = (int(w), int(h))
pixels = open(raw, 'rb').read()
mine = Image.open(ours)
mine.load()
if kind == 'png':
    print('PIXELS', 'EQUAL' if mine.mode == mode and mine.size == size and mine.tobytes() == pixels else 'DIFF')
    print('TEXT', sorted(mine.text.items()))
else:
    extra = sys.argv[7:]
    kwargs = {} if extra == ['default'] else {'quality': int(extra[0]), 'subsampling': int(extra[1])}
    theirs_path = ours + '.pil.jpg'
    Image.frombytes(mode, size, pixels).save(theirs_path, **kwargs)
    theirs = Image.open(theirs_path)
    theirs.load()
    same = mine.mode == theirs.mode and mine.size == theirs.size and mine.tobytes() == theirs.tobytes()
    print('PIXELS', 'EQUAL' if same else 'DIFF')
    print('BYTES', 'EQUAL' if open(ours, 'rb').read() == open(theirs_path, 'rb').read() else 'DIFF')
)PY";

const char* Mode(int channels) {
  static const char* const kModes[] = {"L", "LA", "RGB", "RGBA"};
  return kModes[channels - 1];
}

// Runs kScript; returns its output, or "" after SKIP-like WARN when PIL is missing.
std::string RunPil(const testing::TempDir& dir, const Image& image, const std::vector<uint8_t>& file,
                   const std::string& kind, const std::string& extra) {
  testing::WriteFile(dir.path() + "/script.py", kScript, std::string(kScript).size());
  testing::WriteFile(dir.path() + "/raw", image.pixels.data(), image.pixels.size());
  const std::string ours = dir.path() + "/ours." + kind;
  testing::WriteFile(ours, file.data(), file.size());
  std::string output;
  const int rc = testing::RunCommand(std::string(IMGSINK_PYTHON) + " " + dir.path() + "/script.py " + dir.path() +
                                         "/raw " + std::to_string(image.width) + " " +
                                         std::to_string(image.height) + " " + Mode(image.channels) + " " +
                                         ours + " " + kind + " " + extra,
                                     &output);
  if (rc == 77) {
    WARN("PIL not available under " IMGSINK_PYTHON "; skipped");
    return "";
  }
  INFO(output);
  REQUIRE(rc == 0);
  return output;
}

TEST_CASE("PIL reads our 8-bit PNGs pixel-exact, with their text", "[png][pil]") {
  testing::TempDir dir;
  for (int channels = 1; channels <= 4; ++channels) {
    const Image image = testing::MakeNaturalImage(61, 45, channels, 8);
    PngEncoder encoder;
    std::vector<uint8_t> png;
    REQUIRE(encoder.Encode(image, PngOptions(), {{"step", "5"}, {"prompt", "\xE7\x8C\xAB"}}, &png).ok());
    const std::string output = RunPil(dir, image, png, "png", "");
    if (output.empty()) return;
    CAPTURE(channels, output);
    CHECK(output.find("PIXELS EQUAL") != std::string::npos);
    CHECK(output.find("TEXT [('prompt', '\xE7\x8C\xAB'), ('step', '5')]") != std::string::npos);
  }
}

TEST_CASE("our JPEGs decode to the same pixels as PIL's for the same options", "[jpeg][pil]") {
  testing::TempDir dir;
  struct Case {
    int channels;
    JpegOptions opts;
    std::string pil_args;  // PIL subsampling: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0
  };
  const Case cases[] = {
      {3, JpegOptions(), "default"},  // save_image passes no options: PIL's defaults
      {3, {90, JpegSubsampling::k420}, "90 2"},
      {3, {95, JpegSubsampling::k444}, "95 0"},
      {3, {50, JpegSubsampling::k422}, "50 1"},
      {1, JpegOptions(), "default"},
  };
  for (const Case& c : cases) {
    const Image image = testing::MakeNaturalImage(61, 45, c.channels, 8);
    JpegEncoder encoder;
    std::vector<uint8_t> jpeg;
    REQUIRE(encoder.Encode(image, c.opts, {}, &jpeg).ok());
    const std::string output = RunPil(dir, image, jpeg, "jpg", c.pil_args);
    if (output.empty()) return;
    CAPTURE(c.channels, c.pil_args, output);
    CHECK(output.find("PIXELS EQUAL") != std::string::npos);
    // Same libjpeg-turbo underneath, so today the files are byte-identical too; only pixels are
    // promised, so a difference is reported, not failed.
    if (output.find("BYTES EQUAL") == std::string::npos) WARN("JPEG bytes differ from PIL's: " << c.pil_args);
  }
}

}  // namespace
}  // namespace imgsink::daemon
