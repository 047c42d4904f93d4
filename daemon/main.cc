// imgsinkd: the image sink daemon.  See README.md and `imgsinkd --help`.
//
// The main thread owns start-up, signals (SIGINT/SIGTERM drain, SIGHUP reload), --idle-exit and the
// service manager protocol (sd_notify: READY, STATUS, WATCHDOG, RELOADING, STOPPING); the
// Server runs everything else on its own threads.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/config/options.h"
#include "daemon/core/server.h"
#include "daemon/log/log.h"
#include "daemon/metrics/exporter.h"
#include "daemon/service/listen_fds.h"
#include "daemon/service/systemd_notify.h"
#include "daemon/version.h"

namespace imgsink::daemon {
namespace {

// Each worker holds up to WriteGroup::kMaxFiles temp files open while it writes a job, so the
// usual soft limit of 1024 fds runs out at a dozen workers.  Take the hard limit, as systemd
// advises programs that need many fds (nothing here uses select()).
void RaiseFdLimit() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) LogWarning("cannot raise the open file limit");
  }
}

void ApplyLogLevel(const DaemonOptions& options) {
  LogLevel level;
  if (ParseLogLevel(options.log_level, &level)) SetLogLevel(level);
}

// Parses and finalizes; returns the exit code when the process should not run.
std::optional<int> LoadOptions(const std::vector<std::string>& args,
                               const std::vector<InheritedSocket>& inherited,
                               DaemonOptions* options) {
  if (std::optional<int> code = ParseCommandLine(args, options)) return code;
  options->inherited_sockets = inherited;
  Status s = FinalizeOptions(options);
  if (!s.ok()) {
    std::cerr << "imgsinkd: bad options: " << s.message() << "\n";
    return 2;
  }
  return std::nullopt;
}

// SIGHUP: re-reads the command line and config file; applies what can change live.
void Reload(const std::vector<std::string>& args, DaemonOptions* running, Server* server) {
  NotifyServiceManager("RELOADING=1");
  DaemonOptions reloaded;
  std::string fixed;
  if (LoadOptions(args, running->inherited_sockets, &reloaded)) {
    LogError("reload: the configuration does not load; keeping the running one");
  } else if (!OnlyReloadableDiffer(*running, reloaded, &fixed)) {
    LogError("reload: " + fixed + " changed; these need a restart, nothing was applied");
  } else if (reloaded.workers > server->max_workers()) {
    LogError("reload: workers " + std::to_string(reloaded.workers) + " is over the " +
             std::to_string(server->max_workers()) + " threads started with; restart for more");
  } else if (Status b = CheckReloadedJournalBudget(reloaded, server->journal_segment_bytes());
             !b.ok()) {
    LogError("reload: " + b.message() + "; nothing was applied");
  } else {
    server->Reload(reloaded);
    ApplyLogLevel(reloaded);
    *running = reloaded;
    LogNotice("reloaded " + running->config_file + ": memory_budget " +
              std::to_string(running->memory_budget) + ", journal_budget " +
              std::to_string(running->journal_budget) + ", workers " +
              std::to_string(running->workers) + ", log_level " + running->log_level);
  }
  NotifyServiceManager("READY=1");
}

// Journal recovery reads and checksums every segment before READY=1.  Asks the service manager
// for a start timeout that grows with the journal: 20 MB/s (a slow disk) plus a minute.
// EXTEND_TIMEOUT_USEC never shortens TimeoutStartSec=, so a small journal changes nothing.
void ExtendStartTimeoutForRecovery(const DaemonOptions& options) {
  if (!options.journal) return;
  std::error_code ec;
  uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(options.journal_dir, ec)) {
    const uintmax_t size = entry.is_regular_file(ec) ? entry.file_size(ec) : 0;
    if (!ec) bytes += size;
  }
  if (bytes == 0) return;
  const uint64_t seconds = 60 + bytes / (uint64_t{20} << 20);
  NotifyServiceManager("EXTEND_TIMEOUT_USEC=" + std::to_string(seconds * 1000000) +
                       "\nSTATUS=recovering the journal (" + std::to_string(bytes >> 20) +
                       " MiB)");
}

std::string StatusLine(const std::map<std::string, uint64_t>& c, double written_per_s) {
  return "STATUS=queue " + std::to_string(c.at("queued")) + ", in progress " +
         std::to_string(c.at("in_progress")) + ", retrying " + std::to_string(c.at("retrying")) +
         ", " + std::to_string(c.at("written")) + " jobs written (" +
         std::to_string(int64_t(written_per_s)) + "/s)";
}

// Every `period`: STATUS=, and WATCHDOG=1 while the server is healthy.
class ServiceHeartbeat {
 public:
  ServiceHeartbeat(boost::asio::io_context* io, Server* server)
      : timer_(*io), server_(server), watchdog_(WatchdogInterval().count() > 0) {
    period_ = watchdog_ ? std::chrono::duration_cast<std::chrono::milliseconds>(WatchdogInterval() / 2)
                        : std::chrono::milliseconds(5000);
    Arm();
  }

 private:
  void Arm() {
    timer_.expires_after(period_);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      const auto c = server_->Counters();
      const double rate = double(c.at("written") - last_written_) * 1000.0 / double(period_.count());
      last_written_ = c.at("written");
      std::string state = StatusLine(c, rate);
      if (watchdog_ && server_->Healthy()) state += "\nWATCHDOG=1";
      NotifyServiceManager(state);
      Arm();
    });
  }

  boost::asio::steady_timer timer_;
  Server* server_;
  bool watchdog_;
  std::chrono::milliseconds period_;
  uint64_t last_written_ = 0;
};

