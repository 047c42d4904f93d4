#include "exposition.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <vector>

#include <catch.hpp>

namespace imgsink::daemon {
namespace test {
namespace {

// Parses `{a="x",b="y"}` (values without quotes, commas or escapes: enough for our labels)
// into "a=\"x\"" items sorted by label name.  Returns false on a malformed set.
bool ParseLabels(const std::string& s, std::string* sorted) {
  std::vector<std::string> items;
  size_t i = 0;
  while (i < s.size()) {
    const size_t eq = s.find("=\"", i);
    if (eq == std::string::npos) return false;
    const size_t close = s.find('"', eq + 2);
    if (close == std::string::npos) return false;
    items.push_back(s.substr(i, close + 1 - i));
    i = close + 1;
    if (i < s.size()) {
      if (s[i] != ',') return false;
      ++i;
    }
  }
  std::sort(items.begin(), items.end());
  for (size_t k = 0; k < items.size(); ++k) *sorted += (k ? "," : "") + items[k];
  return true;
}

}  // namespace

double Exposition::at(const std::string& series) const {
  const auto it = samples.find(series);
  INFO("series " << series);
  REQUIRE(it != samples.end());
  return it->second;
}

Exposition ParseExposition(const std::string& text) {
  Exposition e;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream fields(line.substr(7));
      std::string name, type;
      fields >> name >> type;
      e.types[name] = type;
      continue;
    }
    if (line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) {
      e.error = "no value: " + line;
      break;
    }
    std::string series = line.substr(0, space);
    const size_t brace = series.find('{');
    if (brace != std::string::npos) {
      std::string sorted;
      if (series.back() != '}' ||
          !ParseLabels(series.substr(brace + 1, series.size() - brace - 2), &sorted)) {
        e.error = "bad labels: " + line;
        break;
      }
      series = series.substr(0, brace) + (sorted.empty() ? "" : "{" + sorted + "}");
    }
    const std::string value = line.substr(space + 1);
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || *end != '\0') {
      e.error = "bad value: " + line;
      break;
    }
    e.samples[series] = v;
  }
  return e;
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == ssize_t(request.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) response.append(buf, size_t(n));
    }
  }
  ::close(fd);
  return response;
}

}  // namespace test
}  // namespace imgsink::daemon
