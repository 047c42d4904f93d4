#include "imgsink/curve_keys.h"

#include <sys/stat.h>

#include <fstream>
#include <vector>

namespace imgsink {
namespace {

constexpr size_t kZ85KeyChars = 40;

std::string Trim(const std::string& s) {
  const char* space = " \t\r\n";
  const size_t begin = s.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(space) - begin + 1);
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

}  // namespace

Status LoadCurveKey(const std::string& key_or_path, std::string* z85) {
  if (key_or_path.size() == kZ85KeyChars && !FileExists(key_or_path)) {
    *z85 = key_or_path;
    return Status::OK();
  }
  std::ifstream in(key_or_path);
  if (!in) {
    return Status(ErrorCode::kBadOption, "CURVE key: neither a 40-character Z85 key nor a "
                                         "readable key file: '" + key_or_path + "'");
  }
  std::string line;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (line.size() != kZ85KeyChars) break;
    *z85 = line;
    return Status::OK();
  }
  return Status(ErrorCode::kBadOption,
                "CURVE key file '" + key_or_path + "' holds no 40-character Z85 key");
}

Status ParseCurveKeys(const std::string& spec, CurveKeys* keys) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t comma = spec.find(',', start);
    parts.push_back(Trim(spec.substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (parts.size() != 3) {
    return Status(ErrorCode::kBadOption,
                  "CURVE keys must be SERVER,PUBLIC,SECRET (keys or key files), got " +
                      std::to_string(parts.size()) + " parts");
  }
  CurveKeys parsed;
  Status s = LoadCurveKey(parts[0], &parsed.server_public_key);
  if (s.ok()) s = LoadCurveKey(parts[1], &parsed.public_key);
  if (s.ok()) s = LoadCurveKey(parts[2], &parsed.secret_key);
  if (!s.ok()) return s;
  *keys = std::move(parsed);
  return Status::OK();
}

}  // namespace imgsink
