"""Shared fixtures: import path, short ipc endpoints, a fake daemon, the real imgsinkd."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
_SOURCE = os.environ.get("IMGSINK_SOURCE_DIR", os.path.dirname(os.path.dirname(_HERE)))
sys.path.insert(0, _HERE)
if os.path.join(_SOURCE, "client", "python") not in sys.path:
    sys.path.insert(0, os.path.join(_SOURCE, "client", "python"))

# The real daemon: started by tests/integration/daemon_process.py, the tests' one launcher.
# Appended, so this directory's conftest stays the `conftest` its tests import.
sys.path.append(os.path.join(_SOURCE, "tests", "integration"))

import imgsink  # noqa: E402
from daemon_process import DaemonProcess  # noqa: E402
from fake_daemon import FakeDaemon  # noqa: E402

SOURCE_DIR = _SOURCE
# The default client would start a daemon in the user's own runtime directory when a test
# leaves the endpoint at the default: only test_autostart.py (with temp XDG dirs) turns it on.
os.environ.setdefault("IMGSINK_AUTOSTART", "0")


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


def real_daemon(root, extra_args=(), workers: int = 2) -> DaemonProcess:
    """A started imgsinkd working in `root` (output root ``out``); ``client`` talks to it."""
    return DaemonProcess(root, list(extra_args), workers=workers).start()


@pytest.fixture(scope="module")
def daemon():
    if imgsinkd_path() is None:
        pytest.skip("imgsinkd is not built (set IMGSINK_BIN_DIR to the build's bin dir)")
    root = tempfile.mkdtemp(prefix="imgsink-d-", dir="/tmp")
    try:
        d = real_daemon(root)
        yield d
        d.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
