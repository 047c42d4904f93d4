import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from daemon_process import DaemonProcess, kill_leftovers  # noqa: E402


@pytest.fixture(autouse=True)
def no_leftover_daemons():
    """A test that fails before stopping its daemon must not leave it running."""
    yield
    kill_leftovers()


@pytest.fixture
def daemon(tmp_path):
    with DaemonProcess(tmp_path) as d:
        yield d
