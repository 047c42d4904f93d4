// Exporter: serves GET /metrics (Prometheus text format 0.0.4) over HTTP on --metrics-listen,
// from prometheus-cpp's Exposer (an embedded civetweb server with its own threads).
//
//   std::unique_ptr<metrics::Exporter> exporter;
//   Status s = metrics::Exporter::Start("127.0.0.1:9464", server.stats().job_metrics,
//                                       [&server] { return server.Counters(); }, &exporter);
//
// Each scrape runs on a civetweb thread: it calls the counters source and reads the
// instruments (both thread-safe), so scrapes never block the socket thread or the workers.
// Thread-safety: Start and the destructor belong to the owning thread; port() is const.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/metrics/daemon_counters.h"
#include "daemon/metrics/job_metrics.h"
#include "imgsink/proto/status.h"

namespace prometheus {
class Collectable;
class Exposer;
}  // namespace prometheus

namespace imgsink::daemon {
namespace metrics {

class Exporter {
  struct Token {
    explicit Token() = default;
  };

 public:
  // Binds `listen` ("HOST:PORT", "[::1]:PORT"; port 0 picks a free port) and serves the
  // union of `collectables` on /metrics.  Returns OK and sets *exporter, else kBadOption for
  // a malformed address or one that cannot be bound (in use, no such local address).
  // REQUIRES: exporter non-null; the collectables' families have distinct names.
  static Status Start(const std::string& listen,
                      std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
                      std::unique_ptr<Exporter>* exporter);
  // The daemon's set: `job_metrics` (its registry is shared, so it may be destroyed first)
  // and the status counters read from `counters` at each scrape.
  static Status Start(const std::string& listen, const JobMetrics& job_metrics,
                      CountersSource counters, std::unique_ptr<Exporter>* exporter);

  // Only Start() can make the token: public for std::make_unique, private in effect.
  explicit Exporter(Token);
  // Stops serving: waits for scrapes in progress and closes the listening socket.
  ~Exporter();
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  // The TCP port bound (the chosen one when `listen` asked for port 0).
  int port() const { return port_; }

 private:
  // The Exposer only keeps weak references: the collectables live as long as it does.
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace metrics
}  // namespace imgsink::daemon
