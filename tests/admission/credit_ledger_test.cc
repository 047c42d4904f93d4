#include "daemon/admission/credit_ledger.h"

#include <catch.hpp>

namespace imgsink::daemon {
namespace {

using Clock = CreditLedger::Clock;
using std::chrono::milliseconds;

CreditRequest Ask(uint64_t id, uint64_t bytes, BusyPolicy policy = BusyPolicy::kBlock,
                  uint32_t timeout_ms = 1000) {
  CreditRequest r;
  r.request_id = id;
  r.bytes = bytes;
  r.policy = policy;
  r.timeout_ms = timeout_ms;
  return r;
}

CreditLedger::Budgets Budget(uint64_t memory, uint64_t journal = 0) {
  CreditLedger::Budgets b;
  b.memory_bytes = memory;
  b.journal_bytes = journal;
  b.credit_ttl = milliseconds(5000);
  return b;
}

TEST_CASE("grants while the budget has room, then queues block requests") {
  CreditLedger ledger(Budget(100));
  const auto t0 = Clock::now();
  std::vector<CreditLedger::Answer> out;
  ledger.Request("a", Ask(1, 60), t0, &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].status.ok());
  CHECK(out[0].granted == 60);
  CHECK(ledger.used_bytes() == 60);
  out.clear();
  ledger.Request("a", Ask(2, 60), t0, &out);
  CHECK(out.empty());  // waits
  CHECK(ledger.waiting_requests() == 1);
  REQUIRE(ledger.Consume("a", 60, t0));
  CHECK(ledger.held_bytes() == 60);
  ledger.Adjust(-60, t0, &out);  // the job ended
  REQUIRE(out.size() == 1);
  CHECK(out[0].request_id == 2);
  CHECK(ledger.used_bytes() == 60);
}

TEST_CASE("a save needs credit; credit is per client") {
  CreditLedger ledger(Budget(100));
  const auto t0 = Clock::now();
  std::vector<CreditLedger::Answer> out;
  CHECK_FALSE(ledger.Consume("a", 1, t0));
  ledger.Request("a", Ask(1, 50), t0, &out);
  CHECK_FALSE(ledger.Consume("b", 50, t0));  // b has none
  CHECK_FALSE(ledger.Consume("a", 51, t0));  // more than granted
  CHECK(ledger.Consume("a", 20, t0));
  CHECK(ledger.Consume("a", 30, t0));
  CHECK_FALSE(ledger.Consume("a", 1, t0));
}

TEST_CASE("drop and error policies never wait; drops and busies are counted apart") {
  CreditLedger ledger(Budget(100));
  const auto t0 = Clock::now();
  std::vector<CreditLedger::Answer> out;
  ledger.Request("a", Ask(1, 100), t0, &out);
  ledger.Request("b", Ask(2, 10, BusyPolicy::kDrop), t0, &out);
  ledger.Request("b", Ask(3, 10, BusyPolicy::kError), t0, &out);
  ledger.Request("b", Ask(4, 10, BusyPolicy::kBlock, 0), t0, &out);
  REQUIRE(out.size() == 4);
  CHECK(out[1].status.code() == ErrorCode::kBusy);
  CHECK(out[2].status.code() == ErrorCode::kBusy);
  CHECK(out[3].status.code() == ErrorCode::kBusy);
  CHECK(ledger.dropped() == 1);
  CHECK(ledger.busy() == 2);
}

TEST_CASE("a request over the whole budget is too large, not busy") {
  CreditLedger ledger(Budget(100, 80));
  std::vector<CreditLedger::Answer> out;
  ledger.Request("a", Ask(1, 81), Clock::now(), &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].status.code() == ErrorCode::kTooLarge);
}

TEST_CASE("waiting requests time out as busy") {
  CreditLedger ledger(Budget(100));
  const auto t0 = Clock::now();
  std::vector<CreditLedger::Answer> out;
  ledger.Request("a", Ask(1, 100), t0, &out);
  out.clear();
  ledger.Request("b", Ask(2, 10, BusyPolicy::kBlock, 500), t0, &out);
  CHECK(out.empty());
  const auto next = ledger.Tick(t0 + milliseconds(100), &out);
  CHECK(out.empty());
  CHECK(next <= t0 + milliseconds(500));
  ledger.Tick(t0 + milliseconds(500), &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].status.code() == ErrorCode::kBusy);
  CHECK(ledger.waiting_requests() == 0);
}

