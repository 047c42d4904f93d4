#include "daemon/core/peer_table.h"

#include <algorithm>

namespace imgsink::daemon {

PeerTable::Peer& PeerTable::Find(const std::string& client) {
  auto [it, inserted] = peers_.try_emplace(client);
  if (inserted) {
    it->second.number = next_number_++;
    idle_order_.push_back(client);
    if (idle_order_.size() > max_idle_) ForgetIdle();
  }
  return it->second;
}

uint64_t PeerTable::Number(const std::string& client) {
  return Find(client).number;
}

void PeerTable::JobStarted(const std::string& client) {
  Peer& p = Find(client);
  if (p.in_flight++ == 0) ++busy_;
}

void PeerTable::JobEnded(const std::string& client) {
  auto it = peers_.find(client);
  if (it == peers_.end() || it->second.in_flight == 0) return;
  if (--it->second.in_flight == 0) {
    --busy_;
    idle_order_.push_back(client);
    if (idle_order_.size() > max_idle_) ForgetIdle();
  }
}

// Drops the oldest idle peers until idle_order_ has max_idle_/2 entries (amortized O(1) per
// call).  Invariant: every idle peer in peers_ has an entry in idle_order_; entries of peers
// busy again or gone are stale and just dropped.
void PeerTable::ForgetIdle() {
  while (idle_order_.size() > max_idle_ / 2) {
    auto it = peers_.find(idle_order_.front());
    if (it != peers_.end() && it->second.in_flight == 0) peers_.erase(it);
    idle_order_.pop_front();
  }
}

std::vector<std::pair<uint64_t, uint64_t>> PeerTable::InFlight(size_t limit,
                                                               uint64_t* omitted_peers,
                                                               uint64_t* omitted_jobs) const {
  std::vector<std::pair<uint64_t, uint64_t>> all;
  all.reserve(busy_);
  for (const auto& [client, p] : peers_) {
    if (p.in_flight > 0) all.emplace_back(p.number, p.in_flight);
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  *omitted_peers = 0;
  *omitted_jobs = 0;
  for (size_t i = limit; i < all.size(); ++i) {
    ++*omitted_peers;
    *omitted_jobs += all[i].second;
  }
  if (all.size() > limit) all.resize(limit);
  return all;
}

}  // namespace imgsink::daemon
