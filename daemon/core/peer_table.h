// PeerTable: the daemon's own numbers for its clients, and their jobs in flight.
//
// A client's routing id is its only credential on a ROUTER with handover: whoever connects with
// the same id takes its place and receives its replies.  So routing ids are never shown, whole
// or in part (status, logs, metrics); clients are named "p<N>", N a number the daemon assigns
// when it first sees the peer and never reuses (issue 12, row 13).
//
// Bounded: a peer stays in the table while it has jobs in flight; idle peers are forgotten
// (oldest first) once more than `max_idle` are kept, so a flood of new routing ids cannot grow
// it.  A forgotten peer seen again gets a new number.
// Thread-safety: none; owned by the socket thread (RequestHandler).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace imgsink::daemon {

class PeerTable {
 public:
  // REQUIRES: max_idle >= 2 (a peer just added is never the one forgotten).
  explicit PeerTable(size_t max_idle = 4096) : max_idle_(max_idle) {}

  // Returns the peer's number ("p<N>" in status and logs), assigning one on first sight.
  uint64_t Number(const std::string& client);
  std::string Name(const std::string& client) { return "p" + std::to_string(Number(client)); }

  // A job of `client` started / ended.  REQUIRES for JobEnded: a matching JobStarted.
  void JobStarted(const std::string& client);
  void JobEnded(const std::string& client);

  // (peer number, jobs in flight) of every peer with jobs in flight, most jobs first, at most
  // `limit` of them; *omitted_peers / *omitted_jobs count the rest.
  std::vector<std::pair<uint64_t, uint64_t>> InFlight(size_t limit, uint64_t* omitted_peers,
                                                       uint64_t* omitted_jobs) const;

  size_t peers_in_flight() const { return busy_; }
  size_t size() const { return peers_.size(); }

 private:
  struct Peer {
    uint64_t number = 0;
    uint64_t in_flight = 0;
  };
  Peer& Find(const std::string& client);
  void ForgetIdle();

  const size_t max_idle_;
  uint64_t next_number_ = 1;
  size_t busy_ = 0;  // peers with in_flight > 0
  std::unordered_map<std::string, Peer> peers_;
  std::deque<std::string> idle_order_;  // peers that went idle, oldest first (may be stale)
};

}  // namespace imgsink::daemon