TEST_CASE("round robin: a flooding client cannot starve the others") {
  CreditLedger ledger(Budget(10));
  const auto t0 = Clock::now();
  std::vector<CreditLedger::Answer> out;
  ledger.Request("flood", Ask(1, 10), t0, &out);  // fills the budget
  REQUIRE(ledger.Consume("flood", 10, t0));
  out.clear();
  for (uint64_t i = 0; i < 5; ++i) ledger.Request("flood", Ask(100 + i, 10), t0, &out);
  ledger.Request("slow", Ask(200, 10), t0, &out);
  CHECK(out.empty());
  std::vector<std::string> order;
  for (int round = 0; round < 4; ++round) {
    ledger.Adjust(-10, t0, &out);  // one job ends, room for exactly one grant
    REQUIRE(out.size() == 1);
    order.push_back(out[0].client);
    REQUIRE(ledger.Consume(out[0].client, 10, t0));
    out.clear();
  }
  // flood had the first turn, then slow, then flood again.
  CHECK(order == std::vector<std::string>{"flood", "slow", "flood", "flood"});
}

TEST_CASE("a big head request holds its turn: small ones do not overtake it") {
  CreditLedger ledger(Budget(100));
  const auto t0 = Clock::now();
  std::vector<CreditLedger::Answer> out;
  ledger.Request("a", Ask(1, 60), t0, &out);
  REQUIRE(ledger.Consume("a", 60, t0));
  out.clear();
  ledger.Request("big", Ask(2, 80), t0, &out);
  ledger.Request("small", Ask(3, 10), t0, &out);  // would fit, but big is ahead
  CHECK(out.empty());
  ledger.Adjust(-60, t0, &out);
  REQUIRE(out.size() == 2);
  CHECK(out[0].client == "big");
  CHECK(out[1].client == "small");
}

TEST_CASE("credit left unused for the ttl is taken back") {
  CreditLedger ledger(Budget(100));
  const auto t0 = Clock::now();
  std::vector<CreditLedger::Answer> out;
  ledger.Request("gone", Ask(1, 100), t0, &out);
  out.clear();
  ledger.Request("b", Ask(2, 50, BusyPolicy::kBlock, 60000), t0, &out);
  CHECK(out.empty());
  ledger.Tick(t0 + milliseconds(4999), &out);
  CHECK(out.empty());
  ledger.Tick(t0 + milliseconds(5000), &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].client == "b");
  CHECK_FALSE(ledger.Consume("gone", 1, t0 + milliseconds(5001)));
}

TEST_CASE("the journal budget limits grants too") {
  CreditLedger ledger(Budget(1000, 100));
  std::vector<CreditLedger::Answer> out;
  ledger.SetJournalBytes(70);
  ledger.Request("a", Ask(1, 40, BusyPolicy::kError), Clock::now(), &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].status.code() == ErrorCode::kBusy);
  out.clear();
  ledger.Request("a", Ask(2, 30, BusyPolicy::kError), Clock::now(), &out);
  CHECK(out[0].status.ok());
}

TEST_CASE("close refuses every waiting request") {
  CreditLedger ledger(Budget(10));
  const auto t0 = Clock::now();
  std::vector<CreditLedger::Answer> out;
  ledger.Request("a", Ask(1, 10), t0, &out);
  ledger.Request("b", Ask(2, 10), t0, &out);
  out.clear();
  ledger.Close(Status(ErrorCode::kShuttingDown, "bye"), &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].status.code() == ErrorCode::kShuttingDown);
  ledger.Request("c", Ask(3, 1), t0, &out);
  CHECK(out.back().status.code() == ErrorCode::kShuttingDown);
}

}  // namespace
}  // namespace imgsink::daemon

