"""Fixtures of the S3 sink's tests: s3rver (npm, tests/s3/node_modules) on a free loopback
port, a botocore client to read the bucket back, and imgsinkd with an s3:// output."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
_SOURCE = Path(os.environ.get("IMGSINK_SOURCE_DIR", _HERE.parent.parent))
sys.path.insert(0, str(_HERE))
sys.path.insert(0, str(_SOURCE / "client" / "python"))
sys.path.append(str(_SOURCE / "tests" / "integration"))
os.environ.setdefault("IMGSINK_AUTOSTART", "0")

from s3_helpers import S3Server, s3rver_installed  # noqa: E402


def bin_path(name: str) -> Path:
    d = os.environ.get("IMGSINK_BIN_DIR")
    if not d or not os.access(os.path.join(d, name), os.X_OK):
        pytest.skip(f"{name} is not built (set IMGSINK_BIN_DIR to the build's bin dir)")
    return Path(d) / name


@pytest.fixture
def short_tmp():
    d = tempfile.mkdtemp(prefix="imgsink-s3-", dir="/tmp")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def s3(short_tmp):
    if shutil.which("node") is None or not s3rver_installed():
        pytest.skip("s3rver is not installed: run tests/s3/setup-s3rver.sh (deploy/install-deps.sh does)")
    server = S3Server(short_tmp / "s3rver", buckets=["imgs"])
    server.start()
    yield server
    server.stop()
