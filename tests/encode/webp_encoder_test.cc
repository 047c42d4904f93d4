// WebpEncoder: decode back with libwebp (lossless exact for 1..4 channels, lossy close), the
// options (lossless, quality), errors, and PIL agreeing on lossless pixels.
#include "daemon/encode/webp_encoder.h"

#include <webp/decode.h>

#include <catch.hpp>
#include <cmath>
#include <cstring>

#include "encode_test_util.h"
#include "test_util/temp_dir.h"

namespace imgsink::daemon {
namespace {

using testing::MakeNaturalImage;
using Text = std::vector<std::pair<std::string, std::string>>;

WebpOptions Webp(bool lossless, int quality = 80) {
  WebpOptions opts;
  opts.lossless = lossless;
  opts.quality = quality;
  return opts;
}

std::vector<uint8_t> EncodeOrFail(const Image& image, const WebpOptions& opts,
                                  const Text& text = {}) {
  WebpEncoder encoder;
  std::vector<uint8_t> webp;
  const Status status = encoder.Encode(image, opts, text, &webp);
  INFO(status.ToString());
  REQUIRE(status.ok());
  return webp;
}

// Decodes to RGB (channels 3) or RGBA (4) with libwebp.
Image DecodeOrFail(const std::vector<uint8_t>& webp, int channels) {
  Image image;
  image.channels = channels;
  REQUIRE(WebPGetInfo(webp.data(), webp.size(), &image.width, &image.height));
  image.pixels.resize(image.row_bytes() * size_t(image.height));
  const int stride = static_cast<int>(image.row_bytes());
  const uint8_t* done =
      channels == 4 ? WebPDecodeRGBAInto(webp.data(), webp.size(), image.pixels.data(),
                                         image.pixels.size(), stride)
                    : WebPDecodeRGBInto(webp.data(), webp.size(), image.pixels.data(),
                                        image.pixels.size(), stride);
  REQUIRE(done != nullptr);
  return image;
}

// `image` with each gray sample repeated to RGB (alpha kept): what WebP stores for gray.
Image ExpandGray(const Image& image) {
  Image out = image;
  out.channels = image.channels + 2;
  out.pixels.clear();
  for (size_t i = 0; i < image.pixels.size(); i += size_t(image.channels)) {
    out.pixels.insert(out.pixels.end(), 3, image.pixels[i]);
    if (image.channels == 2) out.pixels.push_back(image.pixels[i + 1]);
  }
  return out;
}

// Smooth gradients and a hard-edged disc, alpha a ramp: content lossy coding is meant for
// (MakeNaturalImage's per-sample noise is not).
Image MakeSmoothImage(int width, int height, int channels) {
  Image image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const bool disc = (x - width / 2) * (x - width / 2) + (y - height / 2) * (y - height / 2) <
                        width * height / 16;
      for (int c = 0; c < channels; ++c) {
        const int v = disc ? 200 - 40 * c : x * 150 / width + y * 60 / height + 20 * c;
        image.pixels.push_back(uint8_t(c == 3 ? 128 + x * 127 / width : v));
      }
    }
  }
  return image;
}

double Psnr(const Image& a, const Image& b) {
  REQUIRE(a.pixels.size() == b.pixels.size());
  double sum = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double d = double(a.pixels[i]) - double(b.pixels[i]);
    sum += d * d;
  }
  const double mse = sum / double(a.pixels.size());
  return mse == 0 ? INFINITY : 10 * std::log10(255.0 * 255.0 / mse);
}

TEST_CASE("webp: lossless decodes to exactly the pixels, 1 to 4 channels", "[encode][webp]") {
  for (int channels = 1; channels <= 4; ++channels) {
    INFO("channels " << channels);
    Image image = MakeNaturalImage(37, 23, channels, 8, uint32_t(channels));
    if (channels % 2 == 0) {  // fully transparent pixels keep their colour too (`exact`)
      for (size_t i = size_t(channels) - 1; i < image.pixels.size(); i += size_t(7 * channels)) {
        image.pixels[i] = 0;
      }
    }
    const std::vector<uint8_t> webp = EncodeOrFail(image, Webp(true));
    CHECK(std::memcmp(webp.data() + 12, "VP8L", 4) == 0);
    const Image expected = channels <= 2 ? ExpandGray(image) : image;
    const Image got = DecodeOrFail(webp, expected.channels);
    CHECK(got.width == 37);
    CHECK(got.height == 23);
    CHECK(got.pixels == expected.pixels);
  }
}