namespace imgsink::daemon {
namespace {

TEST_CASE("no grant is larger than the request limit: the frame would be dropped by libzmq") {
  CreditLedger::Budgets b = Budget(1000);
  b.max_request_bytes = 100;
  CreditLedger ledger(b);
  std::vector<CreditLedger::Answer> out;
  ledger.Request("a", Ask(1, 101), Clock::now(), &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].status.code() == ErrorCode::kTooLarge);
}

// Issue 12, row 3: a client holding the whole budget sent one refused request per second and
// kept the budget forever (the refusal refreshed its credit timer).
TEST_CASE("refused and waiting requests never keep held credit alive") {
  CreditLedger ledger(Budget(100));  // credit_ttl 5 s
  const auto t0 = Clock::now();
  std::vector<CreditLedger::Answer> out;
  ledger.Request("hog", Ask(1, 100), t0, &out);
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].status.ok());
  for (int s = 1; s <= 4; ++s) {  // refused (drop policy, then a wait that times out) every second
    out.clear();
    ledger.Request("hog", Ask(10 + s, 1, s % 2 ? BusyPolicy::kDrop : BusyPolicy::kBlock, 10),
                   t0 + milliseconds(1000 * s), &out);
    ledger.Tick(t0 + milliseconds(1000 * s + 20), &out);
    REQUIRE(out.size() == 1);
    CHECK(out.back().status.code() == ErrorCode::kBusy);
  }
  // 5 s (the TTL) after the grant, the hog's credit went back: another client gets the budget.
  out.clear();
  ledger.Tick(t0 + milliseconds(5000), &out);
  ledger.Request("b", Ask(2, 100, BusyPolicy::kDrop), t0 + milliseconds(5100), &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].status.ok());
  CHECK_FALSE(ledger.Consume("hog", 1, t0 + milliseconds(5100)));
}

TEST_CASE("refused requests add no client entry") {
  CreditLedger ledger(Budget(10));
  const auto t0 = Clock::now();
  std::vector<CreditLedger::Answer> out;
  ledger.Request("a", Ask(1, 10), t0, &out);
  for (int i = 0; i < 1000; ++i) {
    ledger.Request("x" + std::to_string(i), Ask(2, 5, BusyPolicy::kDrop), t0, &out);
  }
  CHECK(ledger.dropped() == 1000);
  CHECK_FALSE(ledger.Consume("x1", 1, t0));
}

// Issue 12, row 1: credit for 24 tensor bytes rendered 450 MB canvases.
TEST_CASE("a save's extra rendered bytes are held only within bounds") {
  const uint64_t budget = uint64_t{1} << 20;
  CreditLedger ledger(Budget(budget));
  const auto t0 = Clock::now();
  std::vector<CreditLedger::Answer> out;
  ledger.Request("a", Ask(1, 100), t0, &out);
  REQUIRE(ledger.Consume("a", 100, t0));
  CHECK_FALSE(ledger.HoldExtra(100, budget + 1));  // over capacity: never
  CHECK(ledger.HoldExtra(100, budget - 200));      // fits the budget
  CHECK(ledger.used_bytes() == budget - 100);
  const uint64_t ordinary =
      CreditLedger::kOverCommitFactor * 100 + CreditLedger::kOverCommitSlack;
  CHECK_FALSE(ledger.HoldExtra(100, ordinary + 1));  // neither fits nor ordinary
  CHECK(ledger.used_bytes() == budget - 100);
  CHECK(ledger.HoldExtra(100, ordinary));  // ordinary expansion: over the budget, bounded
  CHECK(ledger.used_bytes() == budget - 100 + ordinary);
  ledger.Request("b", Ask(2, 1, BusyPolicy::kDrop), t0, &out);
  CHECK(out.back().status.code() == ErrorCode::kBusy);  // no new credit while over
}

TEST_CASE("a waiting client without credit does not ask for a timer in the past") {
  CreditLedger ledger(Budget(100));  // credit_ttl 5 s
  const auto t0 = Clock::now();
  std::vector<CreditLedger::Answer> out;
  ledger.Request("a", Ask(1, 100), t0, &out);
  ledger.Request("b", Ask(2, 50, BusyPolicy::kBlock, 60000), t0, &out);
  const auto now = t0 + milliseconds(6000);  // a's credit expired; b got it and waits no more
  ledger.Request("c", Ask(3, 100, BusyPolicy::kBlock, 60000), t0 + milliseconds(5500), &out);
  const auto next = ledger.Tick(now, &out);
  CHECK(next > now);
  CHECK(next <= now + milliseconds(5000));  // b's new credit is checked at its TTL
}

}  // namespace
}  // namespace imgsink::daemon
