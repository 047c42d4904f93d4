// Server: wires the daemon's stages together.
//
//   socket thread: receive -> decode -> validate -> accept (reply) -> post to the worker pool
//   worker pool:   render -> encode -> atomic write -> done event (handed back to the socket thread)
//
// Threading contract: OnMessage runs on the socket thread only; Execute runs on pool threads;
// they share only `stats_` (atomics), the OutputRoot (thread-safe) and SocketThread::Send
// (thread-safe).  Start/Stop are for the owning (main) thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/thread_pool.hpp>
#include <zmq.hpp>

#include "daemon/config/options.h"
#include "daemon/core/job.h"
#include "daemon/core/stats.h"
#include "daemon/output/output_root.h"
#include "daemon/socket/socket_thread.h"

namespace imgsink {

class Server {
 public:
  explicit Server(DaemonOptions options);  // REQUIRES: FinalizeOptions(&options) succeeded
  ~Server();                               // calls Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens the output root, starts the workers and binds the endpoints.
  Status Start();

  // Drains: refuses new saves (shutting_down), finishes every accepted job, sends their done
  // events, closes the socket.  Idempotent.
  void Stop();

  const std::vector<std::string>& endpoints() const { return socket_->bound_endpoints(); }
  const Stats& stats() const { return stats_; }

 private:
  void OnMessage(IncomingMessage&& msg);  // socket thread
  void HandleSave(const std::string& client, SaveRequest&& req, zmq::message_t&& tensor);
  void SendReply(const std::string& client, const imgsink::Reply& reply);
  void ReplyError(const std::string& client, uint64_t request_id, Status status);
  void Execute(const std::shared_ptr<Job>& job);  // pool thread

  const DaemonOptions options_;
  zmq::context_t context_;
  std::unique_ptr<OutputRoot> root_;
  std::unique_ptr<boost::asio::thread_pool> pool_;
  std::unique_ptr<SocketThread> socket_;
  Stats stats_;
  std::atomic<bool> accepting_{true};
  uint64_t next_job_id_ = 1;  // socket thread only
  bool stopped_ = false;      // owner thread only
};

}  // namespace imgsink
