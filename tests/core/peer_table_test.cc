#include "daemon/core/peer_table.h"

#include <catch.hpp>

#include <string>

namespace imgsink::daemon {
namespace {

TEST_CASE("peers get stable daemon numbers, never derived from their routing id") {
  PeerTable peers;
  const std::string a = std::string(1, '\0') + "abcdefgh";
  const std::string b = std::string(1, '\0') + "abcdefgi";
  const uint64_t na = peers.Number(a);
  CHECK(peers.Number(b) != na);
  CHECK(peers.Number(a) == na);
  CHECK(peers.Name(a) == "p" + std::to_string(na));
  CHECK(peers.Name(a).find("6162") == std::string::npos);
}

TEST_CASE("in-flight listing: most jobs first, limited, the rest counted") {
  PeerTable peers;
  for (int i = 0; i < 2000; ++i) {
    const std::string client = "c" + std::to_string(i);
    for (int j = 0; j <= i % 3; ++j) peers.JobStarted(client);
  }
  CHECK(peers.peers_in_flight() == 2000);
  uint64_t omitted_peers = 0, omitted_jobs = 0;
  const auto shown = peers.InFlight(64, &omitted_peers, &omitted_jobs);
  REQUIRE(shown.size() == 64);
  CHECK(shown.front().second == 3);
  CHECK(omitted_peers == 2000 - 64);
  uint64_t total = omitted_jobs;
  for (const auto& [number, n] : shown) total += n;
  CHECK(total == 667 * 1 + 667 * 2 + 666 * 3);
  peers.JobEnded("c2");
  peers.JobEnded("c2");
  peers.JobEnded("c2");
  CHECK(peers.peers_in_flight() == 1999);
}

TEST_CASE("the table stays bounded under a flood of new routing ids") {
  PeerTable peers(100);
  peers.JobStarted("busy");
  const uint64_t busy = peers.Number("busy");
  for (int i = 0; i < 100000; ++i) peers.Number("flood" + std::to_string(i));
  CHECK(peers.size() <= 101);
  CHECK(peers.Number("busy") == busy);  // a peer with jobs in flight keeps its number
  peers.JobEnded("busy");
  CHECK(peers.peers_in_flight() == 0);
}

}  // namespace
}  // namespace imgsink::daemon
