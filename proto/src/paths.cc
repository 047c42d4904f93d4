// Output paths, the rules on a path (PROTOCOL.md "Paths"): which paths a client may send, how
// the daemon's path mode resolves them beneath its output roots, and how a path is quoted in
// an error message.  The path templates are in path_template.cc.
#include "imgsink/proto/paths.h"

#include <cstdio>

namespace imgsink {

namespace {

// Returns true iff `s` is well-formed UTF-8.  (A copy of the check in the daemon's
// encode/text_metadata.cc: proto does not depend on the daemon.)
bool IsUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const uint8_t b0 = static_cast<uint8_t>(s[i]);
    int extra = b0 < 0x80 ? 0 : (b0 & 0xE0) == 0xC0 ? 1 : (b0 & 0xF0) == 0xE0 ? 2 : (b0 & 0xF8) == 0xF0 ? 3 : -1;
    if (extra < 0 || s.size() - i <= size_t(extra)) return false;
    uint32_t cp = extra == 0 ? b0 : b0 & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k) {
      const uint8_t b = static_cast<uint8_t>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += 1 + extra;
  }
  return true;
}

Status BadPath(std::string_view path, const std::string& why) {
  return Status(ErrorCode::kBadPath, "path " + QuoteForMessage(path) + " " + why);
}

}  // namespace

std::string QuoteForMessage(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  const bool utf8 = IsUtf8(s);
  std::string q = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    if (i >= 200 && (!utf8 || (c & 0xC0) != 0x80)) {  // cut on a character boundary
      q += "...";
      break;
    }
    if (c < 0x20 || c == 0x7F || c == '"' || c == '\\' || (c >= 0x80 && !utf8)) {
      q += "\\x";
      q += kHex[c >> 4];
      q += kHex[c & 15];
    } else {
      q += static_cast<char>(c);
    }
  }
  return q + "\"";
}

Status CheckRelativePath(std::string_view path) {
  if (path.empty()) return Status(ErrorCode::kBadPath, "path is empty");
  if (path.size() > kMaxPathBytes) {
    return BadPath(path, "is " + std::to_string(path.size()) + " bytes; at most " +
                             std::to_string(kMaxPathBytes) + " are allowed");
  }
  if (path.find('\0') != std::string_view::npos) return BadPath(path, "contains a NUL byte");
  if (path.front() == '/') return BadPath(path, "is absolute; paths are relative to the output root");
  if (path.back() == '/') return BadPath(path, "ends with '/'; it must name a file");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view component = path.substr(start, end - start);
    if (component.empty()) return BadPath(path, "has an empty component ('//')");
    if (component == "." || component == "..") {
      return BadPath(path, "has a '" + std::string(component) + "' component; '.' and '..' are not allowed");
    }
    start = end + 1;
  }
  return Status::OK();
}

Status CheckOutputPath(std::string_view path) {
  if (path.empty()) return Status(ErrorCode::kBadPath, "path is empty");
  if (path.size() > kMaxPathBytes) {
    return BadPath(path, "is " + std::to_string(path.size()) + " bytes; at most " +
                             std::to_string(kMaxPathBytes) + " are allowed");
  }
  if (path.find('\0') != std::string_view::npos) return BadPath(path, "contains a NUL byte");
  if (path.back() == '/') return BadPath(path, "ends with '/'; it must name a file");
  const size_t slash = path.rfind('/');
  const std::string_view last = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (last == "." || last == "..") return BadPath(path, "ends with '" + std::string(last) + "'; it must name a file");
  return Status::OK();
}

std::string DropDotComponents(std::string_view path) {
  std::string out;
  if (!path.empty() && path.front() == '/') out = "/";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view component = path.substr(start, end - start);
    if (!component.empty() && component != ".") {
      if (!out.empty() && out.back() != '/') out += '/';
      out.append(component);
    }
    start = end + 1;
  }
  return out;
}

bool IsBeneath(std::string_view root, std::string_view path, std::string_view* rel) {
  if (root == "/") {
    if (path.empty() || path.front() != '/') return false;
    *rel = path.substr(1);
    return true;
  }
  if (path.substr(0, root.size()) != root) return false;
  if (path.size() == root.size()) {
    *rel = std::string_view();
    return true;
  }
  if (path[root.size()] != '/') return false;
  *rel = path.substr(root.size() + 1);
  return true;
}

namespace {

bool HasDotDot(std::string_view path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

std::string RootList(const std::vector<std::string>& roots) {
  std::string list;
  for (const std::string& root : roots) list += (list.empty() ? "" : ", ") + QuoteForMessage(root);
  return list;
}

}  // namespace

Status ResolveOutputPath(const PathRules& rules, std::string_view cwd, std::string_view path,
                         std::string* out) {
  Status s = CheckOutputPath(path);
  if (!s.ok()) return s;
  const bool absolute = path.front() == '/';
  if (rules.mode == PathMode::kCaller && (absolute || !cwd.empty())) {
    std::string joined = absolute ? std::string(path) : std::string(cwd) + "/" + std::string(path);
    *out = DropDotComponents(joined);
    if (out->size() > kMaxPathBytes) {
      return BadPath(path, "resolves to " + std::to_string(out->size()) + " bytes beneath the working directory " +
                               QuoteForMessage(cwd) + "; at most " + std::to_string(kMaxPathBytes) + " are allowed");
    }
    return Status::OK();
  }
  if (HasDotDot(path)) {
    return BadPath(path, "has a '..' component; this daemon writes only beneath its output roots (" +
                             RootList(rules.roots) + ")");
  }
  std::string dropped = DropDotComponents(path);
  if (!absolute) {
    *out = std::move(dropped);
    return CheckRelativePath(*out);
  }
  for (size_t k = 0; k < rules.roots.size(); ++k) {
    std::string_view rel;
    if (!IsBeneath(rules.roots[k], dropped, &rel) || rel.empty()) continue;
    *out = k == 0 ? std::string(rel) : dropped;
    return Status::OK();
  }
  return BadPath(path, "is outside the output roots; this daemon accepts absolute paths only beneath " +
                           RootList(rules.roots));
}

}  // namespace imgsink
