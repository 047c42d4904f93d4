"""The one way the Python tests and the benchmark start a real imgsinkd: DaemonProcess (ipc
socket, output root and journal in a work dir; readiness by a status request; clean shutdown;
counters, CPU time and peak RSS from /proc; an imgsink.Client on demand), plus the fixtures
and helpers that go with it.  Used by tests/integration, tests/python (conftest.py),
tests/metrics, tests/ctl and tests/bench (bench_daemon.py)."""
from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import List, Optional

import msgpack
import pytest
import zmq

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def bin_dir() -> Path:
    """The build's bin directory, from $IMGSINK_BIN_DIR."""
    d = os.environ.get("IMGSINK_BIN_DIR")
    if not d:
        raise RuntimeError("IMGSINK_BIN_DIR is not set (ctest sets it; or export it to <build>/bin)")
    return Path(d)


_bin_dir_from_env = bin_dir  # DaemonProcess's parameter `bin_dir` hides the function


_running: "set[DaemonProcess]" = set()


def kill_leftovers() -> None:
    """Kills every daemon a test started and did not stop (e.g. after a failed assertion)."""
    for d in list(_running):
        if d.proc is not None and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
        _running.discard(d)


atexit.register(kill_leftovers)


@pytest.fixture
def tiny_fs(tmp_path):
    """A 96 KiB tmpfs (a disk that fills up) at tmp_path/small; grow it with
    `mount -o remount,size=16m`.  Skips the test where this process may not mount (not root).
    Unmounted afterwards."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the unit tests inject ENOSPC instead")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def free_port() -> int:
    """A tcp port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaemonProcess:
    """An imgsinkd child process in `workdir`.  As a context manager it starts the daemon and,
    leaving without an exception, stops it and asserts a clean exit (status 0).

    `bin_dir`: where imgsinkd is (default: $IMGSINK_BIN_DIR).  `workers` None passes no
    --workers.  `stop_timeout`: how long a SIGTERM drain may take before SIGKILL."""

    def __init__(self, workdir: Path, extra_args: Optional[List[str]] = None,
                 workers: Optional[int] = 2,
                 output_root: Optional[Path] = None, env: Optional[dict] = None,
                 bin_dir: Optional[Path] = None, stop_timeout: float = 30.0):
        self.env = env
        self.stop_timeout = stop_timeout
        self.workdir = Path(workdir)
        self.socket_path = self.workdir / "imgsinkd.sock"
        self.endpoint = f"ipc://{self.socket_path}"
        self.output_root = Path(output_root) if output_root else self.workdir / "out"
        self.log_path = self.workdir / "imgsinkd.log"
        self.journal_dir = self.workdir / "journal"
        exe = Path(bin_dir or _bin_dir_from_env()) / "imgsinkd"
        self.args = [str(exe), "--listen", self.endpoint, "--output-root", str(self.output_root),
                     "--journal-dir", str(self.journal_dir)]
        if workers is not None:
            self.args += ["--workers", str(workers)]
        self.args += extra_args or []
        self.proc: Optional[subprocess.Popen] = None
        self._client = None

    @property
    def out(self) -> Path:
        """The output root (the Python client tests' name for it)."""
        return self.output_root

    @property
    def client(self):
        """An imgsink.Client of this daemon, opened on first use; stop() closes it."""
        if self._client is None:
            import imgsink  # the Python client: on PYTHONPATH for the tests that use this
            self._client = imgsink.Client(self.endpoint, timeout=30.0)
        return self._client

    def start(self, timeout: float = 30.0) -> "DaemonProcess":
        """Starts the daemon and returns once it answers a status request.  Raises
        RuntimeError, with the log, if it exits or does not answer within `timeout` (then it is
        killed)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=self.workdir, env=self.env)
        _running.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self._forget()
                raise RuntimeError(f"imgsinkd exited with {rc}: {self.log()}")
            if self.socket_path.exists() and self.status(timeout=1.0) is not None:
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"imgsinkd did not come up in {timeout} s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def status(self, timeout: float = 5.0) -> Optional[dict]:
        """The daemon's counters, or None if it does not answer in time."""
        ctx = zmq.Context.instance()
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        try:
            s.connect(self.endpoint)
            s.send(msgpack.packb({"v": 1, "kind": "status", "id": 1}))
            if not s.poll(int(timeout * 1000)):
                return None
            reply = msgpack.unpackb(s.recv(), raw=False)
            return reply.get("counters")
        finally:
            s.close()

    def wait_idle(self, timeout: float = 30.0) -> dict:
        """Waits until no job is queued or running; returns the counters."""
        deadline = time.monotonic() + timeout
        while True:
            c = self.status()
            if c is not None and c["in_flight"] == 0:
                return c
            if time.monotonic() > deadline:
                raise TimeoutError(f"daemon still busy: {c}")
            time.sleep(0.02)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the whole daemon so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def thread_cpu_seconds(self) -> List[float]:
        """CPU seconds of each daemon thread, largest first."""
        out = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out.append(round((int(fields[11]) + int(fields[12])) / CLOCK_TICKS, 2))
        return sorted(out, reverse=True)

    def peak_rss_bytes(self) -> int:
        """The daemon's peak resident set size so far (VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM")

    def kill(self) -> None:
        """SIGKILL: the crash the journal exists for."""
        self.proc.kill()
        self.proc.wait()
        self._forget()

    def _forget(self) -> None:
        """After the process is gone: closes the log and the client."""
        self._close_client()
        self._log.close()
        _running.discard(self)
        self.proc = None

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close(timeout=10)
            self._client = None

    def stop(self, timeout: Optional[float] = None) -> int:
        """SIGTERM (the daemon drains), then waits up to `timeout` (default stop_timeout);
        SIGKILL and TimeoutExpired after that.  Returns the exit status."""
        if self.proc is None:
            return 0
        self._close_client()
        if timeout is None:
            timeout = self.stop_timeout
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self._forget()
        return rc

    def __enter__(self) -> "DaemonProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        rc = self.stop()
        if exc[0] is None:
            assert rc == 0, f"imgsinkd exited with {rc}: {self.log()}"
