#include "daemon/output/s3/s3_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <random>
#include <thread>

#include "daemon/output/s3/s3_signing.h"
#include "imgsink/sync/mutex.h"

namespace imgsink::daemon {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxBody = size_t{1} << 20;

// Callers of one Run wait here until every request of theirs is answered.
struct Waiter {
  Mutex mu;
  CondVar cv;
  size_t left GUARDED_BY(mu) = 0;
};

struct EasyDeleter {
  void operator()(CURL* e) const { curl_easy_cleanup(e); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// One request on its way: owned by the I/O thread from Submit to its last answer.
struct Transfer {
  const S3Request* request = nullptr;
  S3Response* response = nullptr;
  Waiter* waiter = nullptr;
  std::string url;
  std::string sha256;  // of the body, computed once for all tries
  std::string md5;
  std::unique_ptr<CURL, EasyDeleter> easy;
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  size_t read_pos = 0;
  Clock::time_point due;      // not started before this (backoff)
  Clock::time_point started;  // first try
  char error[CURL_ERROR_SIZE] = {};
};

size_t ReadBody(char* buffer, size_t size, size_t n, void* p) {
  Transfer* t = static_cast<Transfer*>(p);
  const size_t left = t->request->body_size - t->read_pos;
  const size_t k = std::min(left, size * n);
  if (k > 0) std::memcpy(buffer, t->request->body + t->read_pos, k);
  t->read_pos += k;
  return k;
}

// The read position goes back to the start when curl resends (a redirect or auth retry).
int SeekBody(void* p, curl_off_t offset, int origin) {
  Transfer* t = static_cast<Transfer*>(p);
  if (origin != SEEK_SET || offset < 0 || size_t(offset) > t->request->body_size) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->read_pos = size_t(offset);
  return CURL_SEEKFUNC_OK;
}

size_t WriteBody(char* data, size_t size, size_t n, void* p) {
  Transfer* t = static_cast<Transfer*>(p);
  std::string& body = t->response->body;
  if (body.size() < kMaxBody) body.append(data, std::min(size * n, kMaxBody - body.size()));
  return size * n;
}

size_t Header(char* data, size_t size, size_t n, void* p) {
  Transfer* t = static_cast<Transfer*>(p);
  std::string line(data, size * n);
  if (line.size() > 5 && strncasecmp(line.c_str(), "etag:", 5) == 0) {
    std::string v = line.substr(5);
    const auto notspace = [](char c) { return c != ' ' && c != '\t' && c != '\r' && c != '\n'; };
    v.erase(v.begin(), std::find_if(v.begin(), v.end(), notspace));
    v.erase(std::find_if(v.rbegin(), v.rend(), notspace).base(), v.end());
    t->response->etag = v;
  }
  return size * n;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

std::string S3ErrorCode(const std::string& body) {
  const size_t a = body.find("<Code>");
  if (a == std::string::npos || body.find("<Error>") == std::string::npos) return std::string();
  const size_t b = body.find("</Code>", a);
  return b == std::string::npos ? std::string() : body.substr(a + 6, b - a - 6);
}

bool IsRetryableS3Answer(int curl_code, long http, const std::string& body) {
  if (curl_code != CURLE_OK) return true;  // no answer: connection refused, reset, stalled, ...
  if (http >= 500 || http == 429 || http == 408) return true;
  const std::string code = S3ErrorCode(body);
  return code == "SlowDown" || code == "RequestTimeout" || code == "InternalError" ||
         code == "BadDigest" || code == "ServiceUnavailable";
}

struct S3Client::Impl {
  Impl(S3Client* c) : client(c) {}

  S3Client* const client;
  CURLM* multi = nullptr;
  std::thread thread;
  Mutex mu;
  std::deque<std::unique_ptr<Transfer>> queue GUARDED_BY(mu);  // handed over by Run
  bool stop GUARDED_BY(mu) = false;
  // Owned by the I/O thread only.
  std::list<std::unique_ptr<Transfer>> waiting;  // not started, or backing off
  size_t running = 0;
  std::mt19937_64 rng{std::random_device{}()};

  void Loop();
  bool Start(Transfer* t);
  void Done(Transfer* t, CURLcode result);
};

S3Client::S3Client(const S3Settings& settings, std::string bucket)
    : settings_(settings), bucket_(std::move(bucket)), impl_(std::make_unique<Impl>(this)) {}

Status S3Client::Open(const S3Settings& settings, const std::string& bucket,
                      std::unique_ptr<S3Client>* out) {
  GlobalInit();
  std::unique_ptr<S3Client> c(new S3Client(settings, bucket));
  c->impl_->multi = curl_multi_init();
  if (c->impl_->multi == nullptr) return Status(ErrorCode::kInternal, "curl_multi_init failed");
  curl_multi_setopt(c->impl_->multi, CURLMOPT_MAXCONNECTS, long(settings.max_connections));
  Impl* impl = c->impl_.get();
  c->impl_->thread = std::thread([impl] { impl->Loop(); });
  *out = std::move(c);
  return Status::OK();
}

S3Client::~S3Client() {
  if (impl_->thread.joinable()) {
    {
      MutexLock lock(&impl_->mu);
      impl_->stop = true;
    }
    curl_multi_wakeup(impl_->multi);
    impl_->thread.join();
  }
  if (impl_->multi != nullptr) curl_multi_cleanup(impl_->multi);
}

std::string S3Client::UrlFor(const S3Request& r) const {
  const size_t host_at = settings_.endpoint.find("://") + 3;
  std::string url;
  if (UsesPathStyle(settings_)) {
    url = settings_.endpoint + "/" + bucket_;
    if (!r.key.empty()) url += "/" + UriEncodeKey(r.key);
  } else {
    url = settings_.endpoint.substr(0, host_at) + bucket_ + "." + settings_.endpoint.substr(host_at) +
          "/" + UriEncodeKey(r.key);
  }
  if (!r.query.empty()) url += "?" + r.query;
  return url;
}

void S3Client::Run(const std::vector<S3Request>& requests, std::vector<S3Response>* responses) {
  responses->assign(requests.size(), S3Response());
  if (requests.empty()) return;
  Waiter waiter;
  {
    MutexLock lock(&waiter.mu);
    waiter.left = requests.size();
  }
  std::vector<std::unique_ptr<Transfer>> transfers;
  for (size_t i = 0; i < requests.size(); ++i) {
    auto t = std::make_unique<Transfer>();
    t->request = &requests[i];
    t->response = &(*responses)[i];
    t->waiter = &waiter;
    t->url = UrlFor(requests[i]);
    t->sha256 = Sha256Hex(requests[i].body, requests[i].body_size);
    if (requests[i].body_size > 0) t->md5 = Md5Base64(requests[i].body, requests[i].body_size);
    t->started = t->due = Clock::now();
    stats_.in_flight_bytes.fetch_add(requests[i].body_size, std::memory_order_relaxed);
    stats_.queued.fetch_add(1, std::memory_order_relaxed);
    transfers.push_back(std::move(t));
  }
  {
    MutexLock lock(&impl_->mu);
    for (auto& t : transfers) impl_->queue.push_back(std::move(t));
  }
  curl_multi_wakeup(impl_->multi);
  MutexLock lock(&waiter.mu);
  waiter.cv.Wait(&waiter.mu, [&]() REQUIRES(waiter.mu) { return waiter.left == 0; });
}

bool S3Client::Impl::Start(Transfer* t) {
  const S3Settings& s = client->settings_;
  const S3Request& r = *t->request;
  t->easy.reset(curl_easy_init());
  t->headers.reset();
  t->read_pos = 0;
  t->response->body.clear();
  t->response->etag.clear();
  t->error[0] = '\0';
  CURL* e = t->easy.get();
  if (e == nullptr) return false;
  curl_slist* h = nullptr;
  auto add = [&h](const std::string& line) { h = curl_slist_append(h, line.c_str()); };
  add("x-amz-content-sha256: " + t->sha256);
  if (!t->md5.empty()) add("Content-MD5: " + t->md5);
  if (!r.content_type.empty()) add("Content-Type: " + r.content_type);
  if (!s.session_token.empty()) add("x-amz-security-token: " + s.session_token);
  if (!s.fixed_date.empty()) add("x-amz-date: " + s.fixed_date);
  // No "Expect:" header to turn 100-continue off: curl signs custom headers, so the
  // signature would name an "expect" header that is never sent (botocore's signer caught it).
  t->headers.reset(h);
  const std::string provider = SigV4Provider(s.region);
  curl_easy_setopt(e, CURLOPT_URL, t->url.c_str());
  curl_easy_setopt(e, CURLOPT_AWS_SIGV4, provider.c_str());  // curl copies string options
  curl_easy_setopt(e, CURLOPT_USERNAME, s.access_key_id.c_str());
  curl_easy_setopt(e, CURLOPT_PASSWORD, s.secret_access_key.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, long(s.connect_timeout_ms));
  // Bodies over 1 MiB ask "Expect: 100-continue" (S3 can refuse before the body is sent); a
  // server that does not answer it gets the body after this long.
  curl_easy_setopt(e, CURLOPT_EXPECT_100_TIMEOUT_MS, 300L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, long(std::max<uint64_t>(1, s.stall_timeout_ms / 1000)));
  if (r.method == "PUT") {
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, &ReadBody);
    curl_easy_setopt(e, CURLOPT_READDATA, t);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, &SeekBody);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, t);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, curl_off_t(r.body_size));
  } else if (r.method == "POST") {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body != nullptr ? reinterpret_cast<const char*>(r.body) : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(r.body_size));
  } else if (r.method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  if (curl_multi_add_handle(multi, e) != CURLM_OK) {
    t->easy.reset();  // Done must not take it out of the multi handle
    return false;
  }
  ++running;
  return true;
}

