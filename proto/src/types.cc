// Wire names of the tensor and output vocabulary (proto/PROTOCOL.md, "Header").
#include "imgsink/proto/types.h"

#include <array>

#include "imgsink/proto/formats.h"

namespace imgsink {
namespace {

constexpr std::array<std::string_view, 6> kDTypeNames = {"uint8",    "uint16",  "float16",
                                                         "bfloat16", "float32", "float64"};
constexpr std::array<size_t, 6> kDTypeSizes = {1, 2, 2, 2, 4, 8};
constexpr std::array<std::string_view, 5> kLayoutNames = {"HW", "CHW", "NCHW", "HWC", "NHWC"};
constexpr std::array<int, 5> kLayoutRanks = {2, 3, 4, 3, 4};
constexpr std::array<std::string_view, 2> kModeNames = {"grid", "each"};
constexpr std::array<std::string_view, 3> kSubsamplingNames = {"444", "422", "420"};
constexpr std::array<std::string_view, 6> kFilterNames = {"all", "none", "sub",
                                                          "up",  "avg",  "paeth"};
constexpr std::array<std::string_view, 4> kStrategyNames = {"default", "filtered", "huffman",
                                                            "rle"};
constexpr std::array<std::string_view, 2> kQuantizeNames = {"save_image", "tensorboard"};

// Returns names[e], or "" for a value outside the enum (a corrupted enum never indexes out).
template <typename Enum, size_t N>
std::string_view NameOf(const std::array<std::string_view, N>& names, Enum e) {
  const auto i = static_cast<size_t>(e);
  return i < N ? names[i] : std::string_view();
}

// Returns true iff `name` is one of `names` (exact, case-sensitive); sets *out to its index.
template <typename Enum, size_t N>
bool ParseName(const std::array<std::string_view, N>& names, std::string_view name, Enum* out) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == name) {
      *out = static_cast<Enum>(i);
      return true;
    }
  }
  return false;
}

}  // namespace

size_t DTypeSize(DType dtype) {
  const auto i = static_cast<size_t>(dtype);
  return i < kDTypeSizes.size() ? kDTypeSizes[i] : 0;
}

int LayoutRank(Layout layout) {
  const auto i = static_cast<size_t>(layout);
  return i < kLayoutRanks.size() ? kLayoutRanks[i] : 0;
}

std::string_view DTypeName(DType dtype) { return NameOf(kDTypeNames, dtype); }
std::string_view LayoutName(Layout layout) { return NameOf(kLayoutNames, layout); }
std::string_view OutputFormatName(OutputFormat format) {
  return IsOutputFormat(format) ? FormatInfoOf(format).name : std::string_view();
}
std::string_view OutputModeName(OutputMode mode) { return NameOf(kModeNames, mode); }
std::string_view JpegSubsamplingName(JpegSubsampling s) { return NameOf(kSubsamplingNames, s); }
std::string_view PngFilterName(PngFilter f) { return NameOf(kFilterNames, f); }
std::string_view PngStrategyName(PngStrategy s) { return NameOf(kStrategyNames, s); }
std::string_view QuantizeName(Quantize q) { return NameOf(kQuantizeNames, q); }

bool ParseDType(std::string_view name, DType* out) { return ParseName(kDTypeNames, name, out); }
bool ParseLayout(std::string_view name, Layout* out) { return ParseName(kLayoutNames, name, out); }
bool ParseOutputFormat(std::string_view name, OutputFormat* out) {
  const FormatInfo* f = FindFormatByName(name);
  if (f != nullptr) *out = f->format;
  return f != nullptr;
}
bool ParseOutputMode(std::string_view name, OutputMode* out) {
  return ParseName(kModeNames, name, out);
}
bool ParseJpegSubsampling(std::string_view name, JpegSubsampling* out) {
  return ParseName(kSubsamplingNames, name, out);
}
bool ParsePngFilter(std::string_view name, PngFilter* out) {
  return ParseName(kFilterNames, name, out);
}
bool ParsePngStrategy(std::string_view name, PngStrategy* out) {
  return ParseName(kStrategyNames, name, out);
}
bool ParseQuantize(std::string_view name, Quantize* out) {
  return ParseName(kQuantizeNames, name, out);
}

}  // namespace imgsink
