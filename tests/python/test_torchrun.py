"""torchrun-style ranks: ``python3 -m torch.distributed.run --nproc_per_node 4`` starting a
script whose 4 ranks (RANK/LOCAL_RANK/WORLD_SIZE from the launcher, a gloo process group) each
save a few grids with only the import swapped, the last save being the script's last
statement.  No daemon is set up: the ranks find none at once and auto-start exactly one
(XDG dirs in a temp dir, as in test_autostart.py).  Every file must be present and
pixel-identical to torchvision's.

Debian 12's torch 1.13 launcher cannot parse its own default ``--redirects 0 --tee 0`` under
Python 3.11 (enum.IntFlag no longer iterates over the zero member: ``'NoneType' object has no
attribute 'get'``), so the launcher gets ``--redirects 2 --tee 1`` (stderr to its log dir,
stdout teed), which changes nothing the ranks do."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import imgsinkd_path
from dropin_helpers import file_pixels, torchvision_pixels
from test_autostart import Sandbox

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

RANKS = 4
STEPS = 5

_SCRIPT = """\
import os
import torch
import torch.distributed as dist
import imgsink as vutils  # was: import torchvision.utils as vutils

rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
assert int(os.environ["LOCAL_RANK"]) == rank
dist.init_process_group("gloo")
ones = torch.ones(1)
dist.all_reduce(ones)
assert ones.item() == world
g = torch.Generator().manual_seed(rank)
for step in range({steps}):
    fake = torch.rand(4, 3, 16, 16, generator=g) * 2 - 1
    vutils.save_image(fake, f"samples/rank{{rank}}_step{{step}}.png", nrow=2, normalize=True)
"""


def _expected(rank: int) -> list:
    g = torch.Generator().manual_seed(rank)
    return [torchvision_pixels(torch.rand(4, 3, 16, 16, generator=g) * 2 - 1, nrow=2,
                               normalize=True) for _ in range(STEPS)]


@pytest.fixture
def sandbox(short_tmp):
    box = Sandbox(short_tmp)
    yield box
    box.kill_daemons()


@pytest.mark.skipif(imgsinkd_path() is None, reason="imgsinkd is not built")
@pytest.mark.skipif(not dist.is_available(), reason="this torch has no torch.distributed")
@pytest.mark.parametrize("run", range(2))
def test_torchrun_ranks_each_save_and_every_file_is_torchvisions(sandbox, run):
    script = os.path.join(sandbox.work, "train.py")
    with open(script, "w") as f:
        f.write(_SCRIPT.format(steps=STEPS))
    out = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(RANKS),
         "--master_port", str(29500 + os.getpid() % 1000 + run), "--redirects", "2", "--tee", "1",
         "--log_dir", os.path.join(sandbox.root, "logs"), script],
        cwd=sandbox.work, env=sandbox.env, capture_output=True, text=True, timeout=300)
    logs = out.stdout + out.stderr + sandbox.log()
    for dirpath, _, names in os.walk(os.path.join(sandbox.root, "logs")):
        for name in names:
            with open(os.path.join(dirpath, name), errors="replace") as f:
                logs += f"\n--- {name}\n" + f.read()
    assert out.returncode == 0, logs
    assert "no imgsinkd listens" not in logs, logs  # through the daemon, not in-process
    assert len(sandbox.daemons()) == 1, logs
    written = sorted(os.listdir(os.path.join(sandbox.work, "samples")))
    assert len(written) == RANKS * STEPS, written
    for rank in range(RANKS):
        for step, pixels in enumerate(_expected(rank)):
            path = os.path.join(sandbox.work, "samples", f"rank{rank}_step{step}.png")
            np.testing.assert_array_equal(file_pixels(path), pixels, err_msg=path)
