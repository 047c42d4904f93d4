// Text helpers of imgsinkctl's output.  Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace imgsink {
namespace ctl {

// "512 B", "1.5 KiB", "2.0 GiB": binary units, one decimal above bytes.
std::string HumanBytes(uint64_t bytes);

// "[########------------]": `done` of `total` as `width` cells.  REQUIRES: width >= 1.
std::string ProgressBar(uint64_t done, uint64_t total, int width);

// `part` as a percentage of `whole` with no decimals ("0%" when whole is 0).
std::string Percent(uint64_t part, uint64_t whole);

// `value` with `decimals` digits after the point.
std::string Fixed(double value, int decimals);

}  // namespace ctl
}  // namespace imgsink