TEST_CASE("webp: lossy decodes close to the pixels; quality trades size", "[encode][webp]") {
  for (int channels : {1, 3, 4}) {
    INFO("channels " << channels);
    const Image image = MakeSmoothImage(64, 48, channels);
    const std::vector<uint8_t> webp = EncodeOrFail(image, Webp(false));
    CHECK(std::memcmp(webp.data() + 12, channels == 4 ? "VP8X" : "VP8 ", 4) == 0);
    const Image expected = channels == 1 ? ExpandGray(image) : image;
    const Image got = DecodeOrFail(webp, expected.channels);
    CHECK(got.width == 64);
    CHECK(got.height == 48);
    CHECK(Psnr(got, expected) > 30);
  }
  const Image image = MakeNaturalImage(64, 48, 3, 8, 9);
  const std::vector<uint8_t> low = EncodeOrFail(image, Webp(false, 10));
  const std::vector<uint8_t> high = EncodeOrFail(image, Webp(false, 100));
  CHECK(high.size() > low.size());
  CHECK(Psnr(DecodeOrFail(high, 3), image) > Psnr(DecodeOrFail(low, 3), image));
  // Quality 0 is valid (libwebp's range is 0..100).
  EncodeOrFail(image, Webp(false, 0));
  EncodeOrFail(image, Webp(true, 0));
}

TEST_CASE("webp: refuses what it cannot write", "[encode][webp]") {
  WebpEncoder encoder;
  std::vector<uint8_t> out;
  const Image image = MakeNaturalImage(8, 8, 3, 8);
  CHECK(encoder.Encode(image, Webp(false, 101), {}, &out).code() == ErrorCode::kBadOption);
  CHECK(encoder.Encode(image, Webp(false, -1), {}, &out).code() == ErrorCode::kBadOption);
  CHECK(encoder.Encode(MakeNaturalImage(8, 8, 3, 16), Webp(false), {}, &out).code() ==
        ErrorCode::kBadFormat);
  Image bad = image;
  bad.pixels.pop_back();
  CHECK(encoder.Encode(bad, Webp(false), {}, &out).code() == ErrorCode::kInternal);
  bad = image;
  bad.channels = 5;
  CHECK(encoder.Encode(bad, Webp(false), {}, &out).code() == ErrorCode::kBadShape);
  CHECK(encoder.Encode(image, Webp(false), {{"", "x"}}, &out).code() == ErrorCode::kBadOption);
  // Good text entries are accepted (WebP stores none).
  CHECK(encoder.Encode(image, Webp(false), {{"step", "3"}}, &out).ok());
}

TEST_CASE("webp: PIL decodes the lossless file to the same pixels", "[encode][webp][pil]") {
  std::string output;
  if (testing::RunCommand("/usr/bin/python3 -c \"from PIL import features; "
                          "assert features.check('webp')\"",
                          &output) != 0) {
    WARN("PIL with WebP not available; skipped");
    return;
  }
  testing::TempDir dir;
  for (int channels : {3, 4}) {
    const Image image = MakeNaturalImage(19, 11, channels, 8, 3);
    const std::string webp_path = dir.path() + "/a.webp";
    const std::string raw_path = dir.path() + "/a.raw";
    const std::vector<uint8_t> webp = EncodeOrFail(image, Webp(true));
    testing::WriteFile(webp_path, webp.data(), webp.size());
    const std::string mode = channels == 4 ? "RGBA" : "RGB";
    REQUIRE(testing::RunCommand("/usr/bin/python3 -c \"from PIL import Image; "
                                "im = Image.open('" + webp_path + "'); "
                                "assert im.size == (19, 11), im.size; "
                                "open('" + raw_path + "', 'wb').write(im.convert('" + mode +
                                    "').tobytes())\"",
                                &output) == 0);
    CHECK(testing::ReadFile(raw_path) == image.pixels);
  }
}

}  // namespace
}  // namespace imgsink::daemon
