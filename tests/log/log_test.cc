// daemon/log: level names, the "<N>" priority prefix journald reads, the level filter, one line
// per event, and whole lines under concurrent logging.
#include "daemon/log/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch.hpp>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_util/temp_dir.h"

namespace imgsink::daemon {
namespace {

// Redirects the process's stderr (fd 2, where Log writes) into a file for its lifetime, and
// restores the level to the default (info) on both ends so tests do not leak it.
class CapturedStderr {
 public:
  CapturedStderr() : path_(dir_.File("stderr")) {
    SetLogLevel(LogLevel::kInfo);
    saved_ = ::dup(STDERR_FILENO);
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    REQUIRE(saved_ >= 0);
    REQUIRE(fd >= 0);
    REQUIRE(::dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    ::close(fd);
  }
  ~CapturedStderr() {
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    SetLogLevel(LogLevel::kInfo);
  }
  CapturedStderr(const CapturedStderr&) = delete;
  CapturedStderr& operator=(const CapturedStderr&) = delete;

  // Everything written to stderr so far.
  std::string Text() const {
    std::ifstream in(path_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::vector<std::string> Lines() const {
    std::vector<std::string> lines;
    std::istringstream in(Text());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

 private:
  testutil::TempDir dir_{"log-test"};
  std::string path_;
  int saved_ = -1;
};

TEST_CASE("ParseLogLevel accepts exactly the five level names", "[log]") {
  const std::pair<const char*, LogLevel> names[] = {{"error", LogLevel::kError},
                                                    {"warning", LogLevel::kWarning},
                                                    {"notice", LogLevel::kNotice},
                                                    {"info", LogLevel::kInfo},
                                                    {"debug", LogLevel::kDebug}};
  for (const auto& [name, expected] : names) {
    LogLevel level = LogLevel::kError == expected ? LogLevel::kDebug : LogLevel::kError;
    INFO(name);
    CHECK(ParseLogLevel(name, &level));
    CHECK(level == expected);
  }
  for (const char* bad : {"", "warn", "INFO", "Info", "err", "debug ", "trace", "5"}) {
    LogLevel level = LogLevel::kNotice;
    INFO("'" << bad << "'");
    CHECK_FALSE(ParseLogLevel(bad, &level));
    CHECK(level == LogLevel::kNotice);  // untouched on failure
  }
}

TEST_CASE("Log writes one line prefixed with the syslog priority", "[log]") {
  CapturedStderr err;
  LogError("disk full");
  LogWarning("slow client");
  LogNotice("listening");
  LogInfo("job 7 written");
  CHECK(err.Text() == "<3>disk full\n<4>slow client\n<5>listening\n<6>job 7 written\n");
}

TEST_CASE("Log drops lines less severe than the level", "[log]") {
  CapturedStderr err;
  LogDebug("hidden at the default level");
  SetLogLevel(LogLevel::kWarning);
  LogInfo("hidden");
  LogNotice("hidden");
  LogWarning("shown");
  LogError("shown too");
  SetLogLevel(LogLevel::kDebug);
  LogDebug("now shown");
  SetLogLevel(LogLevel::kError);
  LogWarning("hidden again");
  CHECK(err.Lines() == std::vector<std::string>{"<4>shown", "<3>shown too", "<7>now shown"});
}

TEST_CASE("Log turns embedded newlines into spaces: one event, one line", "[log]") {
  CapturedStderr err;
  LogWarning("first\nsecond\n");
  Log(LogLevel::kError, std::string_view("a\0b", 3));  // a string_view, not a C string
  CHECK(err.Text() == std::string("<4>first second \n<3>a") + '\0' + "b\n");
}

TEST_CASE("Lines logged from many threads never interleave", "[log]") {
  CapturedStderr err;
  constexpr int kThreads = 8;
  constexpr int kLines = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      // Long enough that a line written in pieces would be torn by the others.
      const std::string body(200, char('a' + t));
      for (int i = 0; i < kLines; ++i) LogInfo(std::to_string(t) + ":" + body);
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> expected;
  for (int t = 0; t < kThreads; ++t) {
    expected.insert("<6>" + std::to_string(t) + ":" + std::string(200, char('a' + t)));
  }
  const std::vector<std::string> lines = err.Lines();
  CHECK(lines.size() == size_t(kThreads) * kLines);
  size_t torn = 0;
  for (const std::string& line : lines) torn += expected.count(line) == 0;
  CHECK(torn == 0);
}

}  // namespace
}  // namespace imgsink::daemon
