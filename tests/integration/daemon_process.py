"""Starts a real imgsinkd for tests: temp ipc socket, temp output root, clean shutdown."""
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


def bin_dir() -> Path:
    d = os.environ.get("IMGSINK_BIN_DIR")
    if not d:
        raise RuntimeError("IMGSINK_BIN_DIR is not set (ctest sets it; or export it to <build>/bin)")
    return Path(d)


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
    """An imgsinkd child process.  Use as a context manager; stop() asserts a clean exit."""

    def __init__(self, workdir: Path, extra_args: Optional[List[str]] = None,
                 workers: Optional[int] = 2,
                 output_root: Optional[Path] = None, env: Optional[dict] = None):
        self.env = env
        self.workdir = Path(workdir)
        self.socket_path = self.workdir / "imgsinkd.sock"
        self.endpoint = f"ipc://{self.socket_path}"
        self.output_root = Path(output_root) if output_root else self.workdir / "out"
        self.log_path = self.workdir / "imgsinkd.log"
        self.journal_dir = self.workdir / "journal"
        self.args = [str(bin_dir() / "imgsinkd"), "--listen", self.endpoint,
                     "--output-root", str(self.output_root), "--journal-dir",
                     str(self.journal_dir)]
        if workers is not None:
            self.args += ["--workers", str(workers)]
        self.args += extra_args or []
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 10.0) -> "DaemonProcess":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=self.workdir, env=self.env)
        _running.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"imgsinkd exited with {self.proc.returncode}: {self.log()}")
            if self.socket_path.exists() and self.status(timeout=1.0) is not None:
                return self
            time.sleep(0.02)
        raise RuntimeError(f"imgsinkd did not come up: {self.log()}")

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
        self._log.close()
        self.proc = None

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self._log.close()
        self.proc = None
        return rc

    def __enter__(self) -> "DaemonProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        rc = self.stop()
        if exc[0] is None:
            assert rc == 0, f"imgsinkd exited with {rc}: {self.log()}"
