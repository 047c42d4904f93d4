// imgsinkd: the image sink daemon.  See README.md and `imgsinkd --help`.
#include <csignal>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
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

  int exit_code = 0;
  Server server(options, [&io, &exit_code](const Status&) {
    // From a journal thread: hand the stop to the main thread.
    boost::asio::post(io, [&io, &exit_code] {
      exit_code = 1;
      io.stop();
    });
  });
  s = server.Start();
  if (!s.ok()) {
    LogError("cannot start: " + s.ToString());
    return 1;
  }
  std::string where;
  for (const std::string& e : server.endpoints()) where += " " + e;
  LogNotice(std::string("imgsinkd ") + kImgsinkVersion + " listening on" + where + ", output root " +
            options.output_root + ", " + std::to_string(options.workers) + " workers");

  io.run();  // returns once a signal arrived or the journal failed
  server.Stop();
  const auto counters = server.Counters();
  LogNotice("stopped: " + std::to_string(counters.at("written")) + " jobs written, " +
            std::to_string(counters.at("failed")) + " failed");
  return exit_code;
}
