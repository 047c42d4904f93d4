"""Runs an installed Python client the way a new user would, from a clean state: a script in a
fresh working directory, with no daemon set up and no PYTHONPATH into the source tree, swaps
``torchvision.utils`` for ``imgsink`` and saves; the client auto-starts the imgsinkd named by
IMGSINK_DAEMON (temp XDG dirs, so nothing touches the user's own), which writes the file where
torchvision would.  Used by test_python_install.py (pip into a venv) and test_deb_package.py
(the .deb's tree)."""
import os
import pathlib
import signal
import subprocess

import numpy as np

# Saves a normalized grid with imgsink and with torchvision, then ends at once.
_SCRIPT = """\
import sys
import torch
import torchvision.utils
import imgsink
assert imgsink.__file__.startswith(sys.argv[1]), imgsink.__file__
g = torch.Generator().manual_seed(7)
grid = torch.rand(6, 3, 20, 20, generator=g) * 2 - 1
torchvision.utils.save_image(grid, "ref/grid.png", nrow=3, normalize=True)
imgsink.save_image(grid, "samples/grid.png", nrow=3, normalize=True)
"""


def run_smoke(python, package_prefix, daemon, tmp, extra_env=None):
    """Runs the script with `python` in tmp/work; asserts imgsink was imported from beneath
    `package_prefix`, the save went through an auto-started `daemon` (not in-process) and the
    file equals torchvision's.  Kills the daemon afterwards."""
    from PIL import Image

    tmp = pathlib.Path(tmp)
    work, runtime, state = tmp / "work", tmp / "run", tmp / "state"
    (work / "ref").mkdir(parents=True)
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "IMGSINK_ENDPOINT", "VIRTUAL_ENV")}
    env.update(XDG_RUNTIME_DIR=str(runtime), XDG_STATE_HOME=str(state),
               IMGSINK_DAEMON=str(daemon), IMGSINK_AUTOSTART="1", IMGSINK_IDLE_EXIT="30",
               PYTHONDONTWRITEBYTECODE="1")
    env.update(extra_env or {})
    sock_dir = runtime / "imgsink"
    try:
        p = subprocess.run([str(python), "-c", _SCRIPT, str(package_prefix)], cwd=work, env=env,
                           capture_output=True, text=True, timeout=180)
        log = state / "imgsink" / "imgsinkd.log"
        details = p.stdout + p.stderr + (log.read_text() if log.exists() else "")
        assert p.returncode == 0, details
        assert "no imgsinkd listens" not in p.stderr, details  # through the daemon
        assert (sock_dir / "imgsinkd.pid").exists(), details
        with Image.open(work / "samples" / "grid.png") as got, \
                Image.open(work / "ref" / "grid.png") as want:
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    finally:
        try:
            os.kill(int((sock_dir / "imgsinkd.pid").read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