void S3Client::Impl::Done(Transfer* t, CURLcode result) {
  S3ClientStats& st = client->stats_;
  S3Response& resp = *t->response;
  const S3Request& r = *t->request;
  long http = 0;
  if (t->easy != nullptr) curl_easy_getinfo(t->easy.get(), CURLINFO_RESPONSE_CODE, &http);
  resp.http_status = result == CURLE_OK ? http : 0;
  ++resp.tries;
  const std::string code = S3ErrorCode(resp.body);
  const bool ok = result == CURLE_OK && http >= 200 && http < 300 && code.empty();
  const bool retryable = !ok && IsRetryableS3Answer(result, http, resp.body);
  if (t->easy != nullptr) {
    curl_multi_remove_handle(multi, t->easy.get());
    t->easy.reset();
    --running;
  }
  if (retryable && resp.tries < client->settings_.tries) {
    // Full jitter: a random delay up to the doubled backoff, so many uploads that failed
    // together do not come back together.
    const uint64_t cap = std::min(client->settings_.max_retry_ms,
                                  client->settings_.first_retry_ms << std::min(resp.tries - 1, 20));
    const uint64_t delay = cap == 0 ? 0 : std::uniform_int_distribution<uint64_t>(cap / 2, cap)(rng);
    t->due = Clock::now() + std::chrono::milliseconds(delay);
    st.retries.fetch_add(1, std::memory_order_relaxed);
    return;  // stays in `waiting`
  }
  const std::string what = "S3 " + r.method + " " + client->bucket_ + "/" + r.key;
  if (ok) {
    resp.status = Status::OK();
    st.bytes_uploaded.fetch_add(r.body_size, std::memory_order_relaxed);
  } else {
    std::string why = result != CURLE_OK
                          ? std::string(t->error[0] != '\0' ? t->error : curl_easy_strerror(result))
                          : "HTTP " + std::to_string(http) + (code.empty() ? "" : " " + code);
    const bool bad_key = code == "KeyTooLongError" || code == "InvalidObjectName";
    resp.status = Status(bad_key ? ErrorCode::kBadPath : ErrorCode::kWriteFailed,
                         what + ": " + why + " (after " + std::to_string(resp.tries) + " tries)");
    resp.retryable = retryable;
    st.failures.fetch_add(1, std::memory_order_relaxed);
  }
  st.requests.fetch_add(1, std::memory_order_relaxed);
  st.latency_us.fetch_add(uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                                       Clock::now() - t->started).count()),
                          std::memory_order_relaxed);
  st.in_flight_bytes.fetch_sub(r.body_size, std::memory_order_relaxed);
  st.queued.fetch_sub(1, std::memory_order_relaxed);
  Waiter* w = t->waiter;
  t->waiter = nullptr;  // marks the transfer finished: Loop drops it
  MutexLock lock(&w->mu);
  if (--w->left == 0) w->cv.NotifyAll();
}

