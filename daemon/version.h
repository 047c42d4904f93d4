#pragma once

namespace imgsink::daemon {
// Set by CMake from project(VERSION); see daemon/CMakeLists.txt.
inline constexpr const char* kImgsinkVersion = IMGSINK_VERSION;
}  // namespace imgsink::daemon
