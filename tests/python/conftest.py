"""Shared fixtures: import path, short ipc endpoints, a fake daemon, the real imgsinkd."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_SOURCE = os.environ.get("IMGSINK_SOURCE_DIR", os.path.dirname(os.path.dirname(_HERE)))
sys.path.insert(0, _HERE)
if os.path.join(_SOURCE, "client", "python") not in sys.path:
    sys.path.insert(0, os.path.join(_SOURCE, "client", "python"))

import imgsink  # noqa: E402
from fake_daemon import FakeDaemon  # noqa: E402

SOURCE_DIR = _SOURCE


@pytest.fixture
def short_tmp():
    """A temp dir with a short path (ipc socket paths are limited to ~100 bytes)."""
    d = tempfile.mkdtemp(prefix="imgsink-py-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def endpoint(short_tmp):
    return f"ipc://{short_tmp}/fake.sock"


@pytest.fixture
def fake(endpoint):
    daemon = FakeDaemon(endpoint)
    yield daemon
    daemon.stop()


def imgsinkd_path():
    bin_dir = os.environ.get("IMGSINK_BIN_DIR")
    if not bin_dir:
        return None
    path = os.path.join(bin_dir, "imgsinkd")
    return path if os.access(path, os.X_OK) else None


_help_cache: dict = {}


def imgsinkd_help() -> str:
    path = imgsinkd_path()
    if path is None:
        return ""
    if path not in _help_cache:
        out = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=30)
        _help_cache[path] = out.stdout + out.stderr
    return _help_cache[path]


class RealDaemon:
    """A running imgsinkd with its output root; ``client`` talks to it."""

    def __init__(self, root: str, extra_args=(), workers: int = 2):
        self.root = root
        self.out = os.path.join(root, "out")
        os.makedirs(self.out)
        self.endpoint = f"ipc://{root}/d.sock"
        self.log_path = os.path.join(root, "imgsinkd.log")
        args = [imgsinkd_path(), "--listen", self.endpoint, "--output-root", self.out,
                "--workers", str(workers), *extra_args]
        if "--journal-dir" in imgsinkd_help():
            args += ["--journal-dir", os.path.join(root, "journal")]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        self.client = imgsink.Client(self.endpoint, timeout=30.0)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"imgsinkd exited with {self.proc.returncode}:\n"
                                   + self.log())
            try:
                self.client.stats(timeout=1.0)
                return
            except imgsink.ImgsinkError:
                time.sleep(0.1)
        raise RuntimeError("imgsinkd did not answer a status request in 30 s:\n" + self.log())

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        self.client.close(timeout=10)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def daemon():
    if imgsinkd_path() is None:
        pytest.skip("imgsinkd is not built (set IMGSINK_BIN_DIR to the build's bin dir)")
    root = tempfile.mkdtemp(prefix="imgsink-d-", dir="/tmp")
    try:
        d = RealDaemon(root)
        yield d
        d.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
