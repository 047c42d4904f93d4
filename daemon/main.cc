// imgsinkd: the image sink daemon.  See README.md and `imgsinkd --help`.
#include <csignal>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "daemon/config/options.h"
#include "daemon/core/server.h"
#include "daemon/log/log.h"
#include "daemon/version.h"

int main(int argc, char** argv) {
  using namespace imgsink;
  DaemonOptions options;
  if (std::optional<int> exit_code = ParseCommandLine(argc, argv, &options)) return *exit_code;
  Status s = FinalizeOptions(&options);
  if (!s.ok()) {
    LogError("bad options: " + s.message());
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);

  // Install the signal handlers before any thread starts, so no signal is lost early.
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([](const boost::system::error_code& ec, int signo) {
    if (!ec) LogNotice(std::string("received ") + strsignal(signo) + ": draining");
  });

  Server server(options);
  s = server.Start();
  if (!s.ok()) {
    LogError("cannot start: " + s.ToString());
    return 1;
  }
  std::string where;
  for (const std::string& e : server.endpoints()) where += " " + e;
  LogNotice(std::string("imgsinkd ") + kImgsinkVersion + " listening on" + where + ", output root " +
            options.output_root + ", " + std::to_string(options.workers) + " workers");

  io.run();  // returns once the signal handler has run
  server.Stop();
  const auto counters = server.stats().Snapshot();
  LogNotice("stopped: " + std::to_string(counters.at("written")) + " jobs written, " +
            std::to_string(counters.at("failed")) + " failed");
  return 0;
}
