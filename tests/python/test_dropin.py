"""The drop-in rules of save_image: same-path order, in-place safety by default, no daemon ->
written in this process like torchvision with one warning, unchecked failures logged, and
torchvision's signature (format by position, pathlib.Path, file objects)."""
from __future__ import annotations

import io
import os
import pathlib
import time

import numpy as np
import pytest
import torch

import imgsink
from conftest import imgsinkd_path
from dropin_helpers import child_env, file_pixels, run_python, torchvision_pixels

needs_daemon = pytest.mark.skipif(imgsinkd_path() is None,
                                  reason="imgsinkd is not built (set IMGSINK_BIN_DIR)")


def _batch(seed: int, n: int = 4, size: int = 64) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((n, 3, size, size),
                                                               dtype=np.float32))


@needs_daemon
def test_same_path_twice_keeps_the_last_call(daemon):
    c = daemon.client
    big, small = _batch(1, n=16, size=128), _batch(2, n=1, size=16)
    want = torchvision_pixels(small)
    for i in range(20):
        path = f"order/p{i}.png"
        first = c.save_image(big, path)
        last = c.save_image(small, path)
        last.result(30)
        assert first.done() and first.exception() is None
        np.testing.assert_array_equal(file_pixels(os.path.join(daemon.out, path)), want)


@needs_daemon
def test_changing_the_tensor_in_place_after_the_call_does_not_change_the_file(daemon):
    c = daemon.client
    jobs = []
    for i in range(5):
        t = _batch(10 + i, n=16, size=64)
        want = torchvision_pixels(t)
        jobs.append((c.save_image(t, f"inplace/{i}.png"), want))
        t.fill_(0.5)  # the training loop reuses its buffer at once
    for i, (job, want) in enumerate(jobs):
        job.result(30)
        np.testing.assert_array_equal(
            file_pixels(os.path.join(daemon.out, f"inplace/{i}.png")), want)


@needs_daemon
def test_zero_copy_stays_available(daemon):
    with imgsink.Client(daemon.endpoint, copy=False) as c:
        t = _batch(3)
        job = c.save_image(t, "zerocopy/a.png")
        job.result(30)
    np.testing.assert_array_equal(file_pixels(os.path.join(daemon.out, "zerocopy/a.png")),
                                  torchvision_pixels(t))


def test_no_daemon_writes_like_torchvision_with_one_warning(tmp_path):
    script = (
        "import numpy as np, torch, imgsink\n"
        "for i in range(3):\n"
        "    t = torch.from_numpy(np.random.default_rng(i).random((4, 3, 32, 32), "
        "dtype=np.float32))\n"
        "    imgsink.save_image(t, f'fb/{i}.png', nrow=2, normalize=True)\n")
    start = time.monotonic()
    out = run_python(["-c", script], cwd=tmp_path,
                     env=child_env(f"ipc://{tmp_path}/nobody.sock"), timeout=60)
    took = time.monotonic() - start
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("no imgsinkd listens") == 1, out.stderr
    assert took < 15, f"took {took:.1f} s: no daemon must be detected at once"
    import torchvision.utils
    for i in range(3):
        t = torch.from_numpy(np.random.default_rng(i).random((4, 3, 32, 32), dtype=np.float32))
        buf = io.BytesIO()
        torchvision.utils.save_image(t, buf, format="png", nrow=2, normalize=True)
        assert (tmp_path / "fb" / f"{i}.png").read_bytes() == buf.getvalue()


@needs_daemon
def test_unchecked_failures_are_logged_once_per_kind_and_summarized(daemon):
    link = os.path.join(daemon.out, "escape")
    if not os.path.islink(link):
        os.symlink("/tmp", link)  # the daemon refuses a path through it (bad_path)
    script = (
        "import numpy as np, imgsink\n"
        "a = np.random.default_rng(0).random((3, 8, 8), dtype=np.float32)\n"
        "for i in range(3):\n"
        "    imgsink.save_image(a, 'escape/x.png')\n"
        "imgsink.save_image(a, 'fine.png')\n")
    out = run_python(["-c", script], cwd=daemon.out, env=child_env(daemon.endpoint), timeout=60)
    assert out.returncode == 0, out.stderr
    warned = [line for line in out.stderr.splitlines() if "was not written" in line]
    assert len(warned) == 1 and "escape/x.png" in warned[0], out.stderr
    assert "bad_path" in warned[0], out.stderr
    summary = [line for line in out.stderr.splitlines() if "image file(s) written" in line]
    assert len(summary) == 1 and "1 image file(s) written, 3 failed" in summary[0], out.stderr


@needs_daemon
def test_format_by_position_and_pathlib(daemon):
    t = _batch(5)
    job = daemon.client.save_image(t, pathlib.Path("sig") / "a.out", "JPEG")
    job.result(30)
    with open(os.path.join(daemon.out, "sig", "a.out"), "rb") as f:
        assert f.read(2) == b"\xff\xd8"  # JPEG, as the positional format says
    job = imgsink.Client(daemon.endpoint).save_image(t, pathlib.Path("sig/b.png"))
    job.result(30)
    np.testing.assert_array_equal(file_pixels(os.path.join(daemon.out, "sig/b.png")),
                                  torchvision_pixels(t))


def test_file_object_is_written_in_process_with_torchvisions_bytes(tmp_path):
    t = _batch(6)
    import torchvision.utils
    want = io.BytesIO()
    torchvision.utils.save_image(t, want, "png", nrow=2)
    got = io.BytesIO()
    with imgsink.Client(f"ipc://{tmp_path}/none.sock") as c:
        job = c.save_image(t, got, "png", nrow=2)
    assert job.done() and job.exception() is None
    assert got.getvalue() == want.getvalue()
