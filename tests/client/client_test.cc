// Client against a fake daemon: request ids, replies, done events, errors, timeouts, status.
#include <catch.hpp>
#include <unistd.h>

#include <chrono>
#include <cmath>

#include "fake_daemon.h"
#include "imgsink/client.h"
#include "imgsink/proto/codec.h"
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

TEST_CASE("Open refuses a malformed endpoint and a zero first id", "[client]") {
  std::unique_ptr<Client> client;
  CHECK(Client::Open("nonsense://x", ClientOptions(), &client).code() == ErrorCode::kBadOption);
  CHECK(client == nullptr);
  ClientOptions options;
  options.first_request_id = 0;
  CHECK(Client::Open("ipc:///tmp/unused", options, &client).code() == ErrorCode::kBadOption);
}

TEST_CASE("request ids start at first_request_id, increase, and match the daemon's",
          "[client]") {
  TempDir dir;
  FakeDaemon daemon(dir.Endpoint());
  ClientOptions options;
  options.first_request_id = 500;
  auto client = test::OpenClient(dir.Endpoint(), options);
  Uint8Image image(4, 5, 0);
  std::vector<Job> jobs;
  for (int i = 0; i < 3; ++i) jobs.push_back(client->save_image(image.view, "a/b.png"));
  // Credit requests draw from the same counter, so save ids need not be consecutive.
  CHECK(jobs[0].request_id() == 500);
  CHECK(jobs[1].request_id() > jobs[0].request_id());
  CHECK(jobs[2].request_id() > jobs[1].request_id());
  for (size_t i = 0; i < jobs.size(); ++i) {
    INFO("job " << i);
    REQUIRE(jobs[i].wait(kLong).ok());
    CHECK(jobs[i].done());
    CHECK(jobs[i].job_id() == 1000 + jobs[i].request_id());  // FakeDaemon's job id rule
  }
  const std::vector<ReceivedRequest> got = daemon.received();
  REQUIRE(got.size() == 3);
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("request " << i);
    CHECK(got[i].frames == 2);
    REQUIRE(got[i].decode_status.ok());
    const auto& save = std::get<SaveRequest>(got[i].message);
    CHECK(save.request_id == jobs[i].request_id());
    CHECK(save.path == "a/b.png");
    CHECK(save.dtype == DType::kUint8);
    CHECK(save.shape == std::vector<int64_t>{3, 4, 5});
    CHECK(save.layout == Layout::kCHW);
    CHECK(got[i].payload == image.AsString());
  }
}

TEST_CASE("options travel in the header", "[client]") {
  TempDir dir;
  FakeDaemon daemon(dir.Endpoint());
  auto client = test::OpenClient(dir.Endpoint());
  Uint8Image image(2, 2, 7);
  SaveOptions options;
  options.format = OutputFormat::kJpeg;
  options.mode = OutputMode::kEach;
  options.render.nrow = 3;
  options.jpeg.quality = 90;
  options.policy = BusyPolicy::kError;
  options.metadata = {{"step", "12"}};
  REQUIRE(client->save_image(image.view, "x/{index}.out", options).wait(kLong).ok());
  const auto got = daemon.received();
  REQUIRE(got.size() == 1);
  const auto& save = std::get<SaveRequest>(got[0].message);
  CHECK(save.format == OutputFormat::kJpeg);
  CHECK(save.mode == OutputMode::kEach);
  CHECK(save.render.nrow == 3);
  CHECK(save.jpeg.quality == 90);
  CHECK(save.policy == BusyPolicy::kError);
  CHECK(save.metadata == std::map<std::string, std::string>{{"step", "12"}});
}

TEST_CASE("a refusal surfaces with the daemon's code and message", "[client]") {
  TempDir dir;
  FakeDaemon daemon(dir.Endpoint(), [](const ReceivedRequest& r) {
    Reply reply;
    reply.request_id = r.request_id;
    reply.status = Status(ErrorCode::kBadShape, "key 'shape': 3 dims for layout NCHW");
    return Response{{reply}, {}};
  });
  auto client = test::OpenClient(dir.Endpoint());
  Uint8Image image(2, 2, 0);
  Job job = client->save_image(image.view, "refused.png");
  const Status accepted = job.wait_accepted(kLong);
  CHECK(accepted.code() == ErrorCode::kBadShape);
  CHECK(accepted.message() == "key 'shape': 3 dims for layout NCHW");
  const Status done = job.wait(kLong);
  CHECK(done.code() == ErrorCode::kBadShape);
  CHECK(done.message() == accepted.message());
  CHECK(job.done());
  CHECK(job.job_id() == 0);
}