// --idle-exit: stops `io` (a clean drain, as on SIGTERM) once no client message arrived and no
// job was in flight or waiting for credit for `idle`.  Polls the server's counters (a message
// moves "requests"), so it needs nothing from the socket thread.
class IdleExit {
 public:
  IdleExit(boost::asio::io_context* io, Server* server, std::chrono::seconds idle)
      : io_(io), timer_(*io), server_(server), idle_(idle),
        period_(std::min<std::chrono::milliseconds>(std::chrono::milliseconds(500), idle_)),
        last_active_(std::chrono::steady_clock::now()) {
    if (idle_.count() > 0) Arm();
  }

 private:
  void Arm() {
    timer_.expires_after(period_);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      const auto c = server_->Counters();
      const auto now = std::chrono::steady_clock::now();
      if (c.at("requests") != last_requests_ || c.at("in_flight") > 0 ||
          c.at("credit_waiting") > 0) {
        last_requests_ = c.at("requests");
        last_active_ = now;
      } else if (now - last_active_ >= idle_) {
        LogNotice("idle for " + std::to_string(idle_.count()) + " s (--idle-exit): draining");
        io_->stop();
        return;
      }
      Arm();
    });
  }

  boost::asio::io_context* io_;
  boost::asio::steady_timer timer_;
  Server* server_;
  const std::chrono::seconds idle_;
  const std::chrono::milliseconds period_;
  std::chrono::steady_clock::time_point last_active_;
  uint64_t last_requests_ = 0;
};

int Run(const std::vector<std::string>& args, DaemonOptions options) {
  std::signal(SIGPIPE, SIG_IGN);
  ApplyLogLevel(options);
  RaiseFdLimit();
  // Install the signal handlers before any thread starts, so no signal is lost early.
  boost::asio::io_context io;
  boost::asio::signal_set stop_signals(io, SIGINT, SIGTERM);
  boost::asio::signal_set reload_signal(io, SIGHUP);
  int exit_code = 0;
  Server server(options, [&io, &exit_code](const Status&) {
    boost::asio::post(io, [&io, &exit_code] {  // from a journal thread: stop on the main thread
      exit_code = 1;
      io.stop();
    });
  });
  ExtendStartTimeoutForRecovery(options);
  Status s = server.Start();
  if (!s.ok()) {
    LogError("cannot start: " + s.ToString());
    return 1;
  }
  std::string where;
  for (const std::string& e : server.endpoints()) where += " " + e;
  std::string outputs;  // --output: URLs only (never a credential)
  for (const std::string& o : options.outputs) outputs += ", output " + o;
  LogNotice(std::string("imgsinkd ") + kImgsinkVersion + " listening on" + where +
            ", output root " + options.output_root + outputs + ", journal " +
            (options.journal ? options.journal_dir : std::string("off")) + ", " +
            std::to_string(options.workers) + " workers");
  if (!options.inherited_sockets.empty()) {
    LogNotice("socket activation: " + std::to_string(options.inherited_sockets.size()) +
              " listening sockets inherited from the service manager");
  }
  std::unique_ptr<metrics::Exporter> exporter;  // declared after `server`: destroyed first
  if (!options.metrics_listen.empty()) {
    s = metrics::Exporter::Start(options.metrics_listen, server.stats().job_metrics,
                                 [&server] { return server.Counters(); }, &exporter);
    if (!s.ok()) {
      LogError("cannot start: " + s.ToString());
      return 1;
    }
    LogNotice("metrics on http://" + options.metrics_listen + "/metrics");
  }
  NotifyServiceManager("READY=1\nSTATUS=ready");

  stop_signals.async_wait([&io](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    LogNotice(std::string("received ") + strsignal(signo) + ": draining");
    io.stop();
  });
  std::function<void(const boost::system::error_code&, int)> on_hup =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        Reload(args, &options, &server);
        reload_signal.async_wait(on_hup);
      };
  reload_signal.async_wait(on_hup);
  ServiceHeartbeat heartbeat(&io, &server);
  IdleExit idle_exit(&io, &server, std::chrono::seconds(options.idle_exit_s));

  io.run();  // returns once SIGINT/SIGTERM arrived, the daemon was idle, or the journal failed
  NotifyServiceManager("STOPPING=1\nSTATUS=draining");
  server.Stop();
  const auto counters = server.Counters();
  LogNotice("stopped: " + std::to_string(counters.at("written")) + " jobs written, " +
            std::to_string(counters.at("failed")) + " failed");
  return exit_code;
}

}  // namespace
}  // namespace imgsink::daemon

int main(int argc, char** argv) {
  using namespace imgsink;
  using namespace imgsink::daemon;
  const std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<InheritedSocket> inherited;
  Status s = TakeInheritedSockets(&inherited);
  if (!s.ok()) {
    std::cerr << "imgsinkd: " << s.message() << "\n";
    return 2;
  }
  DaemonOptions options;
  if (std::optional<int> exit_code = LoadOptions(args, inherited, &options)) return *exit_code;
  if (options.check_config) {
    std::cout << FormatConfig(options);
    return 0;
  }
  return Run(args, std::move(options));
}
