// SystemdNotify: the sd_notify(3) protocol (Type=notify services): READY, STATUS, WATCHDOG,
// RELOADING, STOPPING.  Without $NOTIFY_SOCKET every call is a no-op.
// Thread-safety: the functions may be called from any thread.
#pragma once

#include <chrono>
#include <string>

namespace imgsink::daemon {

// Sends `state` (e.g. "READY=1\nSTATUS=idle") to the service manager.  Returns true iff sent.
bool NotifyServiceManager(const std::string& state);

// The watchdog interval systemd expects pings within (WatchdogSec=), or zero when disabled.
std::chrono::microseconds WatchdogInterval();

}  // namespace imgsink::daemon