TEST_CASE("a failed done event surfaces after an accepting reply", "[client]") {
  TempDir dir;
  FakeDaemon daemon(dir.Endpoint(), [](const ReceivedRequest& r) {
    Reply reply;
    reply.request_id = r.request_id;
    reply.job_id = 77;
    DoneEvent done;
    done.request_id = r.request_id;
    done.job_id = 77;
    done.status = Status(ErrorCode::kWriteFailed, "full.png: No space left on device");
    return Response{{reply, done}, {}};
  });
  auto client = test::OpenClient(dir.Endpoint());
  Uint8Image image(2, 2, 0);
  Job job = client->save_image(image.view, "full.png");
  CHECK(job.wait_accepted(kLong).ok());
  const Status s = job.wait(kLong);
  CHECK(s.code() == ErrorCode::kWriteFailed);
  CHECK(s.message() == "full.png: No space left on device");
  CHECK(job.job_id() == 77);
}

TEST_CASE("waits on a silent daemon give kTimeout and the job goes on", "[client]") {
  TempDir dir;
  FakeDaemon daemon(dir.Endpoint(), FakeDaemon::Silent);
  auto client = test::OpenClient(dir.Endpoint());
  Uint8Image image(2, 2, 0);
  Job job = client->save_image(image.view, "slow.png");
  REQUIRE(daemon.WaitForRequests(1, kLong));
  CHECK(job.wait_accepted(10ms).code() == ErrorCode::kTimeout);
  CHECK(job.wait(0ms).code() == ErrorCode::kTimeout);
  CHECK_FALSE(job.done());
  std::map<std::string, uint64_t> counters;
  CHECK(client->status(&counters, 10ms).code() == ErrorCode::kTimeout);
  CHECK(client->flush(10ms).code() == ErrorCode::kTimeout);
}

TEST_CASE("bad arguments fail locally and send nothing", "[client]") {
  TempDir dir;
  FakeDaemon daemon(dir.Endpoint());
  auto client = test::OpenClient(dir.Endpoint());
  Uint8Image image(2, 2, 0);
  TensorView bad_rank = image.view;
  bad_rank.layout = Layout::kNCHW;
  SaveOptions bad_nrow;
  bad_nrow.render.nrow = 0;
  SaveOptions each;
  each.mode = OutputMode::kEach;
  SaveOptions nan_range;
  nan_range.render.value_range = std::make_pair(0.0, std::nan(""));
  SaveOptions many_tags;
  for (int i = 0; i < 65; ++i) many_tags.metadata["k" + std::to_string(i)] = "v";
  struct Case {
    Job job;
    ErrorCode code;
  } cases[] = {
      {client->save_image(bad_rank, "a.png"), ErrorCode::kBadShape},
      // Absolute paths, '..' and '//' are the daemon's path mode's to judge; a path that
      // names no file is refused here.
      {client->save_image(image.view, "a/.."), ErrorCode::kBadPath},
      {client->save_image(image.view, "dir/"), ErrorCode::kBadPath},
      {client->save_image(image.view, ""), ErrorCode::kBadPath},
      {client->save_image(image.view, "a.bmp"), ErrorCode::kBadFormat},
      {client->save_image(image.view, "a.png", bad_nrow), ErrorCode::kBadOption},
      {client->save_image(image.view, "no_template.png", each), ErrorCode::kBadPath},
      // The daemon's whole rule, not a search for "{index": these used to reach the daemon.
      {client->save_image(image.view, "{{index}}.png", each), ErrorCode::kBadPath},
      {client->save_image(image.view, "s/{index.png", each), ErrorCode::kBadPath},
      {client->save_image(image.view, "{rank}/{index}.png", each), ErrorCode::kBadPath},
      {client->save_image(image.view, "{index}.png"), ErrorCode::kBadPath},  // no {index} in grid
      {client->save_image(image.view, "a.png", nan_range), ErrorCode::kBadOption},
      {client->save_image(image.view, "a.png", many_tags), ErrorCode::kBadOption},
  };
  for (const Case& c : cases) {
    INFO("request " << c.job.request_id());
    CHECK(c.job.done());  // already, without waiting
    const Status s = c.job.wait(0ms);
    CHECK(s.code() == c.code);
    CHECK_FALSE(s.message().empty());
    CHECK(c.job.wait_sent(0ms).ok());
  }
  // A good request after the bad ones is the only one the daemon sees.
  REQUIRE(client->save_image(image.view, "good.png").wait(kLong).ok());
  const auto got = daemon.received();
  REQUIRE(got.size() == 1);
  CHECK(std::get<SaveRequest>(got[0].message).path == "good.png");
}

