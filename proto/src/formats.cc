// Lookups over kFormatTable (formats.h).
#include "imgsink/proto/formats.h"

#include <cctype>

namespace imgsink {
namespace {

bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto ca = static_cast<unsigned char>(a[i]);
    const auto cb = static_cast<unsigned char>(b[i]);
    if (std::tolower(ca) != std::tolower(cb)) return false;
  }
  return true;
}

// The extension as Python's os.path.splitext takes it (PIL's Image.save does): the text from
// the last '.' of the last component, unless only dots come before that '.' in the component
// (".png" and "..png" have none).  Empty when there is none.
std::string_view Extension(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  const std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = base.find_last_of('.');
  if (dot == std::string_view::npos) return {};
  if (base.find_first_not_of('.') >= dot) return {};
  return base.substr(dot);
}

}  // namespace

const FormatInfo* FindFormatByName(std::string_view name) {
  for (const FormatInfo& f : kFormatTable) {
    if (f.name == name) return &f;
    for (std::string_view alias : f.aliases) {
      if (alias == name) return &f;
    }
  }
  return nullptr;
}

bool InferOutputFormat(std::string_view path, OutputFormat* out) {
  const std::string_view ext = Extension(path);
  if (ext.empty()) return false;
  for (const FormatInfo& f : kFormatTable) {
    for (std::string_view known : f.extensions) {
      if (EqualsIgnoreAsciiCase(ext, known)) {
        *out = f.format;
        return true;
      }
    }
  }
  return false;
}

bool ResolveOutputFormat(const std::optional<OutputFormat>& format, std::string_view path,
                         OutputFormat* out) {
  if (format.has_value()) {
    *out = *format;
    return true;
  }
  return InferOutputFormat(path, out);
}

std::string KnownExtensions() {
  std::string out;
  for (const FormatInfo& f : kFormatTable) {
    for (std::string_view ext : f.extensions) {
      if (!out.empty()) out += ", ";
      out += ext;
    }
  }
  return out;
}

}  // namespace imgsink
