"""Where imgsink.SummaryWriter's runs land, as a user finds them: images (written by the daemon)
and scalars (forwarded to torch's writer) in one run directory, resolved as torch resolves
``log_dir`` -- against each script's working directory at construction -- with one auto-started
``--paths caller`` daemon serving scripts in different directories (PROTOCOL.md "TensorBoard").

Torch's own writer takes the scalars where the tensorboard package is installed; elsewhere
torch_tb_stub stands in for it (loaded by a sitecustomize in the children), resolving log_dir
the way torch's does.  Every event file is read back with tb_events (framing, CRCs, pixels).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

import imgsink
import tb_events
import torch_tb_stub
from conftest import imgsinkd_path, real_daemon
from dropin_helpers import HERE, SOURCE
from imgsink._summary_writer import _run_dir

needs_daemon = pytest.mark.skipif(imgsinkd_path() is None, reason="imgsinkd is not built")

# A training script's TensorBoard lines, the import swapped; argv: seed, then the log_dir ("-":
# torch's default) and a directory to chdir to right after the writer is made ("-": none).
_SCRIPT = r"""
import os, sys, torch
from imgsink import SummaryWriter
seed, log_dir, move_to = int(sys.argv[1]), sys.argv[2], sys.argv[3]
w = SummaryWriter() if log_dir == "-" else SummaryWriter(log_dir)
if move_to != "-":
    os.chdir(move_to)  # torch's writer resolved log_dir already: so must both halves here
g = torch.Generator().manual_seed(seed)
for step in range(3):
    w.add_images("samples", torch.rand(5, 3, 8, 8, generator=g), step)
    w.add_scalar("loss", seed + step / 4, step)
