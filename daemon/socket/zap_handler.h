// ZapHandler: ZeroMQ's authentication protocol (ZAP, RFC 27) for the CURVE socket.
//
// Without a ZAP handler CURVE encrypts but admits any client key.  This handler admits a CURVE
// client iff its public key is in the allowed set, and admits NULL-mechanism peers (the plain
// ipc socket, which sets no ZAP domain, never asks).  It runs its own thread with a REP socket
// bound to inproc://zeromq.zap.01 in the daemon's ZeroMQ context.
// Thread-safety: Start/Stop from the owner thread.
#pragma once

#include <atomic>
#include <set>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "imgsink/proto/status.h"

namespace imgsink::daemon {

// Reads Z85 keys (40 characters each), one per line, '#' comments and blank lines ignored,
// from `path`, or from every *.pub file in it when it is a directory.  Returns the 32-byte
// binary keys.  kBadOption names the file and line of a malformed key.
Status LoadPublicKeys(const std::string& path, std::set<std::string>* keys);

// Reads one Z85 key from a file (the first non-comment line).  Returns it as Z85 text.
Status LoadKeyFile(const std::string& path, std::string* z85);

class ZapHandler {
 public:
  ZapHandler(zmq::context_t* context, std::set<std::string> allowed_keys);
  ~ZapHandler();  // Stop()

  // Binds inproc://zeromq.zap.01 and starts the thread.  Call before binding CURVE sockets.
  Status Start();
  void Stop();

  uint64_t denied() const { return denied_.load(); }

 private:
  void Run();

  zmq::context_t* context_;
  const std::set<std::string> allowed_;
  zmq::socket_t socket_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> denied_{0};
};

}  // namespace imgsink::daemon
