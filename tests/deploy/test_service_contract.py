"""What imgsinkd.service relies on from the daemon, checked without systemd.

The test plays systemd's part: it runs imgsinkd with the shipped example config (paths moved
into a temp dir), UMask=0027, and NOTIFY_SOCKET/WATCHDOG_USEC pointing at its own datagram
socket, then checks the sd_notify conversation the unit's Type=notify, WatchdogSec= and
ExecReload= need, the socket file's mode, and the exit status after a drain.
"""
import os
import signal
import socket
import stat
import subprocess
import time

import pytest

from conftest import BINARY_DIR, SOURCE_DIR

EXAMPLE_CONFIG = SOURCE_DIR / "deploy" / "imgsinkd.toml.example"
DEADLINE_S = 60  # generous: the build machine is shared and loaded; not a timing assertion


class Notifications:
    """A NOTIFY_SOCKET: collects what the daemon sends, one datagram per sd_notify call."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.seen = []  # every assignment ("READY=1", ...) in arrival order

    def wait_for(self, assignment, process):
        """Returns once `assignment` arrives; fails if the daemon exits or the deadline passes."""
        end = time.monotonic() + DEADLINE_S
        start = len(self.seen)
        while time.monotonic() < end:
            if assignment in self.seen[start:]:
                return
            try:
                self.seen += self.sock.recv(65536).decode().split("\n")
            except socket.timeout:
                assert process.poll() is None, f"imgsinkd exited {process.returncode}: {self.seen}"
        pytest.fail(f"no {assignment} within {DEADLINE_S} s; got {self.seen}")

    def close(self):
        self.sock.close()


@pytest.fixture
def service(tmp_path):
    """imgsinkd started the way the unit starts it; yields (process, notifications, run dir)."""
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o750)
    config = EXAMPLE_CONFIG.read_text()
    config = config.replace("/run/imgsink", str(run_dir))
    config = config.replace("/var/lib/imgsink", str(tmp_path / "state"))
    assert str(run_dir) in config and str(tmp_path / "state") in config
    (tmp_path / "imgsinkd.toml").write_text(config)

    notify = Notifications(tmp_path / "notify.sock")
    env = {**os.environ, "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"}
    process = subprocess.Popen(
        [BINARY_DIR / "bin" / "imgsinkd", "--config", tmp_path / "imgsinkd.toml"],
        env=env, preexec_fn=lambda: os.umask(0o027))
    try:
        yield process, notify, run_dir
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        notify.close()


def test_notify_watchdog_reload_stop(service):
    process, notify, _ = service
    notify.wait_for("READY=1", process)
    notify.wait_for("WATCHDOG=1", process)
    assert any(a.startswith("STATUS=") for a in notify.seen), notify.seen

    process.send_signal(signal.SIGHUP)  # ExecReload=/bin/kill -HUP $MAINPID
    notify.wait_for("RELOADING=1", process)
    notify.wait_for("READY=1", process)

    process.send_signal(signal.SIGTERM)  # systemctl stop
    notify.wait_for("STOPPING=1", process)
    assert process.wait(timeout=DEADLINE_S) == 0  # Restart=on-failure must not restart a drain


def test_socket_mode_comes_from_ipc_mode(service):
    # Connecting needs write permission: without ipc_mode the umask (0027) leaves 0750.
    process, notify, run_dir = service
    notify.wait_for("READY=1", process)
    sock = run_dir / "imgsinkd.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o660
    # The existing RuntimeDirectory keeps its mode.
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o750
