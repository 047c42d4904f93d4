// The output formats: one row per OutputFormat in kFormatTable, the only place that says what a
// format is called, which path extensions mean it, which images it can hold and how large.
// Everything that depends on the format reads it: the codec's wire names, path-extension
// inference (C++ client and daemon here; the Python client's copy is checked against
// proto/vectors), the daemon's validation, its encoder factory (daemon/encode/encoder.h) and
// its metrics labels.  PROTOCOL.md "Formats" documents the table.
//
// Adding a format (as WebP was): the enum value at the end of OutputFormat (types.h), its row at
// the end of kFormatTable, its case in IsOutputFormat below; the compiler then points at every
// other exhaustive switch (-Werror=switch: daemon/encode/encoder.cc) and the static_asserts
// below fail until the table has the row.  Then the encoder (daemon/encode/), its options on
// the wire if it has any, the Python copy, make_vectors.py and PROTOCOL.md.
//
// Thread-safety: constants and pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "imgsink/proto/types.h"

namespace imgsink {

// A constant list of names (C++17 has no std::span).
struct NameList {
  const std::string_view* data = nullptr;
  size_t size = 0;
  constexpr const std::string_view* begin() const { return data; }
  constexpr const std::string_view* end() const { return data + size; }
};

template <size_t N>
constexpr NameList Names(const std::string_view (&names)[N]) {
  return NameList{names, N};
}

// What one output format is.  Limits are the format's own (the daemon's configurable pixel
// limits come on top).
struct FormatInfo {
  OutputFormat format;
  std::string_view name;        // wire name (PROTOCOL.md "Header", `format`)
  NameList aliases;             // other names decoders accept for it ("jpg")
  NameList extensions;          // lower case with the dot, as PIL registers them for the format
  bool alpha;                   // holds 2- and 4-channel images (gray+alpha, RGBA)
  int max_bit_depth;            // 8 or 16 bits per sample
  int64_t max_dimension;        // widest and highest image it can store, in pixels
  std::string_view metrics_label;  // `format` label value of the daemon's metrics
};

namespace formats_internal {
inline constexpr std::string_view kPngExtensions[] = {".png", ".apng"};
inline constexpr std::string_view kJpegAliases[] = {"jpg"};
inline constexpr std::string_view kJpegExtensions[] = {".jpg", ".jpeg", ".jpe", ".jfif"};
inline constexpr std::string_view kWebpExtensions[] = {".webp"};
}  // namespace formats_internal

// One row per OutputFormat, in enum order.
inline constexpr FormatInfo kFormatTable[] = {
    // PNG: width and height are 31-bit (PNG spec 11.2.2); 1..4 channels, 8 or 16 bits.
    {OutputFormat::kPng, "png", NameList{},
     Names(formats_internal::kPngExtensions), true, 16, 0x7fffffff, "png"},
    // JPEG: libjpeg's JPEG_MAX_DIMENSION; gray or YCbCr, 8 bits, no alpha.
    {OutputFormat::kJpeg, "jpeg", Names(formats_internal::kJpegAliases),
     Names(formats_internal::kJpegExtensions), false, 8, 65500, "jpeg"},
    // WebP (libwebp): WEBP_MAX_DIMENSION; RGB or RGBA, 8 bits (gray is written as RGB).
    {OutputFormat::kWebp, "webp", NameList{}, Names(formats_internal::kWebpExtensions), true, 8,
     16383, "webp"},
};
inline constexpr size_t kOutputFormatCount = std::size(kFormatTable);

// Returns true iff `format` is a value of the enum (false for a corrupted byte).
// The switch is exhaustive on purpose: a new OutputFormat does not compile until it is listed
// here, and then the static_assert below fails until kFormatTable has its row.
constexpr bool IsOutputFormat(OutputFormat format) {
  switch (format) {
    case OutputFormat::kPng:
    case OutputFormat::kJpeg:
    case OutputFormat::kWebp:
      return true;
  }
  return false;
}

namespace formats_internal {
constexpr bool RowsInEnumOrder() {
  for (size_t i = 0; i < kOutputFormatCount; ++i) {
    if (kFormatTable[i].format != static_cast<OutputFormat>(i)) return false;
  }
  return true;
}
}  // namespace formats_internal
static_assert(formats_internal::RowsInEnumOrder(), "kFormatTable: one row per format, in order");
static_assert(!IsOutputFormat(static_cast<OutputFormat>(kOutputFormatCount)),
              "kFormatTable lacks a row for the last OutputFormat");

// Index of `format`'s row (for arrays with one entry per format).  REQUIRES: IsOutputFormat.
constexpr size_t FormatIndex(OutputFormat format) { return static_cast<size_t>(format); }

// `format`'s row.  REQUIRES: IsOutputFormat(format).
constexpr const FormatInfo& FormatInfoOf(OutputFormat format) {
  return kFormatTable[FormatIndex(format)];
}

// The row whose wire name or alias is `name` (exact, case-sensitive), or nullptr.
const FormatInfo* FindFormatByName(std::string_view name);

// Infers the format from the path's extension as PIL does (os.path.splitext of the path, then
// the table's extensions, case-insensitive).  Returns false when no format claims it.
bool InferOutputFormat(std::string_view path, OutputFormat* out);

// The format a save writes: `format` when set, else inferred from `path`.  Returns false iff
// it is unset and cannot be inferred.  The daemon (validation, journal replay) and the C++
// client all decide with this one function.
bool ResolveOutputFormat(const std::optional<OutputFormat>& format, std::string_view path,
                         OutputFormat* out);

// Every extension of the table, for error messages: ".png, .apng, .jpg, ...".
std::string KnownExtensions();

}  // namespace imgsink
