// Test helpers: a reader of Prometheus text exposition (independent of prometheus-cpp) and a
// bare HTTP/1.0 GET over loopback.
#pragma once

#include <map>
#include <string>

namespace imgsink::daemon {
namespace test {

// A parsed exposition: sample values by series ("name" or "name{a=\"x\",b=\"y\"}" with the
// labels sorted by name), and the declared type of each family ("counter", "gauge", ...).
struct Exposition {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::string error;  // empty iff every line parsed

  // The value of `series`; fails the current test case if absent.
  double at(const std::string& series) const;
  bool has(const std::string& series) const { return samples.count(series) != 0; }
};

Exposition ParseExposition(const std::string& text);

// Sends "GET <path> HTTP/1.0" to 127.0.0.1:<port>; returns the whole response (status line,
// headers, body), or "" if the connection failed.
std::string HttpGet(int port, const std::string& path);

}  // namespace test
}  // namespace imgsink::daemon
