import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from daemon_process import DaemonProcess  # noqa: E402


@pytest.fixture
def daemon(tmp_path):
    with DaemonProcess(tmp_path) as d:
        yield d
