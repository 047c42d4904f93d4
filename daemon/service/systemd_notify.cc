#include "daemon/service/systemd_notify.h"

#include <systemd/sd-daemon.h>

namespace imgsink::daemon {

bool NotifyServiceManager(const std::string& state) {
  return sd_notify(/*unset_environment=*/0, state.c_str()) > 0;
}

std::chrono::microseconds WatchdogInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(/*unset_environment=*/0, &usec) <= 0) return std::chrono::microseconds(0);
  return std::chrono::microseconds(usec);
}

}  // namespace imgsink::daemon
