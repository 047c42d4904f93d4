#include "daemon/config/startup_checks.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <vector>

namespace imgsink::daemon {
namespace {

std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

void Append(std::string* path, const std::string& component) {
  if (component == ".") return;
  if (component == "..") {
    const size_t slash = path->rfind('/');
    path->resize(slash == 0 || slash == std::string::npos ? 1 : slash);
    return;
  }
  if (path->empty() || path->back() != '/') path->push_back('/');
  *path += component;
}

}  // namespace

std::string ResolvedPath(const std::string& path) {
  std::string absolute = path;
  if (absolute.empty() || absolute[0] != '/') {
    std::unique_ptr<char, decltype(&free)> cwd(getcwd(nullptr, 0), free);
    absolute = std::string(cwd ? cwd.get() : "") + "/" + absolute;
  }
  const std::vector<std::string> parts = Components(absolute);
  for (size_t existing = parts.size();; --existing) {
    std::string prefix = "/";
    for (size_t i = 0; i < existing; ++i) prefix += (i ? "/" : "") + parts[i];
    std::unique_ptr<char, decltype(&free)> real(realpath(prefix.c_str(), nullptr), free);
    if (real != nullptr) {
      std::string resolved = real.get();
      for (size_t i = existing; i < parts.size(); ++i) Append(&resolved, parts[i]);
      return resolved;
    }
    if (existing == 0) break;
  }
  std::string lexical = "/";
  for (const std::string& part : parts) Append(&lexical, part);
  return lexical;
}

bool PathWithin(const std::string& inner, const std::string& outer) {
  if (outer == "/") return true;
  return inner == outer || (inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
                            inner[outer.size()] == '/');
}

Status CheckJournalApart(const std::string& journal_dir, const std::string& output_root) {
  if (output_root.find("://") != std::string::npos) return Status::OK();  // not a local directory
  const std::string journal = ResolvedPath(journal_dir);
  const std::string root = ResolvedPath(output_root);
  const std::string shown = "--journal-dir " + journal_dir + " (" + journal + ") and --output-root " +
                            output_root + " (" + root + ")";
  if (PathWithin(journal, root)) {
    return Status(ErrorCode::kBadOption,
                  shown + ": the journal lies within the output root, where a save could replace "
                          "its LOCK or segments; put the journal outside the output root");
  }
  if (PathWithin(root, journal)) {
    return Status(ErrorCode::kBadOption,
                  shown + ": the output root lies within the journal directory; put it elsewhere");
  }
  return Status::OK();
}

}  // namespace imgsink::daemon
