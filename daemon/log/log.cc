#include "daemon/log/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

namespace imgsink::daemon {
namespace {
std::atomic<int> g_level{int(LogLevel::kInfo)};
}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(int(level), std::memory_order_relaxed); }

bool ParseLogLevel(std::string_view name, LogLevel* level) {
  static const std::pair<std::string_view, LogLevel> kLevels[] = {
      {"error", LogLevel::kError}, {"warning", LogLevel::kWarning}, {"notice", LogLevel::kNotice},
      {"info", LogLevel::kInfo},   {"debug", LogLevel::kDebug}};
  for (const auto& [n, l] : kLevels) {
    if (n == name) {
      *level = l;
      return true;
    }
  }
  return false;
}

void Log(LogLevel level, std::string_view message) {
  if (int(level) > g_level.load(std::memory_order_relaxed)) return;
  std::string line = "<" + std::to_string(int(level)) + ">";
  line.append(message);
  for (char& ch : line) {
    if (ch == '\n') ch = ' ';  // one event, one line
  }
  line.push_back('\n');
  // One write(2) per line: atomic for pipes up to PIPE_BUF, and never interleaved mid-line by
  // stdio buffering.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace imgsink::daemon
