#include "format.h"

#include <algorithm>
#include <cstdio>

namespace imgsink {
namespace ctl {

std::string HumanBytes(uint64_t bytes) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = double(bytes) / 1024;
  int unit = 0;
  while (v >= 1024 && unit < 5) {
    v /= 1024;
    ++unit;
  }
  return Fixed(v, 1) + " " + kUnits[unit];
}

std::string ProgressBar(uint64_t done, uint64_t total, int width) {
  const int filled = total == 0 ? width : int(double(std::min(done, total)) / double(total) * width);
  return "[" + std::string(size_t(filled), '#') + std::string(size_t(width - filled), '-') + "]";
}

std::string Percent(uint64_t part, uint64_t whole) {
  if (whole == 0) return "0%";
  return Fixed(100.0 * double(part) / double(whole), 0) + "%";
}

std::string Fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

}  // namespace ctl
}  // namespace imgsink
