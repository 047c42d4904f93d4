#include "daemon_link.h"

#include <iostream>

namespace imgsink {
namespace ctl {

Status DaemonLink::Open(const std::string& endpoint, std::chrono::milliseconds timeout,
                        std::unique_ptr<DaemonLink>* link) {
  ClientOptions options;
  options.connect_timeout = timeout;
  options.linger = std::chrono::milliseconds(0);  // status requests only: nothing to deliver
  std::unique_ptr<Client> client;
  Status s = Client::Open(endpoint, options, &client);
  if (!s.ok()) return s;
  *link = std::make_unique<DaemonLink>(std::move(client), timeout);
  return Status::OK();
}

Status DaemonLink::Fetch(Counters* counters) { return client_->status(counters, timeout_); }

int ReportFetchError(const std::string& endpoint, const Status& why) {
  const ErrorCode code = why.code();
  if (code == ErrorCode::kDisconnected || code == ErrorCode::kTimeout ||
      code == ErrorCode::kBadOption) {
    std::cerr << "imgsinkctl: cannot reach imgsinkd at " << endpoint << ": " << why.ToString()
              << "\n(is imgsinkd running and listening there? see --endpoint)\n";
    return kExitUnreachable;
  }
  std::cerr << "imgsinkctl: imgsinkd at " << endpoint << " answered: " << why.ToString() << "\n";
  return kExitFailed;
}

uint64_t Get(const Counters& counters, const std::string& key) {
  const auto it = counters.find(key);
  return it == counters.end() ? 0 : it->second;
}

uint64_t Backlog(const Counters& counters) {
  // in_flight counts every job not yet ended, including one waiting for the journal's fsync;
  // daemons without it are judged by the stages they report.
  if (counters.count("in_flight")) return Get(counters, "in_flight");
  return Get(counters, "queued") + Get(counters, "in_progress") + Get(counters, "retrying");
}

}  // namespace ctl
}  // namespace imgsink
