// Flow control (PROTOCOL.md, "Flow control (credits)"): the client asks for credit before each
// save and sends the save only once it is granted.
#include <catch.hpp>

#include <chrono>

#include "fake_daemon.h"
#include "imgsink/client.h"
#include "test_util.h"

namespace imgsink {
namespace {

using namespace std::chrono_literals;
using test::FakeDaemon;
using test::ReceivedRequest;
using test::Response;
using test::TempDir;
using test::Uint8Image;

using test::kLong;

Response RefuseCredit(const ReceivedRequest& r) {
  Reply reply;
  reply.request_id = r.request_id;
  reply.status = Status(ErrorCode::kBusy, "no credit free within timeout_ms 1234");
  return Response{{reply}, {}};
}

TEST_CASE("each save first asks credit for its tensor bytes, with its policy and timeout",
          "[client][credit]") {
  TempDir dir;
  FakeDaemon daemon(dir.Endpoint());
  auto client = test::OpenClient(dir.Endpoint());
  Uint8Image small(4, 4, 0);   // 48 bytes
  Uint8Image large(8, 10, 0);  // 240 bytes
  SaveOptions options;
  options.policy = BusyPolicy::kError;
  options.block_timeout_ms = 1234;
  Job a = client->save_image(small.view, "a.png", options);
  Job b = client->save_image(large.view, "b.png");
  REQUIRE(a.wait(kLong).ok());
  REQUIRE(b.wait(kLong).ok());
  CHECK(daemon.saves_without_credit() == 0);
  const auto credits = daemon.credit_requests();
  REQUIRE(credits.size() == 2);
  const auto& first = std::get<CreditRequest>(credits[0].message);
  const auto& second = std::get<CreditRequest>(credits[1].message);
  CHECK(first.bytes == 48);
  CHECK(first.policy == BusyPolicy::kError);
  CHECK(first.timeout_ms == 1234);
  CHECK(second.bytes == 240);
  CHECK(second.policy == BusyPolicy::kBlock);
  CHECK(second.timeout_ms == 30000);
  // Credit ids are request ids like any other: distinct from the saves'.
  CHECK(first.request_id != a.request_id());
  CHECK(first.request_id != b.request_id());
  CHECK(second.request_id != first.request_id);
}

TEST_CASE("a refused credit request ends the job with the daemon's status; no save is sent",
          "[client][credit]") {
  TempDir dir;
  FakeDaemon daemon(dir.Endpoint(), FakeDaemon::AcceptAndWrite, RefuseCredit);
  auto client = test::OpenClient(dir.Endpoint());
  Uint8Image image(4, 4, 0);
  SaveOptions borrow;
  borrow.ownership = Ownership::kBorrow;
  Job job = client->save_image(image.view, "refused.png", borrow);
  const Status s = job.wait(kLong);
  CHECK(s.code() == ErrorCode::kBusy);
  CHECK(s.message() == "no credit free within timeout_ms 1234");
  CHECK(job.wait_accepted(0ms).code() == ErrorCode::kBusy);
  CHECK(job.wait_sent(kLong).ok());  // the buffer is let go without ever being sent
  CHECK(daemon.received().empty());
  CHECK(daemon.credit_requests().size() == 1);
  uint64_t failed = 0;
  CHECK(client->flush(kLong, &failed).code() == ErrorCode::kBusy);
  CHECK(failed == 1);
}

TEST_CASE("a save the daemon refuses with no_credit fails with that code", "[client][credit]") {
  TempDir dir;
  // Grants 1 byte whatever was asked: the save then finds too little credit.
  FakeDaemon daemon(dir.Endpoint(), FakeDaemon::AcceptAndWrite, [](const ReceivedRequest& r) {
    Response response = FakeDaemon::GrantCredit(r);
    std::get<Reply>(response.now[0]).credit = 1;
    return response;
  });
  auto client = test::OpenClient(dir.Endpoint());
  Uint8Image image(4, 4, 0);
  Job job = client->save_image(image.view, "short.png");
  CHECK(job.wait(kLong).code() == ErrorCode::kNoCredit);
  CHECK(daemon.saves_without_credit() == 1);
}

TEST_CASE("credit asked on a lost connection is asked again after reconnecting",
          "[client][credit]") {
  TempDir dir;
  // The first daemon takes credit requests and never answers, then goes away.
  auto daemon = std::make_unique<FakeDaemon>(dir.Endpoint(), FakeDaemon::AcceptAndWrite,
                                             FakeDaemon::Silent);
  auto client = test::OpenClient(dir.Endpoint());
  Uint8Image image(4, 4, 9);
  Job job = client->save_image(image.view, "again.png");
  REQUIRE(daemon->WaitForCreditRequests(1, kLong));
  daemon.reset();
  CHECK_FALSE(job.done());  // not sent yet: nothing is lost
  daemon = std::make_unique<FakeDaemon>(dir.Endpoint());
  const Status written = job.wait(kLong);
  INFO("job: " << written.ToString() << "; credit requests: " << daemon->credit_requests().size());
  REQUIRE(written.ok());
  CHECK(daemon->credit_requests().size() == 1);
  const auto got = daemon->received();
  REQUIRE(got.size() == 1);
  CHECK(got[0].payload == image.AsString());
}

TEST_CASE("saves granted but not yet sent when the connection drops ask for credit again",
          "[client][credit]") {
  TempDir dir;
  ClientOptions options;
  options.send_hwm = 1;  // granted saves queue in the client while libzmq holds one
  auto daemon = std::make_unique<FakeDaemon>(dir.Endpoint());
  auto client = test::OpenClient(dir.Endpoint(), options);
  Uint8Image image(1024, 1024, 3);  // 3 MiB each
  std::vector<Job> jobs;
  for (int i = 0; i < 24; ++i) {
    jobs.push_back(client->save_image(image.view, "q/" + std::to_string(i) + ".png"));
  }
  REQUIRE(daemon->WaitForCreditRequests(2, kLong));
  daemon.reset();  // a restart: the new daemon knows no earlier grant
  daemon = std::make_unique<FakeDaemon>(dir.Endpoint());
  for (Job& job : jobs) {
    const Status s = job.wait(kLong);
    // Sent before the drop: the outcome is unknown (kDisconnected); every other save is written.
    CHECK((s.ok() || s.code() == ErrorCode::kDisconnected));
  }
  CHECK(daemon->saves_without_credit() == 0);
}

}  // namespace
}  // namespace imgsink
