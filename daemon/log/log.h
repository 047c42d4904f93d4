// Log: one line per event to stderr, prefixed with the syslog priority in the "<N>" form that
// journald (and systemd's stderr capture) understands.
// Thread-safety: Log() may be called from any thread; lines never interleave.
#pragma once

#include <string_view>

namespace imgsink::daemon {

enum class LogLevel { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

// Lines above `level` (less severe) are dropped.  Default kInfo.  Thread-safe.
void SetLogLevel(LogLevel level);
// Returns true iff `name` (error, warning, notice, info, debug) names a level; sets *level.
bool ParseLogLevel(std::string_view name, LogLevel* level);

void Log(LogLevel level, std::string_view message);

inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogNotice(std::string_view m) { Log(LogLevel::kNotice, m); }
inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogDebug(std::string_view m) { Log(LogLevel::kDebug, m); }

}  // namespace imgsink::daemon
