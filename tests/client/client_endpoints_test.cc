// A Client with several endpoints (PROTOCOL.md, "Several daemons (client behaviour)"): which
// daemon each save goes to, failover of unsent saves, status per daemon, bad endpoint lists.
#include <catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fake_daemon.h"
#include "imgsink/client.h"
#include "test_util.h"

namespace imgsink {
namespace {

using namespace std::chrono_literals;
using test::FakeDaemon;
using test::ReceivedRequest;
using test::TempDir;
using test::Uint8Image;

using test::kLong;

// Save requests (not status) a daemon received, by path.
std::vector<std::string> SavedPaths(const FakeDaemon& daemon) {
  std::vector<std::string> paths;
  for (const ReceivedRequest& r : daemon.received()) {
    if (const auto* save = std::get_if<SaveRequest>(&r.message)) paths.push_back(save->path);
  }
  return paths;
}

// Waits until the client's connection to `endpoint` is up (a status request is answered).
void RequireConnected(Client& client, const std::string& endpoint) {
  std::map<std::string, uint64_t> counters;
  const Status s = client.status(endpoint, &counters, kLong);
  INFO(endpoint << ": " << s.ToString());
  REQUIRE(s.ok());
}

std::unique_ptr<Client> OpenTwo(const std::string& a, const std::string& b,
                                EndpointPolicy policy, ClientOptions options = ClientOptions()) {
  options.endpoint_policy = policy;
  return test::OpenClient(a + "," + b, options);
}

TEST_CASE("spread: equal daemons get equal shares, and each job names its daemon",
          "[client][endpoints]") {
  TempDir dir;
  // Done events are held, so no save ends while the others are routed: pending bytes only grow.
  FakeDaemon a(dir.Endpoint("a.sock"), FakeDaemon::AcceptAndHold);
  FakeDaemon b(dir.Endpoint("b.sock"), FakeDaemon::AcceptAndHold);
  auto client = OpenTwo(a.endpoint(), b.endpoint(), EndpointPolicy::kSpread);
  RequireConnected(*client, a.endpoint());
  RequireConnected(*client, b.endpoint());
  Uint8Image image(4, 4, 1);
  std::vector<Job> jobs;
  for (int i = 0; i < 20; ++i) {
    jobs.push_back(client->save_image(image.view, "s/" + std::to_string(i) + ".png"));
  }
  for (Job& job : jobs) REQUIRE(job.wait_accepted(kLong).ok());
  a.ReleaseHeld();
  b.ReleaseHeld();
  REQUIRE(client->flush(kLong).ok());  // covers the jobs of both daemons
  const auto at_a = SavedPaths(a);
  const auto at_b = SavedPaths(b);
  CHECK(at_a.size() == 10);
  CHECK(at_b.size() == 10);
  for (size_t i = 0; i < jobs.size(); ++i) {
    const std::string path = "s/" + std::to_string(i) + ".png";
    const bool went_to_a = std::find(at_a.begin(), at_a.end(), path) != at_a.end();
    CHECK(jobs[i].endpoint() == (went_to_a ? a.endpoint() : b.endpoint()));
  }
}

TEST_CASE("spread: a save goes to the daemon with the fewest pending bytes",
          "[client][endpoints]") {
  TempDir dir;
  FakeDaemon a(dir.Endpoint("a.sock"), FakeDaemon::AcceptAndHold);
  FakeDaemon b(dir.Endpoint("b.sock"), FakeDaemon::AcceptAndHold);
  auto client = OpenTwo(a.endpoint(), b.endpoint(), EndpointPolicy::kSpread);
  RequireConnected(*client, a.endpoint());
  RequireConnected(*client, b.endpoint());
  Uint8Image big(20, 20, 0);   // 1200 bytes
  Uint8Image small(4, 4, 0);   // 48 bytes
  Job first = client->save_image(big.view, "big.png");
  REQUIRE(first.endpoint() == a.endpoint());  // the round robin starts at the first
  std::vector<Job> smalls;
  // b holds less than a until it has 1200 bytes pending: 25 small saves.
  for (int i = 0; i < 25; ++i) smalls.push_back(client->save_image(small.view, "small.png"));
  for (const Job& job : smalls) CHECK(job.endpoint() == b.endpoint());
  // Now tied at 1200: the next one goes to a (round robin), then b, ...
  smalls.push_back(client->save_image(small.view, "tie.png"));
  CHECK(smalls.back().endpoint() == a.endpoint());
  smalls.push_back(client->save_image(small.view, "tie.png"));
  CHECK(smalls.back().endpoint() == b.endpoint());
  smalls.push_back(first);
  // ReleaseHeld sends the done events held so far: wait until every save got there.
  for (const Job& job : smalls) REQUIRE(job.wait_accepted(kLong).ok());
  a.ReleaseHeld();
  b.ReleaseHeld();
  REQUIRE(client->flush(kLong).ok());
  CHECK(SavedPaths(a).size() == 2);
  CHECK(SavedPaths(b).size() == 26);
}

TEST_CASE("spread uses only connected daemons", "[client][endpoints]") {
  TempDir dir;
  FakeDaemon b(dir.Endpoint("b.sock"));
  // Nobody listens at a.sock.
  auto client = OpenTwo(dir.Endpoint("a.sock"), b.endpoint(), EndpointPolicy::kSpread);
  RequireConnected(*client, b.endpoint());
  Uint8Image image(4, 4, 2);
  for (int i = 0; i < 6; ++i) {
    Job job = client->save_image(image.view, "x.png");
    REQUIRE(job.wait(kLong).ok());
    CHECK(job.endpoint() == b.endpoint());
  }
  CHECK(SavedPaths(b).size() == 6);
}

TEST_CASE("failover: saves go to the first daemon; once it is gone, to the next",
          "[client][endpoints]") {
  TempDir dir;
  auto a = std::make_unique<FakeDaemon>(dir.Endpoint("a.sock"), FakeDaemon::AcceptAndHold);
  FakeDaemon b(dir.Endpoint("b.sock"));
  const std::string a_endpoint = a->endpoint();
  auto client = OpenTwo(a_endpoint, b.endpoint(), EndpointPolicy::kFailover);
  RequireConnected(*client, a_endpoint);
  RequireConnected(*client, b.endpoint());
  Uint8Image image(4, 4, 3);
  std::vector<Job> before;
  for (int i = 0; i < 4; ++i) before.push_back(client->save_image(image.view, "before.png"));
  for (Job& job : before) {
    REQUIRE(job.wait_accepted(kLong).ok());
    CHECK(job.endpoint() == a_endpoint);
  }
  CHECK(SavedPaths(*a).size() == 4);
  a.reset();  // the first daemon goes away with the jobs it accepted
  for (Job& job : before) {
    // Sent already: not resent elsewhere (the daemon may still write it after a restart).
    CHECK(job.wait(kLong).code() == ErrorCode::kDisconnected);
  }
  for (int i = 0; i < 4; ++i) {
    Job job = client->save_image(image.view, "after.png");
    INFO(job.wait(kLong).ToString());
    REQUIRE(job.wait(kLong).ok());
    CHECK(job.endpoint() == b.endpoint());
  }
  CHECK(SavedPaths(b) == std::vector<std::string>(4, "after.png"));
}

TEST_CASE("a save waiting for credit from a daemon that goes away is re-routed",
          "[client][endpoints]") {
  TempDir dir;
  // a answers status but never grants credit; b does everything.
  auto a = std::make_unique<FakeDaemon>(dir.Endpoint("a.sock"), FakeDaemon::AcceptAndWrite,
                                        FakeDaemon::Silent);
  FakeDaemon b(dir.Endpoint("b.sock"));
  const std::string a_endpoint = a->endpoint();
  auto client = OpenTwo(a_endpoint, b.endpoint(), EndpointPolicy::kFailover);
  RequireConnected(*client, a_endpoint);
  RequireConnected(*client, b.endpoint());
  Uint8Image image(4, 4, 4);
  SaveOptions borrow;
  borrow.ownership = Ownership::kBorrow;
  Job copied = client->save_image(image.view, "copied.png");
  Job borrowed = client->save_image(image.view, "borrowed.png", borrow);
  REQUIRE(a->WaitForCreditRequests(2, kLong));
  CHECK(copied.endpoint() == a_endpoint);
  CHECK_FALSE(copied.done());
  a.reset();
  const Status s1 = copied.wait(kLong);
  const Status s2 = borrowed.wait(kLong);
  INFO(s1.ToString() << " / " << s2.ToString());
  REQUIRE(s1.ok());
  REQUIRE(s2.ok());
  CHECK(copied.endpoint() == b.endpoint());
  CHECK(borrowed.endpoint() == b.endpoint());
  CHECK(b.credit_requests().size() == 2);  // credit asked again at b
  CHECK(b.saves_without_credit() == 0);
  const auto got = b.received();
  size_t saves = 0;
  for (const ReceivedRequest& r : got) {
    if (!std::holds_alternative<SaveRequest>(r.message)) continue;
    ++saves;
    CHECK(r.payload == image.AsString());
  }
  CHECK(saves == 2);
}

TEST_CASE("while no daemon is up a save waits and goes to the first one that connects",
          "[client][endpoints]") {
  for (const EndpointPolicy policy : {EndpointPolicy::kSpread, EndpointPolicy::kFailover}) {
    for (const bool second_first : {true, false}) {
      INFO("policy " << static_cast<int>(policy) << ", second first " << second_first);
      TempDir dir;
      auto client = OpenTwo(dir.Endpoint("a.sock"), dir.Endpoint("b.sock"), policy);
      Uint8Image image(4, 4, 5);
      Job job = client->save_image(image.view, "late.png");
      CHECK_FALSE(job.wait_accepted(50ms).ok());
      FakeDaemon daemon(dir.Endpoint(second_first ? "b.sock" : "a.sock"));
      const Status s = job.wait(kLong);
      INFO(s.ToString());
      REQUIRE(s.ok());
      CHECK(job.endpoint() == daemon.endpoint());
      CHECK(SavedPaths(daemon).size() == 1);
    }
  }
}

TEST_CASE("with no daemon up, saves fail after connect_timeout", "[client][endpoints]") {
  TempDir dir;
  ClientOptions options;
  options.connect_timeout = 200ms;
  auto client = OpenTwo(dir.Endpoint("a.sock"), dir.Endpoint("b.sock"), EndpointPolicy::kSpread,
                        options);
  Uint8Image image(4, 4, 6);
  Job job = client->save_image(image.view, "never.png");
  CHECK(job.wait(kLong).code() == ErrorCode::kDisconnected);
}

TEST_CASE("status asks the first daemon, or the one named", "[client][endpoints]") {
  TempDir dir;
  FakeDaemon a(dir.Endpoint("a.sock"));
  FakeDaemon b(dir.Endpoint("b.sock"));
  auto client = OpenTwo(a.endpoint(), b.endpoint(), EndpointPolicy::kSpread);
  std::map<std::string, uint64_t> counters;
  REQUIRE(client->status(&counters, kLong).ok());
  CHECK(a.received().size() == 1);
  CHECK(b.received().empty());
  REQUIRE(client->status(b.endpoint(), &counters, kLong).ok());
  CHECK(a.received().size() == 1);
  CHECK(b.received().size() == 1);
  const Status unknown = client->status("ipc:///nowhere", &counters, kLong);
  CHECK(unknown.code() == ErrorCode::kBadOption);
  CHECK(unknown.message().find("'ipc:///nowhere' is not one of this client's endpoints") !=
        std::string::npos);
}

TEST_CASE("endpoint() is the list as given, endpoints() its trimmed items",
          "[client][endpoints]") {
  TempDir dir;
  const std::string a = dir.Endpoint("a.sock"), b = dir.Endpoint("b.sock");
  const std::string given = " " + a + " ,\t" + b;
  auto client = test::OpenClient(given);
  CHECK(client->endpoint() == given);
  CHECK(client->endpoints() == std::vector<std::string>{a, b});
  std::unique_ptr<Client> from_vector;
  REQUIRE(Client::Open(std::vector<std::string>{a, " " + b}, {}, &from_vector).ok());
  CHECK(from_vector->endpoint() == a + "," + b);
  CHECK(from_vector->endpoints() == std::vector<std::string>{a, b});
  // One endpoint: as before.
  auto single = test::OpenClient(a);
  CHECK(single->endpoint() == a);
  CHECK(single->endpoints() == std::vector<std::string>{a});
  // A job refused locally never reached an endpoint.
  Uint8Image image(4, 4, 0);
  Job refused = client->save_image(image.view, "names/a/directory/");
  CHECK(refused.wait(0ms).code() == ErrorCode::kBadPath);
  CHECK(refused.endpoint().empty());
  CHECK(Job().endpoint().empty());
}

TEST_CASE("bad endpoint lists are refused by Open with kBadOption naming the item",
          "[client][endpoints]") {
  TempDir dir;
  const std::string a = dir.Endpoint("a.sock");
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "no endpoint given"},
      {a + ",," + dir.Endpoint("b.sock"), "endpoint 2 of 3 in the list is empty"},
      {a + ", " + a, "endpoint '" + a + "' is listed twice"},
      {a + ",bogus", "cannot connect to 'bogus'"},
  };
  for (const auto& [list, why] : bad) {
    INFO("list '" << list << "'");
    std::unique_ptr<Client> client;
    const Status s = Client::Open(list, {}, &client);
    CHECK(s.code() == ErrorCode::kBadOption);
    CHECK(s.message().find(why) != std::string::npos);
    CHECK(client == nullptr);
  }
  std::unique_ptr<Client> client;
  CHECK(Client::Open(std::vector<std::string>{}, {}, &client).code() == ErrorCode::kBadOption);
  CHECK(Client::Open(std::vector<std::string>{a, a}, {}, &client).code() ==
        ErrorCode::kBadOption);
  CHECK(client == nullptr);
}

}  // namespace
}  // namespace imgsink
