// FakeDaemon: a ROUTER socket on its own thread that decodes client requests with the codec,
// records them, and answers as a test's handler says.  Stands in for imgsinkd in client tests.
// Like imgsinkd it keeps each client's credit (PROTOCOL.md, "Flow control"): granted credit
// replies add to it, saves take their tensor size from it, and a save without enough credit is
// refused with no_credit without reaching the handler.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "imgsink/proto/messages.h"
#include "imgsink/proto/status.h"

namespace imgsink::test {

// One request as the daemon saw it.
struct ReceivedRequest {
  size_t frames = 0;        // after the routing id
  std::string header;       // the header frame's bytes
  std::string payload;      // the tensor frame's bytes (empty for status)
  Status decode_status;     // DecodeClientMessage's verdict on `header`
  uint64_t request_id = 0;
  ClientMessage message;
};

// What to send back for one request: `now` at once, `held` when ReleaseHeld() is called.
struct Response {
  std::vector<ServerMessage> now;
  std::vector<ServerMessage> held;
};

// Thread-safety: public methods may be called from any thread.
class FakeDaemon {
 public:
  using Handler = std::function<Response(const ReceivedRequest&)>;

  // Accepts every save (job id = 1000 + request id), reports it written at once, and answers
  // status requests with {"requests_seen": <id>}.
  static Response AcceptAndWrite(const ReceivedRequest& request);
  // Like AcceptAndWrite, but the done events wait for ReleaseHeld().
  static Response AcceptAndHold(const ReceivedRequest& request);
  // Never answers.
  static Response Silent(const ReceivedRequest& request);
  // Grants a credit request in full.
  static Response GrantCredit(const ReceivedRequest& request);

  // Binds a ROUTER to `endpoint` (REQUIRE-fails the test if it cannot) and starts the thread.
  // `handler` answers save and status requests, `credit_handler` credit requests.  With a
  // `curve_secret_key` (Z85) the socket is a CURVE server admitting any client key.
  explicit FakeDaemon(std::string endpoint, Handler handler = AcceptAndWrite,
                      Handler credit_handler = GrantCredit, std::string curve_secret_key = "");

  // The bound endpoint (with the port chosen for "tcp://127.0.0.1:*").
  const std::string& endpoint() const { return endpoint_; }
  // Stops the thread and closes the socket (clients see the connection drop).
  ~FakeDaemon();

  // Sends every held message.
  void ReleaseHeld();
  // Returns true once at least n save or status requests were received, false after
  // `timeout`.
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout);
  // The same for credit requests.
  bool WaitForCreditRequests(size_t n, std::chrono::milliseconds timeout);
  // Save and status requests, in arrival order.
  std::vector<ReceivedRequest> received() const;
  // Credit requests, in arrival order.
  std::vector<ReceivedRequest> credit_requests() const;
  // Saves refused for lack of credit.
  size_t saves_without_credit() const;

 private:
  void Run();
  void HandleRequest(const std::string& routing_id, std::vector<std::string> frames);
  void Send(const std::string& routing_id, const ServerMessage& message);

  std::string endpoint_;  // set before the thread starts
  const Handler handler_;
  const Handler credit_handler_;
  void* ctx_ = nullptr;
  void* socket_ = nullptr;  // owned by the thread once it runs

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ReceivedRequest> received_;
  std::vector<ReceivedRequest> credit_requests_;
  std::map<std::string, uint64_t> credit_;  // by routing id; loop thread only
  size_t saves_without_credit_ = 0;
  std::vector<std::pair<std::string, ServerMessage>> held_;
  bool release_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace imgsink::test
