#include "daemon/metrics/exporter.h"

#include <exception>
#include <utility>

#include <prometheus/exposer.h>
#include <prometheus/registry.h>

namespace imgsink::daemon {
namespace metrics {
namespace {

// Returns true iff `listen` looks like HOST:PORT (HOST non-empty, PORT all digits).  civetweb
// reads a bare "PORT" as every interface and ignores junk after the port: we want neither.
bool IsHostPort(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) return false;
  if (colon + 6 < listen.size()) return false;  // at most 5 digits
  for (size_t i = colon + 1; i < listen.size(); ++i) {
    if (listen[i] < '0' || listen[i] > '9') return false;
  }
  return true;
}

constexpr int kThreads = 8;
constexpr int kRequestTimeoutMs = 1000;

}  // namespace

Status Exporter::Start(const std::string& listen,
                       std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
                       std::unique_ptr<Exporter>* exporter) {
  if (!IsHostPort(listen)) {
    return Status(ErrorCode::kBadOption,
                  "--metrics-listen wants HOST:PORT (e.g. 127.0.0.1:9464), got '" + listen + "'");
  }
  auto e = std::make_unique<Exporter>(Token());
  e->collectables_ = std::move(collectables);
  try {
    // civetweb gives each connection a worker thread until the request is read.  With its
    // defaults (a 30 s request timeout) three idle tcp connections held both of our threads
    // and delayed scrapes by 30 s (issue 12, row 13).  So: more threads, no keep-alive, and a
    // request that is not read within kRequestTimeoutMs loses its thread (a scrape's request
    // arrives at once).  Idle connections beyond kThreads then delay a scrape by at most that.
    e->exposer_ = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", listen,
        "num_threads", std::to_string(kThreads),
        "request_timeout_ms", std::to_string(kRequestTimeoutMs),
        "linger_timeout_ms", "0",
        "enable_keep_alive", "no",
    });
    for (const auto& c : e->collectables_) e->exposer_->RegisterCollectable(c);
    const std::vector<int> ports = e->exposer_->GetListeningPorts();
    if (ports.empty()) return Status(ErrorCode::kInternal, "metrics server bound no port");
    e->port_ = ports.front();
  } catch (const std::exception& ex) {  // civetweb's CivetException: cannot bind
    return Status(ErrorCode::kBadOption,
                  "cannot serve metrics on " + listen + ": " + ex.what());
  }
  *exporter = std::move(e);
  return Status::OK();
}

Status Exporter::Start(const std::string& listen, const JobMetrics& job_metrics,
                       CountersSource counters, std::unique_ptr<Exporter>* exporter) {
  return Start(listen,
               {job_metrics.registry(), std::make_shared<DaemonCounters>(std::move(counters))},
               exporter);
}

Exporter::Exporter(Token) {}

Exporter::~Exporter() = default;  // the Exposer stops civetweb and joins its threads

}  // namespace metrics
}  // namespace imgsink::daemon
