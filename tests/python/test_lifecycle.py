"""Nothing is lost however a program ends or is structured (scenarios.py): every file the
program saved through imgsink's module-level save_image is on disk, pixel-identical to
torchvision's, once the program has ended.  Before the fix, pyzmq's atexit hook and os._exit in
multiprocessing children lost up to all of them, with exit code 0."""
from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import imgsinkd_path
from dropin_helpers import HERE, child_env, file_pixels, run_python, torchvision_pixels
import scenarios

pytestmark = pytest.mark.skipif(imgsinkd_path() is None,
                                reason="imgsinkd is not built (set IMGSINK_BIN_DIR)")
_reference_cache: dict = {}


def _reference(seed: int) -> np.ndarray:
    if seed not in _reference_cache:
        _reference_cache[seed] = torchvision_pixels(scenarios.tensor_for(seed, numpy=True))
    return _reference_cache[seed]


def _run(daemon, scenario: str, prefix: str, want_rc: int = 0) -> None:
    out = run_python([os.path.join(HERE, "scenarios.py"), scenario, prefix], cwd=daemon.out,
                     env=child_env(daemon.endpoint))
    assert out.returncode == want_rc, out.stderr
    assert "requested during shutdown" not in out.stderr, out.stderr
    missing = []
    for path, seed in scenarios.expected(scenario, prefix).items():
        full = os.path.join(daemon.out, path)
        if not os.path.exists(full):
            missing.append(path)
            continue
        np.testing.assert_array_equal(file_pixels(full), _reference(seed), err_msg=path)
    assert not missing, f"{scenario}: {len(missing)} files missing: {missing}\n{out.stderr}"


def test_normal_exit_right_after_the_last_save_20_runs(daemon):
    for run in range(20):
        _run(daemon, "numpy_exit", f"exit{run}")


def test_normal_exit_torch(daemon):
    _run(daemon, "exit", "exit_torch")


def test_sys_exit(daemon):
    _run(daemon, "sys_exit", "sys_exit")


def test_uncaught_exception(daemon):
    _run(daemon, "exception", "exception", want_rc=1)


@pytest.mark.parametrize("scenario", ["fork", "spawn", "pool", "dataloader", "torch_spawn",
                                      "threads"])
def test_children_and_threads(daemon, scenario):
    _run(daemon, scenario, scenario)