void S3Client::Impl::Loop() {
  const size_t max_running = client->settings_.max_connections;
  for (;;) {
    {
      MutexLock lock(&mu);
      if (stop) break;
      while (!queue.empty()) {
        waiting.push_back(std::move(queue.front()));
        queue.pop_front();
      }
    }
    auto now = Clock::now();
    auto next_due = now + std::chrono::seconds(1);
    for (auto it = waiting.begin(); it != waiting.end();) {
      Transfer* t = it->get();
      if (t->waiter == nullptr) {
        it = waiting.erase(it);  // answered
        continue;
      }
      if (t->easy == nullptr) {
        if (t->due <= now && running < max_running) {
          if (!Start(t)) Done(t, CURLE_FAILED_INIT);
          continue;  // revisit: Done may have finished it
        }
        if (t->due > now) next_due = std::min(next_due, t->due);
      }
      ++it;
    }
    int still = 0;
    curl_multi_perform(multi, &still);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
      Done(t, msg->data.result);
    }
    const bool startable = std::any_of(waiting.begin(), waiting.end(), [&](const auto& t) {
      return t->waiter != nullptr && t->easy == nullptr && t->due <= Clock::now();
    });
    if (startable && running < max_running) continue;
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_due - Clock::now());
    curl_multi_poll(multi, nullptr, 0, int(std::clamp<int64_t>(wait.count(), 1, 1000)), nullptr);
  }
  for (auto& t : waiting) {  // REQUIRES of the destructor: no Run waits on these
    if (t->easy != nullptr) curl_multi_remove_handle(multi, t->easy.get());
  }
  waiting.clear();
}

}  // namespace imgsink::daemon
