// Client buffer ownership, flush, concurrency, the byte budget and shutdown.
#include <catch.hpp>

#include <chrono>
#include <set>
#include <thread>

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

// The messages wait in the client while no daemon listens, so the test can change the buffer
// after save_image and before anything is sent: what the daemon then receives tells whether
// the client copied the bytes.
TEST_CASE("kCopy sends the bytes as they were, kBorrow sends the caller's buffer", "[client]") {
  TempDir dir;
  auto client = test::OpenClient(dir.Endpoint());
  Uint8Image copied(8, 8, 10);
  Uint8Image borrowed(8, 8, 10);
  const std::string original = copied.AsString();
  SaveOptions copy_options;
  copy_options.ownership = Ownership::kCopy;
  SaveOptions borrow_options;
  borrow_options.ownership = Ownership::kBorrow;
  Job copy_job = client->save_image(copied.view, "copy.png", copy_options);
  Job borrow_job = client->save_image(borrowed.view, "borrow.png", borrow_options);
  // Nobody listens yet: the borrowed buffer is still referenced.
  CHECK(borrow_job.wait_sent(20ms).code() == ErrorCode::kTimeout);
  copied.bytes.assign(copied.bytes.size(), 0xEE);
  borrowed.bytes.assign(borrowed.bytes.size(), 0xEE);

  FakeDaemon daemon(dir.Endpoint());
  REQUIRE(copy_job.wait(kLong).ok());
  REQUIRE(borrow_job.wait(kLong).ok());
  CHECK(copy_job.wait_sent(kLong).ok());
  CHECK(borrow_job.wait_sent(kLong).ok());
  const auto got = daemon.received();
  REQUIRE(got.size() == 2);
  CHECK(got[0].payload == original);                // copied at save_image
  CHECK(got[1].payload == borrowed.AsString());     // read from the buffer when sent
  CHECK(got[1].payload != original);
}

TEST_CASE("after wait_sent a borrowed buffer may change without affecting the job",
          "[client]") {
  TempDir dir;
  FakeDaemon daemon(dir.Endpoint(), FakeDaemon::AcceptAndHold);
  auto client = test::OpenClient(dir.Endpoint());
  auto image = std::make_unique<Uint8Image>(16, 16, 3);
  const std::string original = image->AsString();
  SaveOptions options;
  options.ownership = Ownership::kBorrow;
  Job job = client->save_image(image->view, "b.png", options);
  REQUIRE(job.wait_sent(kLong).ok());
  image.reset();  // the caller frees its buffer; the job is not even done yet
  CHECK_FALSE(job.done());
  daemon.ReleaseHeld();
  REQUIRE(job.wait(kLong).ok());
  const auto got = daemon.received();
  REQUIRE(got.size() == 1);
  CHECK(got[0].payload == original);
}

TEST_CASE("flush waits for every done event and reports each failure once", "[client]") {
  TempDir dir;
  // Requests whose path starts with "bad" fail at write time.
  FakeDaemon daemon(dir.Endpoint(), [](const ReceivedRequest& r) {
    Response response = FakeDaemon::AcceptAndHold(r);
    const auto& save = std::get<SaveRequest>(r.message);
    if (save.path.rfind("bad", 0) == 0) {
      std::get<DoneEvent>(response.held[0]).status =
          Status(ErrorCode::kWriteFailed, save.path + ": disk on fire");
    }
    return response;
  });
  auto client = test::OpenClient(dir.Endpoint());
  Uint8Image image(2, 2, 0);
  std::vector<Job> jobs;
  for (const char* path : {"ok1.png", "bad1.png", "ok2.png", "bad2.png", "ok3.png"}) {
    jobs.push_back(client->save_image(image.view, path));
  }
  REQUIRE(daemon.WaitForRequests(jobs.size(), kLong));
  uint64_t failed = 99;
  CHECK(client->flush(20ms, &failed).code() == ErrorCode::kTimeout);
  CHECK(failed == 0);
  daemon.ReleaseHeld();
  const Status s = client->flush(kWaitForever, &failed);
  for (const Job& job : jobs) CHECK(job.done());  // flush returned only after all ended
  CHECK(s.code() == ErrorCode::kWriteFailed);
  CHECK(s.message() == "bad1.png: disk on fire (and 1 more failed jobs)");
  CHECK(failed == 2);
  // Reported once: the next flush covers no new failure.
  CHECK(client->flush(kLong, &failed).ok());
  CHECK(failed == 0);
  // Local failures count too.
  TensorView null_view = image.view;
  null_view.data = nullptr;
  client->save_image(null_view, "x.png");
  CHECK(client->flush(kLong, &failed).code() == ErrorCode::kBadRequest);
  CHECK(failed == 1);
}

