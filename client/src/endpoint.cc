#include "imgsink/endpoint.h"

#include <unistd.h>

#include <cstdlib>

namespace imgsink {

std::string DefaultSocketPath() {
  const char* runtime_dir = std::getenv("XDG_RUNTIME_DIR");
  if (runtime_dir != nullptr && runtime_dir[0] != '\0') {
    return std::string(runtime_dir) + "/imgsink/imgsinkd.sock";
  }
  return "/tmp/imgsink-" + std::to_string(getuid()) + "/imgsinkd.sock";
}

std::string DefaultEndpoint() { return "ipc://" + DefaultSocketPath(); }

std::string ClientDefaultEndpoint() {
  const char* env = std::getenv("IMGSINK_ENDPOINT");
  return env != nullptr && env[0] != '\0' ? std::string(env) : DefaultEndpoint();
}

}  // namespace imgsink