w.close()
"""

_SITECUSTOMIZE = "import torch_tb_stub\ntorch_tb_stub.install()\n"


def _expected_images(seed: int):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(5, 3, 8, 8, generator=g) for _ in range(3)]


class _UserSandbox:
    """Temp XDG dirs (so the auto-started daemon's socket, journal and log are the test's),
    two work directories, and the environment a user's shell would give the scripts."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.runtime = os.path.join(root, "run")
        self.state = os.path.join(root, "state")
        self.a = os.path.join(root, "a")
        self.b = os.path.join(root, "b", "deeper")
        self.elsewhere = os.path.join(root, "elsewhere")
        os.mkdir(self.runtime, 0o700)
        for d in (self.a, self.b, self.elsewhere):
            os.makedirs(d)
        path = [os.path.join(SOURCE, "client", "python"), HERE]
        if torch_tb_stub.needed():
            stub = os.path.join(root, "stub")
            os.mkdir(stub)
            with open(os.path.join(stub, "sitecustomize.py"), "w") as f:
                f.write(_SITECUSTOMIZE)
            path.insert(0, stub)
        self.env = {k: v for k, v in os.environ.items() if k != "IMGSINK_ENDPOINT"}
        self.env.update(XDG_RUNTIME_DIR=self.runtime, XDG_STATE_HOME=self.state,
                        IMGSINK_DAEMON=imgsinkd_path() or "", IMGSINK_AUTOSTART="1",
                        IMGSINK_IDLE_EXIT="60", PYTHONDONTWRITEBYTECODE="1",
                        PYTHONPATH=os.pathsep.join(path))

    def run(self, cwd: str, seed: int, log_dir: str = "-", move_to: str = "-") -> None:
        p = subprocess.run([sys.executable, "-c", _SCRIPT, str(seed), log_dir, move_to],
                           cwd=cwd, env=self.env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert "in-process" not in p.stderr and "no imgsinkd" not in p.stderr, p.stderr

    def log(self) -> str:
        try:
            with open(os.path.join(self.state, "imgsink", "imgsinkd.log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def kill_daemon(self) -> None:
        try:
            with open(os.path.join(self.runtime, "imgsink", "imgsinkd.pid")) as f:
                os.kill(int(f.read()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


@pytest.fixture
def user(short_tmp):
    box = _UserSandbox(short_tmp)
    yield box
    box.kill_daemon()


def _check_run(run_dir: str, seed: int) -> None:
    """The script with ``seed`` wrote exactly its 3 grids and 3 losses into ``run_dir``."""
    images = tb_events.image_events(run_dir)
    assert [(tag, step) for tag, step, _, _, _ in images] == [("samples", s) for s in range(3)]
    for (_, _, _, pixels, _), t in zip(images, _expected_images(seed)):
        np.testing.assert_array_equal(pixels, tb_events.torch_image(t, "NCHW"))
    scalars = tb_events.scalar_events(run_dir)
    assert [(tag, step) for tag, step, _ in scalars] == [("loss", s) for s in range(3)]
    np.testing.assert_allclose([v for _, _, v in scalars], [seed + s / 4 for s in range(3)])


def _only_run(parent: str) -> str:
    (name,) = os.listdir(parent)
    return os.path.join(parent, name)


@needs_daemon
def test_scripts_in_two_directories_each_get_their_own_runs(user):
    # The first script starts the per-user daemon (its working directory: a); the others use
    # that daemon from elsewhere and must not find their runs beneath a.
    user.run(user.a, seed=1)
    user.run(user.b, seed=2)
    user.run(user.b, seed=3, log_dir="logs/exp")
    user.run(user.b, seed=4, log_dir="moved/exp", move_to=user.elsewhere)
    assert user.log().count(" listening on ") == 1, user.log()

    assert sorted(os.listdir(user.a)) == ["runs"]
    _check_run(_only_run(os.path.join(user.a, "runs")), 1)
    assert sorted(os.listdir(user.b)) == ["logs", "moved", "runs"]
    _check_run(_only_run(os.path.join(user.b, "runs")), 2)
    _check_run(os.path.join(user.b, "logs", "exp"), 3)
    _check_run(os.path.join(user.b, "moved", "exp"), 4)
    assert os.listdir(user.elsewhere) == []
    # Nothing went to the daemon's own directories either.
    out = os.path.join(user.state, "imgsink", "out")
    assert not os.path.exists(out) or os.listdir(out) == []


@needs_daemon
def test_absolute_log_dir_and_trailing_slash(user):
    target = os.path.join(user.root, "abs", "run1")
    user.run(user.b, seed=5, log_dir=target)
    _check_run(target, 5)
    user.run(user.b, seed=6, log_dir="logs/slash/")
    _check_run(os.path.join(user.b, "logs", "slash"), 6)


@needs_daemon
def test_confined_service_shares_a_run_beneath_its_logdir(tbd_roots):
    # --paths roots: an absolute log_dir beneath --tensorboard-logdir is where both the daemon
    # (images) and torch's writer (scalars) write.  In this process the stand-in always takes
    # the scalars (tb_events may have stubbed tensorboard modules here already).
    run = os.path.join(tbd_roots.tb, "shared")
    torch_tb_stub.install()
    try:
        w = imgsink.SummaryWriter(run, client=tbd_roots.client)
        for step, t in enumerate(_expected_images(7)):
            w.add_images("samples", t, step)
            w.add_scalar("loss", 7 + step / 4, step)
        w.close()
    finally:
        torch_tb_stub.uninstall()
    _check_run(run, 7)


@pytest.fixture
def tbd_roots(short_tmp):
    logdir = os.path.join(short_tmp, "tb")
    d = real_daemon(short_tmp, ["--tensorboard-logdir", logdir])
    d.tb = logdir
    yield d
    d.stop()


def test_run_dir_drops_what_only_names_a_directory():
    assert _run_dir("logs/", "/w") == "logs"
    assert _run_dir("logs/exp/./", "/w") == "logs/exp"
    assert _run_dir("/abs/run/", None) == "/abs/run"
    assert _run_dir(".", "/w") == "/w"
    assert _run_dir("./", "/w") == "/w"
    assert _run_dir("a/../b", "/w") == "a/../b"  # '..' is the kernel's (and the daemon's)
    with pytest.raises(ValueError, match="working directory"):
        _run_dir(".", None)
    assert imgsink.SummaryWriter("", client=object()).get_logdir().startswith("runs/")
    w = imgsink.SummaryWriter("logs/", client=object())
    assert w.get_logdir() == "logs/"  # as given, like torch's
    assert w._run == "logs"
