#include "imgsink/proto/endpoint.h"

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

}  // namespace imgsink