TEST_CASE("save_image sends the path as written, with the working directory when relative",
          "[client][paths]") {
  TempDir dir;
  test::FakeDaemon daemon(dir.Endpoint());
  auto client = test::OpenClient(dir.Endpoint());
  Uint8Image image(4, 4, 0);
  char cwd[4097];
  REQUIRE(getcwd(cwd, sizeof cwd) != nullptr);
  REQUIRE(client->save_image(image.view, "./a//../b.png").wait(kLong).ok());
  REQUIRE(client->save_image(image.view, "/abs/x.png").wait(kLong).ok());
  const auto got = daemon.received();
  REQUIRE(got.size() == 2);
  const auto& relative = std::get<SaveRequest>(got[0].message);
  CHECK(relative.path == "./a//../b.png");
  CHECK(relative.cwd == cwd);
  const auto& absolute = std::get<SaveRequest>(got[1].message);
  CHECK(absolute.path == "/abs/x.png");
  CHECK(absolute.cwd.empty());
}

TEST_CASE("status returns the daemon's counters", "[client]") {
  TempDir dir;
  FakeDaemon daemon(dir.Endpoint());
  ClientOptions options;
  options.first_request_id = 41;
  auto client = test::OpenClient(dir.Endpoint(), options);
  std::map<std::string, uint64_t> counters;
  REQUIRE(client->status(&counters, kLong).ok());
  CHECK(counters == std::map<std::string, uint64_t>{{"requests_seen", 41}});
  const auto got = daemon.received();
  REQUIRE(got.size() == 1);
  CHECK(got[0].frames == 1);
  CHECK(std::holds_alternative<StatusRequest>(got[0].message));
}

TEST_CASE("without a daemon, requests fail with kDisconnected after connect_timeout",
          "[client]") {
  TempDir dir;
  ClientOptions options;
  options.connect_timeout = 100ms;
  auto client = test::OpenClient(dir.Endpoint("nobody.sock"), options);
  Uint8Image image(2, 2, 0);
  Job job = client->save_image(image.view, "lost.png");
  CHECK(job.wait(kLong).code() == ErrorCode::kDisconnected);
  CHECK(job.wait_accepted(0ms).code() == ErrorCode::kDisconnected);
  CHECK(job.wait_sent(kLong).ok());
  std::map<std::string, uint64_t> counters;
  CHECK(client->status(&counters, kLong).code() == ErrorCode::kDisconnected);
}

TEST_CASE("a daemon that goes away fails its unfinished jobs with kDisconnected", "[client]") {
  TempDir dir;
  auto daemon = std::make_unique<FakeDaemon>(dir.Endpoint(), FakeDaemon::AcceptAndHold);
  auto client = test::OpenClient(dir.Endpoint());
  Uint8Image image(2, 2, 0);
  Job job = client->save_image(image.view, "pending.png");
  REQUIRE(job.wait_accepted(kLong).ok());
  daemon.reset();
  const Status s = job.wait(kLong);
  CHECK(s.code() == ErrorCode::kDisconnected);
  CHECK(s.message().find("may still write") != std::string::npos);
  // A new daemon on the same endpoint gets the next request: the client reconnects.
  daemon = std::make_unique<FakeDaemon>(dir.Endpoint());
  CHECK(client->save_image(image.view, "after.png").wait(kLong).ok());
}

TEST_CASE("an empty Job handle is done and reports kInternal", "[client]") {
  Job job;
  CHECK(job.done());
  CHECK(job.request_id() == 0);
  CHECK(job.wait(0ms).code() == ErrorCode::kInternal);
  CHECK(job.wait_sent(0ms).code() == ErrorCode::kInternal);
}

}  // namespace
}  // namespace imgsink