TEST_CASE("many threads may call save_image at once", "[client]") {
  TempDir dir;
  FakeDaemon daemon(dir.Endpoint());
  auto client = test::OpenClient(dir.Endpoint());
  constexpr int kThreads = 8, kPerThread = 40;
  std::vector<std::vector<Job>> jobs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Uint8Image image(4, 4, static_cast<uint8_t>(t * 16));
      SaveOptions options;
      options.ownership = t % 2 == 0 ? Ownership::kCopy : Ownership::kBorrow;
      for (int i = 0; i < kPerThread; ++i) {
        Job job = client->save_image(image.view, "t" + std::to_string(t) + "/" +
                                                     std::to_string(i) + ".png", options);
        if (options.ownership == Ownership::kBorrow) job.wait_sent();  // image dies at scope end
        jobs[t].push_back(job);
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(client->flush(kLong).ok());
  std::set<uint64_t> ids;
  for (const auto& per_thread : jobs) {
    for (const Job& job : per_thread) {
      CHECK(job.wait(0ms).ok());
      ids.insert(job.request_id());
    }
  }
  CHECK(ids.size() == kThreads * kPerThread);
  const auto got = daemon.received();
  REQUIRE(got.size() == kThreads * kPerThread);
  std::set<uint64_t> daemon_ids;
  for (const ReceivedRequest& r : got) {
    const auto& save = std::get<SaveRequest>(r.message);
    daemon_ids.insert(save.request_id);
    // Each thread's bytes start at its seed: the payload belongs to the path's thread.
    const int t = std::stoi(save.path.substr(1, save.path.find('/') - 1));
    REQUIRE(r.payload.size() == 48);
    CHECK(static_cast<uint8_t>(r.payload[0]) == t * 16);
  }
  CHECK(daemon_ids == ids);
}

TEST_CASE("max_pending_bytes bounds what the client holds", "[client]") {
  TempDir dir;
  ClientOptions options;
  options.max_pending_bytes = 100;  // one 48-byte image fits, three do not
  auto client = test::OpenClient(dir.Endpoint("nobody.sock"), options);
  Uint8Image image(4, 4, 0);
  SaveOptions fail_fast;
  fail_fast.policy = BusyPolicy::kError;
  Job first = client->save_image(image.view, "1.png", fail_fast);
  Job second = client->save_image(image.view, "2.png", fail_fast);
  Job third = client->save_image(image.view, "3.png", fail_fast);
  CHECK_FALSE(first.done());
  CHECK_FALSE(second.done());
  CHECK(third.wait(0ms).code() == ErrorCode::kBusy);
  SaveOptions block;
  block.policy = BusyPolicy::kBlock;
  block.block_timeout_ms = 10;
  CHECK(client->save_image(image.view, "4.png", block).wait(0ms).code() == ErrorCode::kBusy);
  // A tensor larger than the whole budget fails while others are held...
  Uint8Image big(10, 10, 0);
  CHECK(client->save_image(big.view, "big.png", fail_fast).wait(0ms).code() == ErrorCode::kBusy);
}

TEST_CASE("...and is admitted alone", "[client]") {
  TempDir dir;
  FakeDaemon daemon(dir.Endpoint());
  ClientOptions options;
  options.max_pending_bytes = 10;
  auto client = test::OpenClient(dir.Endpoint(), options);
  Uint8Image big(10, 10, 0);
  CHECK(client->save_image(big.view, "big.png").wait(kLong).ok());
}

TEST_CASE("destroying a client with jobs in flight ends them without hanging", "[client]") {
  TempDir dir;
  FakeDaemon daemon(dir.Endpoint(), FakeDaemon::AcceptAndHold);
  ClientOptions options;
  options.linger = 100ms;
  auto client = test::OpenClient(dir.Endpoint(), options);
  Uint8Image image(64, 64, 0);
  SaveOptions borrow;
  borrow.ownership = Ownership::kBorrow;
  Job accepted = client->save_image(image.view, "accepted.png", borrow);
  REQUIRE(accepted.wait_accepted(kLong).ok());
  std::vector<Job> more;
  for (int i = 0; i < 20; ++i) more.push_back(client->save_image(image.view, "more.png", borrow));
  client.reset();
  CHECK(accepted.wait(0ms).code() == ErrorCode::kDisconnected);
  for (const Job& job : more) {
    CHECK(job.wait(0ms).code() == ErrorCode::kDisconnected);
    CHECK(job.wait_sent(0ms).ok());  // the destructor returned: libzmq let go of the buffer
  }
}

}  // namespace
}  // namespace imgsink
