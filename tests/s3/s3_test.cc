// Unit tests of the S3 sink's parts that need no server: URL and settings parsing, digests,
// key escaping, retry classification, the multipart record, and the tee of two local sinks.
// (Uploads against a real S3-compatible server: test_s3_sink.py; SigV4 against botocore:
// test_s3_signing.py.)
#include <catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "daemon/output/s3/multipart_log.h"
#include "daemon/output/s3/s3_client.h"
#include "daemon/output/s3/s3_settings.h"
#include "daemon/output/s3/s3_signing.h"
#include "daemon/output/s3/s3_sink.h"
#include "daemon/output/tee_sink.h"

namespace imgsink::daemon {
namespace {

namespace fs = std::filesystem;

fs::path ScratchDir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("imgsink_s3_test_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_CASE("ParseS3Url splits bucket and prefix and refuses what S3 or a path cannot be") {
  S3Location l;
  REQUIRE(ParseS3Url("s3://my-bucket/runs/exp1/", &l).ok());
  CHECK(l.bucket == "my-bucket");
  CHECK(l.prefix == "runs/exp1");
  REQUIRE(ParseS3Url("s3://my.bucket", &l).ok());
  CHECK(l.prefix.empty());
  for (const char* bad : {"s3://", "s3://ab", "s3://Upper", "s3://b_ucket/x", "s3://bucket//x",
                          "s3://bucket/a/../b", "s3://bucket/./a", "http://bucket/x", "s3://-bucket"}) {
    INFO(bad);
    Status s = ParseS3Url(bad, &l);
    CHECK(s.code() == ErrorCode::kBadOption);
  }
}

TEST_CASE("ResolveS3Settings takes unset values from the AWS variables, the key pair from one place") {
  setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9/", 1);
  setenv("AWS_REGION", "eu-west-3", 1);
  setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET", 1);
  setenv("AWS_SESSION_TOKEN", "ENVTOKEN", 1);
  S3Settings s;
  REQUIRE(ResolveS3Settings(&s).ok());
  CHECK(s.endpoint == "http://127.0.0.1:9");
  CHECK(s.region == "eu-west-3");
  CHECK(s.access_key_id == "ENVKEY");
  CHECK(s.secret_access_key == "ENVSECRET");
  CHECK(s.session_token == "ENVTOKEN");
  CHECK(UsesPathStyle(s));  // a custom endpoint: path-style under kAuto

  S3Settings file;  // keys from the config file: the environment's are not mixed in
  file.access_key_id = "FILEKEY";
  file.secret_access_key = "FILESECRET";
  file.endpoint = "https://s3.eu-west-3.amazonaws.com";
  REQUIRE(ResolveS3Settings(&file).ok());
  CHECK(file.secret_access_key == "FILESECRET");
  CHECK(file.session_token.empty());
  CHECK_FALSE(UsesPathStyle(file));  // AWS: virtual-host
  file.addressing = S3Addressing::kPath;
  CHECK(UsesPathStyle(file));

  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  S3Settings none;
  Status st = ResolveS3Settings(&none);
  CHECK(st.code() == ErrorCode::kBadOption);
  CHECK(st.message().find("credentials") != std::string::npos);
  S3Settings badurl;
  badurl.access_key_id = "k";
  badurl.secret_access_key = "s";
  badurl.endpoint = "ftp://x";
  CHECK(ResolveS3Settings(&badurl).code() == ErrorCode::kBadOption);
  badurl.endpoint = "http://host/path";
  CHECK(ResolveS3Settings(&badurl).code() == ErrorCode::kBadOption);
  S3Settings small;
  small.access_key_id = "k";
  small.secret_access_key = "s";
  small.part_size = 1 << 20;
  CHECK(ResolveS3Settings(&small).code() == ErrorCode::kBadOption);
  unsetenv("AWS_ENDPOINT_URL");
  unsetenv("AWS_REGION");
  unsetenv("AWS_SESSION_TOKEN");
}

TEST_CASE("payload digests are the standard ones") {
  CHECK(Sha256Hex("", 0) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc", 3) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Md5Base64("", 0) == "1B2M2Y8AsgTpgAmY7PhCfg==");
  CHECK(Md5Base64("abc", 3) == "kAFQmDzST7DWlj99KOF/cg==");
}

TEST_CASE("keys are escaped as SigV4 canonicalizes S3 paths") {
  CHECK(UriEncodeKey("run 1/img+a=b~_.-/x.png") == "run%201/img%2Ba%3Db~_.-/x.png");
  CHECK(UriEncodeKey("\xc3\xa9t\xc3\xa9") == "%C3%A9t%C3%A9");
  CHECK(UriEncodeQueryValue("a/b c") == "a%2Fb%20c");
  CHECK(S3KeyFor("", "a/b.png") == "a/b.png");
  CHECK(S3KeyFor("runs/x", "a/b.png") == "runs/x/a/b.png");
}

TEST_CASE("retryable answers: no answer, 5xx, 429, 408, SlowDown; not 403 or 404") {
  CHECK(IsRetryableS3Answer(7 /* CURLE_COULDNT_CONNECT */, 0, ""));
  CHECK(IsRetryableS3Answer(0, 500, ""));
  CHECK(IsRetryableS3Answer(0, 503, "<Error><Code>SlowDown</Code></Error>"));
  CHECK(IsRetryableS3Answer(0, 429, ""));
  CHECK(IsRetryableS3Answer(0, 408, ""));
  CHECK(IsRetryableS3Answer(0, 400, "<Error><Code>RequestTimeout</Code></Error>"));
  CHECK(IsRetryableS3Answer(0, 400, "<Error><Code>BadDigest</Code></Error>"));
  CHECK_FALSE(IsRetryableS3Answer(0, 403, "<Error><Code>AccessDenied</Code></Error>"));
  CHECK_FALSE(IsRetryableS3Answer(0, 404, "<Error><Code>NoSuchBucket</Code></Error>"));
  CHECK(S3ErrorCode("<?xml?><Error><Code>NoSuchKey</Code></Error>") == "NoSuchKey");
  CHECK(S3ErrorCode("<Code>x</Code>") == "");
}

TEST_CASE("MultipartLog gives back the uploads begun and not ended, across reopenings") {
  const fs::path dir = ScratchDir("mlog");
  std::vector<OpenUpload> open;
  std::unique_ptr<MultipartLog> log;
  REQUIRE(MultipartLog::Open(DefaultEnv(), dir.string(), "bkt", "p", &open, &log).ok());
  CHECK(open.empty());
  REQUIRE(log->Begin("id-1", "p/a b.png").ok());
  REQUIRE(log->Begin("id/2", "p/c.png").ok());
  REQUIRE(log->End("id-1").ok());
  const std::string path = log->path();
  log.reset();
  {  // a crash mid-append leaves a line without its newline: ignored
    std::ofstream f(path, std::ios::app);
    f << "begin torn-id p/x";
  }
  REQUIRE(MultipartLog::Open(DefaultEnv(), dir.string(), "bkt", "p", &open, &log).ok());
  REQUIRE(open.size() == 1);
  CHECK(open[0].upload_id == "id/2");
  CHECK(open[0].key == "p/c.png");
  CHECK(ReadFile(path) == "begin id%2F2 p/c.png\n");  // compacted
  REQUIRE(log->End("id/2").ok());
  log.reset();
  REQUIRE(MultipartLog::Open(DefaultEnv(), dir.string(), "bkt", "p", &open, &log).ok());
  CHECK(open.empty());
  // Another prefix of the bucket keeps its own record.
  std::unique_ptr<MultipartLog> other;
  REQUIRE(MultipartLog::Open(DefaultEnv(), dir.string(), "bkt", "q", &open, &other).ok());
  CHECK(other->path() != log->path());
  fs::remove_all(dir);
}

TEST_CASE("a tee of two local sinks writes every file to both and joins the manifests") {
  const fs::path dir = ScratchDir("tee");
  std::vector<std::unique_ptr<OutputSink>> sinks(2);
  SinkOptions o;
  o.root = (dir / "a").string();
  REQUIRE(OpenOutputSink(o, &sinks[0]).ok());
  o.root = (dir / "b").string();
  o.manifest = false;
  REQUIRE(OpenOutputSink(o, &sinks[1]).ok());
  std::unique_ptr<OutputSink> tee = MakeTeeSink(std::move(sinks));
  CHECK(tee->location() == (dir / "a").string() + " + " + (dir / "b").string());
  CHECK(tee->has_manifest());
  std::unique_ptr<SinkBatch> batch = tee->NewBatch();
  REQUIRE(batch->Add("x/1.png", "one", 3).ok());
  REQUIRE(batch->Add("2.png", "two!", 4).ok());
  CHECK(batch->size() == 2);
  CHECK(batch->Add("../escape.png", "bad", 3).code() == ErrorCode::kBadPath);
  // The refused file failed the group: nothing was committed anywhere.
  REQUIRE(batch->Commit().ok());
  CHECK_FALSE(fs::exists(dir / "a" / "x" / "1.png"));
  REQUIRE(batch->Add("x/1.png", "one", 3).ok());
  REQUIRE(batch->Commit().ok());
  CHECK(ReadFile(dir / "a" / "x" / "1.png") == "one");
  CHECK(ReadFile(dir / "b" / "x" / "1.png") == "one");
  int calls = 0;
  Status got(ErrorCode::kInternal, "not called");
  tee->AppendManifest("{\"path\":\"x/1.png\"}\n", [&](const Status& s) {
    ++calls;
    got = s;
  });
  tee.reset();  // waits for the manifest
  CHECK(calls == 1);
  CHECK(got.ok());
  CHECK(ReadFile(dir / "a" / "manifest.jsonl") == "{\"path\":\"x/1.png\"}\n");
  CHECK_FALSE(fs::exists(dir / "b" / "manifest.jsonl"));
  fs::remove_all(dir);
}

TEST_CASE("OpenOutputSink opens s3:// URLs and refuses unknown schemes and bad settings") {
  SinkOptions o;
  o.root = "s3://bucket/p";
  o.manifest = false;
  o.s3.endpoint = "http://127.0.0.1:9";
  o.s3.access_key_id = "k";
  o.s3.secret_access_key = "s";
  std::unique_ptr<OutputSink> sink;
  REQUIRE(OpenOutputSink(o, &sink).ok());
  CHECK(sink->location() == "s3://bucket/p at http://127.0.0.1:9");
  std::map<std::string, uint64_t> counters;
  sink->AddCounters(&counters);
  CHECK(counters.count("s3_backlog_requests") == 1);
  CHECK(sink->IsRetryable(Status(ErrorCode::kWriteFailed, "store down")));
  CHECK_FALSE(sink->IsRetryable(Status(ErrorCode::kBadPath, "key too long")));
  std::unique_ptr<SinkBatch> batch = sink->NewBatch();
  CHECK(batch->Add(std::string(1100, 'k'), "x", 1).code() == ErrorCode::kBadPath);
  o.root = "gs://bucket";
  CHECK(OpenOutputSink(o, &sink).code() == ErrorCode::kBadOption);
  o.root = "s3://bucket";
  o.s3.secret_access_key.clear();
  o.s3.access_key_id.clear();
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  CHECK(OpenOutputSink(o, &sink).code() == ErrorCode::kBadOption);
}

TEST_CASE("an S3 batch copies files only within the room the budget charged") {
  SinkOptions o;
  o.root = "s3://bucket/p";
  o.manifest = false;
  o.s3.endpoint = "http://127.0.0.1:9";
  o.s3.access_key_id = "k";
  o.s3.secret_access_key = "s";
  std::unique_ptr<OutputSink> sink;
  REQUIRE(OpenOutputSink(o, &sink).ok());
  CHECK(sink->copies_in_ram() == 1);
  std::unique_ptr<SinkBatch> batch = sink->NewBatch();
  // No room (a replayed job, a one-file save): the caller's buffer, and nothing more.
  REQUIRE(batch->Add("a.png", "abcd", 4).ok());
  CHECK(batch->full());
  batch->Discard();
  CHECK_FALSE(batch->full());
  batch->AllowCopies(10);
  REQUIRE(batch->Add("a.png", "abcd", 4).ok());
  REQUIRE(batch->Add("b.png", "efgh", 4).ok());
  CHECK_FALSE(batch->full());  // 8 of 10 bytes copied
  REQUIRE(batch->Add("c.png", "ijkl", 4).ok());
  CHECK(batch->full());  // 12 would be over: kept in place, the batch ends
  CHECK(batch->size() == 3);
  // A tee holds one copy per copying sink; the job is charged for each.
  std::vector<std::unique_ptr<OutputSink>> two(2);
  REQUIRE(OpenOutputSink(o, &two[0]).ok());
  REQUIRE(OpenOutputSink(o, &two[1]).ok());
  std::unique_ptr<OutputSink> tee = MakeTeeSink(std::move(two));
  CHECK(tee->copies_in_ram() == 2);
  // Each output's counters under its own keys, beside the sums.
  std::map<std::string, uint64_t> c;
  tee->AddCounters(&c);
  CHECK(c.count("s3_backlog_requests") == 1);
  CHECK(c.count("sink.0.s3_backlog_requests") == 1);
  CHECK(c.count("sink.1.s3_in_flight_bytes") == 1);
  CHECK(c.count("sink.2.s3_backlog_requests") == 0);
}

TEST_CASE("a tee keeps each output's counters apart and sums them") {
  struct Counting : OutputSink {
    explicit Counting(uint64_t n) : n_(n) {}
    const std::string& location() const override { return location_; }
    Status Recover(size_t*) override { return Status::OK(); }
    std::unique_ptr<SinkBatch> NewBatch() override { return nullptr; }
    bool has_manifest() const override { return false; }
    void AppendManifest(std::string, Callback) override {}
    void AddCounters(std::map<std::string, uint64_t>* c) const override {
      (*c)["s3_backlog_requests"] += n_;
    }
    const uint64_t n_;
    const std::string location_ = "x";
  };
  std::vector<std::unique_ptr<OutputSink>> sinks;
  sinks.push_back(std::make_unique<Counting>(3));
  sinks.push_back(std::make_unique<Counting>(40));
  std::map<std::string, uint64_t> c;
  MakeTeeSink(std::move(sinks))->AddCounters(&c);
  CHECK(c == std::map<std::string, uint64_t>{{"s3_backlog_requests", 43},
                                             {"sink.0.s3_backlog_requests", 3},
                                             {"sink.1.s3_backlog_requests", 40}});
}

TEST_CASE("an upload to a closed port fails retryably after the configured tries") {
  SinkOptions o;
  o.root = "s3://bucket/p";
  o.manifest = false;
  o.s3.endpoint = "http://127.0.0.1:1";  // nothing listens on port 1
  o.s3.access_key_id = "k";
  o.s3.secret_access_key = "s";
  o.s3.tries = 3;
  o.s3.first_retry_ms = 1;
  o.s3.max_retry_ms = 5;
  std::unique_ptr<OutputSink> sink;
  REQUIRE(OpenOutputSink(o, &sink).ok());
  std::unique_ptr<SinkBatch> batch = sink->NewBatch();
  REQUIRE(batch->Add("a.png", "x", 1).ok());
  Status s = batch->Commit();
  CHECK(s.code() == ErrorCode::kWriteFailed);
  CHECK(s.message().find("after 3 tries") != std::string::npos);
  CHECK(sink->IsRetryable(s));
  std::map<std::string, uint64_t> c;
  sink->AddCounters(&c);
  CHECK(c["s3_retries"] == 2);
  CHECK(c["s3_request_failures"] == 1);
  CHECK(c["s3_backlog_requests"] == 0);
  CHECK(c["s3_in_flight_bytes"] == 0);
}

}  // namespace
}  // namespace imgsink::daemon
