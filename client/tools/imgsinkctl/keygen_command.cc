// imgsinkctl keygen: a CURVE keypair (zmq_curve_keypair) written as Z85 text files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

#include <zmq.h>

#include "commands.h"
#include "daemon_link.h"

namespace imgsink {
namespace ctl {
namespace {

// Z85 of a 32-byte CURVE key: 40 characters, plus the NUL zmq_curve_keypair writes.
constexpr size_t kZ85KeySize = 41;

// Writes `text` + "\n" to a new file at `path` with exactly `mode` (umask ignored), synced.
// Returns "" on success, else why not.
std::string WriteNewFile(const std::string& path, const char* text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return path + ": " + std::strerror(errno);
  std::string error;
  const std::string line = std::string(text) + "\n";
  if (::fchmod(fd, mode) != 0 ||
      ::write(fd, line.data(), line.size()) != ssize_t(line.size()) || ::fsync(fd) != 0) {
    error = path + ": " + std::strerror(errno);
  }
  if (::close(fd) != 0 && error.empty()) error = path + ": " + std::strerror(errno);
  if (!error.empty()) ::unlink(path.c_str());
  return error;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

int RunKeygen(const std::string& prefix, bool force) {
  if (prefix.empty()) {
    std::cerr << "imgsinkctl keygen: --out must not be empty\n";
    return kExitUsage;
  }
  const std::string secret_path = prefix + ".key", public_path = prefix + ".pub";
  for (const std::string& path : {secret_path, public_path}) {
    if (!Exists(path)) continue;
    if (!force) {
      std::cerr << "imgsinkctl keygen: " << path << " exists (--force replaces it)\n";
      return kExitFailed;
    }
    if (::unlink(path.c_str()) != 0) {
      std::cerr << "imgsinkctl keygen: " << path << ": " << std::strerror(errno) << "\n";
      return kExitFailed;
    }
  }
  if (!zmq_has("curve")) {
    std::cerr << "imgsinkctl keygen: this libzmq was built without CURVE support\n";
    return kExitFailed;
  }
  char public_key[kZ85KeySize] = {};
  char secret_key[kZ85KeySize] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    std::cerr << "imgsinkctl keygen: zmq_curve_keypair: " << zmq_strerror(zmq_errno()) << "\n";
    return kExitFailed;
  }
  std::string error = WriteNewFile(secret_path, secret_key, 0600);
  explicit_bzero(secret_key, sizeof secret_key);
  if (error.empty()) {
    error = WriteNewFile(public_path, public_key, 0644);
    if (!error.empty()) ::unlink(secret_path.c_str());  // no half pair
  }
  if (!error.empty()) {
    std::cerr << "imgsinkctl keygen: " << error << "\n";
    return kExitFailed;
  }
  std::cout << "wrote " << secret_path << " (secret key, mode 0600) and " << public_path
            << " (public key)\n";
  return kExitOk;
}

}  // namespace ctl
}  // namespace imgsink
