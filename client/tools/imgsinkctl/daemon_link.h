// DaemonLink: imgsinkctl's connection to imgsinkd, for status polls.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "imgsink/client.h"

namespace imgsink {
namespace ctl {

using Counters = std::map<std::string, uint64_t>;

// Exit codes of imgsinkctl (also in its --help).
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;       // flush timed out, keygen could not write, ...
constexpr int kExitUnreachable = 2;  // no daemon answered at the endpoint
constexpr int kExitUsage = 64;       // bad command line (sysexits' EX_USAGE)

// Thread-safety: one thread.
class DaemonLink {
 public:
  // Connects (lazily) to `endpoint`; a status that gets no answer within `timeout` fails.
  // Returns OK and sets *link, or the client's error for a malformed endpoint.
  static Status Open(const std::string& endpoint, std::chrono::milliseconds timeout,
                     std::unique_ptr<DaemonLink>* link);

  // Asks the daemon for its counters.  Returns OK and fills *counters, else kDisconnected /
  // kTimeout (no daemon answered) or the daemon's error.
  Status Fetch(Counters* counters);

  const std::string& endpoint() const { return client_->endpoint(); }

  // Use Open().
  DaemonLink(std::unique_ptr<Client> client, std::chrono::milliseconds timeout)
      : client_(std::move(client)), timeout_(timeout) {}

 private:

  std::unique_ptr<Client> client_;
  const std::chrono::milliseconds timeout_;
};

// Reports a failed Open or Fetch on stderr and returns the exit code: kExitUnreachable for
// kDisconnected / kTimeout / a malformed endpoint ("cannot reach imgsinkd at <endpoint>"),
// kExitFailed when the daemon answered with an error.
int ReportFetchError(const std::string& endpoint, const Status& why);

// Returns counters[key], or 0 when the daemon did not report it.
uint64_t Get(const Counters& counters, const std::string& key);

// Jobs the daemon has not finished: queued + in progress + retrying.
uint64_t Backlog(const Counters& counters);

}  // namespace ctl
}  // namespace imgsink
