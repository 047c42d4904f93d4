"""imgsink.SummaryWriter and the daemon's TensorBoard event files (issue 14).

Every event file is decoded with tb_events (python3-protobuf, its own CRC-32C): records whole
and CRC-valid, the version record first, tags/steps/wall times as sent, and each image's pixels
exactly those torch.utils.tensorboard would have encoded (its conversion reproduced from its
source, and the installed torch's own summary.image() where it loads).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest
import torch

import imgsink
import tb_events
from conftest import SOURCE_DIR, imgsinkd_path, real_daemon

pytestmark = pytest.mark.skipif(imgsinkd_path() is None, reason="imgsinkd is not built")


@pytest.fixture
def tbd():
    root = tempfile.mkdtemp(prefix="imgsink-tb-", dir="/tmp")
    logdir = os.path.join(root, "tb")
    d = real_daemon(root, ["--tensorboard-logdir", logdir])
    d.tb = logdir
    yield d
    d.stop()
    shutil.rmtree(root, ignore_errors=True)


def _check(images, expected):
    """images: from tb_events.image_events; expected: [(tag, step, wall, tensor, fmt)]."""
    assert len(images) == len(expected)
    for (tag, step, wall, pixels, cs), (etag, estep, ewall, t, fmt) in zip(images, expected):
        assert (tag, step) == (etag, estep)
        if ewall is not None:
            assert wall == ewall
        ref = tb_events.torch_image(t, fmt)
        assert pixels.shape == ref.shape, (tag, pixels.shape, ref.shape)
        assert cs == ref.shape[2]
        np.testing.assert_array_equal(pixels, ref, err_msg=tag)


def test_images_are_torchs_pixels(tbd):
    g = torch.Generator().manual_seed(14)
    cases = [
        ("chw_f32", torch.rand(3, 20, 30, generator=g), "CHW"),
        ("hwc_f64", torch.rand(20, 30, 3, generator=g, dtype=torch.float64), "HWC"),
        ("chw_f16", torch.rand(3, 9, 11, generator=g).half(), "CHW"),
        ("chw_u8", torch.randint(0, 256, (3, 8, 8), generator=g, dtype=torch.uint8), "CHW"),
        ("hw_gray", torch.rand(13, 17, generator=g), "HW"),
        ("wh_gray", torch.rand(17, 13, generator=g), "WH"),
        ("chw_gray", torch.rand(1, 12, 12, generator=g), "CHW"),
        ("chw_rgba", torch.rand(4, 10, 10, generator=g), "CHW"),
        ("nchw_10", torch.rand(10, 3, 16, 16, generator=g), "NCHW"),
        ("nchw_gray", torch.rand(5, 1, 8, 8, generator=g), "NCHW"),
        ("nhwc_3", torch.rand(3, 8, 8, 3, generator=g), "NHWC"),
        ("np_chw", np.random.default_rng(1).random((3, 7, 9), dtype=np.float32), "CHW"),
        ("strided", torch.rand(3, 40, 40, generator=g)[:, ::2, 1::3], "CHW"),
    ]
    w = imgsink.SummaryWriter("runs/exact", client=tbd.client)
    expected = []
    for step, (tag, t, fmt) in enumerate(cases):
        if fmt.startswith("N"):
            w.add_images(tag, t, step, walltime=1000.0 + step, dataformats=fmt)
        else:
            w.add_image(tag, t, step, walltime=1000.0 + step, dataformats=fmt)
        expected.append((tag, step, 1000.0 + step, t, fmt))
    assert w.flush(60)
    images = tb_events.image_events(os.path.join(tbd.tb, "runs/exact"))
    _check(images, expected)
    # And the installed torch's own summary.image() agrees (values in [0, 1]: torch 1.13 does
    # not clip, so only in-range values are the same in every version).
    for (tag, _, _, pixels, cs), (_, _, _, t, fmt) in zip(images, expected):
        got = tb_events.installed_torch_image(t, fmt)
        if got is None:
            pytest.skip("torch's summary.py cannot be loaded here")
        np.testing.assert_array_equal(pixels, got[0], err_msg=tag)
        assert cs == got[1]
    w.close()


def test_out_of_range_and_non_finite_values_clip_and_truncate(tbd):
    x = torch.tensor([[-1.0, -0.001, 0.0, 0.5 / 255, 0.99999, 1.0, 1.5, 1e30],
                      [float("nan"), float("inf"), -float("inf"), 0.5, 254.5 / 255, 2.0 / 255,
                       1 / 3, 2 / 3]])
    t = torch.stack([x, x * 0.7, x * 1.3])  # 3 x 2 x 8
    with imgsink.SummaryWriter("runs/clip", client=tbd.client) as w:
        w.add_image("clip", t, 1, walltime=5.0)
        w.add_image("clip64", t.double(), 2, walltime=6.0)
    images = tb_events.image_events(os.path.join(tbd.tb, "runs/clip"))
    _check(images, [("clip", 1, 5.0, t, "CHW"), ("clip64", 2, 6.0, t.double(), "CHW")])
    assert images[0][3][0, 4, 0] == 254  # 0.99999 * 255 = 254.997: truncated, not rounded


def test_default_step_and_wall_time(tbd):
    before = time.time()
    w = imgsink.SummaryWriter("runs/defaults", client=tbd.client)
    w.add_image("img", torch.rand(3, 4, 4))
    w.close()
    ((tag, step, wall, _, _),) = tb_events.image_events(os.path.join(tbd.tb, "runs/defaults"))
    assert (tag, step) == ("img", 0)
    assert before <= wall <= time.time()


_RANK_SCRIPT = r"""
import sys, torch, imgsink
rank, endpoint, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = imgsink.Client(endpoint, timeout=60)
w = imgsink.SummaryWriter("runs/ddp", client=c)
for i in range(n):
    g = torch.Generator().manual_seed(rank * 1000 + i)
    w.add_image(f"rank{rank}", torch.rand(3, 24, 24, generator=g), i, walltime=rank * 1e4 + i)
w.close()
c.close()
"""


def test_eight_ranks_one_writer_nothing_lost_or_doubled(tbd):
    n = 15
    env = dict(os.environ, PYTHONPATH=os.path.join(SOURCE_DIR, "client", "python"))
    procs = [subprocess.Popen([sys.executable, "-c", _RANK_SCRIPT, str(r), tbd.endpoint, str(n)],
                              env=env) for r in range(8)]
    for p in procs:
        assert p.wait(240) == 0
    run = os.path.join(tbd.tb, "runs/ddp")
    files = tb_events.event_files(run)
    assert len(files) == 1, files  # one writer, one file
    images = tb_events.image_events(run)
    keys = [(tag, step) for tag, step, _, _, _ in images]
    assert sorted(keys) == sorted((f"rank{r}", i) for r in range(8) for i in range(n))
    for tag, step, wall, pixels, _ in images:
        r = int(tag[4:])
        assert wall == r * 1e4 + step
        g = torch.Generator().manual_seed(r * 1000 + step)
        np.testing.assert_array_equal(pixels, tb_events.torch_image(
            torch.rand(3, 24, 24, generator=g), "CHW"))
    # Each rank's images are in its call order.
    for r in range(8):
        assert [s for t, s in keys if t == f"rank{r}"] == list(range(n))


def test_rotation_at_the_size_limit():
    root = tempfile.mkdtemp(prefix="imgsink-tb-", dir="/tmp")
    logdir = os.path.join(root, "tb")
    d = real_daemon(root, ["--tensorboard-logdir", logdir,
                           "--tensorboard-max-file-bytes", "65536"])
    try:
        g = torch.Generator().manual_seed(3)
        tensors = [torch.rand(3, 96, 96, generator=g) for _ in range(12)]  # ~28 KB PNG each
        w = imgsink.SummaryWriter("rot", client=d.client)
        for i, t in enumerate(tensors):
            w.add_image("noise", t, i, walltime=float(i))
        w.close()
        files = tb_events.event_files(os.path.join(logdir, "rot"))
        # Two ~28 KB records fit in 64 KiB, three do not: a new file every two images.
        assert len(files) == 6, files
        for f in files:
            assert os.path.getsize(f) <= 65536
            tb_events.read_events(f)  # version first, whole records
        images = tb_events.image_events(os.path.join(logdir, "rot"))
        _check(images, [("noise", i, float(i), t, "CHW") for i, t in enumerate(tensors)])
    finally:
        d.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_kill9_keeps_every_acknowledged_image_once():
    root = tempfile.mkdtemp(prefix="imgsink-tb-", dir="/tmp")
    logdir = os.path.join(root, "tb")
    args = ["--tensorboard-logdir", logdir]
    d = real_daemon(root, args)
    tensors = [torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(i))
               for i in range(60)]
    acked = []
    try:
        c = imgsink.Client(d.endpoint, timeout=5)
        w = imgsink.SummaryWriter("crash", client=c)
        jobs = []
        for i, t in enumerate(tensors):
            jobs.append(w.add_image("img", t, i, walltime=float(i)))
            if i == 20:  # the daemon is taking images: kill it while more are in flight
                assert jobs[5].wait_accepted(30)
            if i == 45:
                break
        d.kill()  # SIGKILL mid-run
        time.sleep(0.5)  # replies that arrived before the kill are read
        acked = [i for i, job in enumerate(jobs) if job.accepted()]
        c.close(timeout=1)
    finally:
        if d.proc is not None:
            d.kill()
    d = real_daemon(root, args)  # replays the journal
    try:
        d.wait_idle(60)
    finally:
        d.stop()
    run = os.path.join(logdir, "crash")
    images = tb_events.image_events(run)  # asserts: no torn record anywhere
    steps = [s for _, s, _, _, _ in images]
    assert len(steps) == len(set(steps)), "an image was written twice"
    assert set(acked) <= set(steps), sorted(set(acked) - set(steps))
    assert acked, "nothing was acknowledged before the kill"
    for _, s, _, pixels, _ in images:
        np.testing.assert_array_equal(pixels, tb_events.torch_image(tensors[s], "CHW"))
    shutil.rmtree(root, ignore_errors=True)


def test_refusals(tbd, daemon):
    # A daemon without --tensorboard-logdir refuses tb saves with a clear error.
    w = imgsink.SummaryWriter("runs/x", client=daemon.client)
    job = w.add_image("t", torch.rand(3, 4, 4))
    with pytest.raises(imgsink.ImgsinkError, match="tensorboard-logdir"):
        job.result(30)
    # A confined daemon (--paths roots) takes an absolute log_dir only beneath its
    # --tensorboard-logdir, and names that root when it refuses one.
    outside = imgsink.SummaryWriter("/abs/run", client=tbd.client)
    with pytest.raises(imgsink.ImgsinkError, match="bad_path.*" + re.escape(tbd.tb)):
        outside.add_image("t", torch.rand(3, 4, 4)).result(30)
    inside = imgsink.SummaryWriter(os.path.join(tbd.tb, "abs"), client=tbd.client)
    inside.add_image("t", torch.rand(3, 4, 4), 5).result(30)
    assert [s for _, s, _, _, _ in tb_events.image_events(os.path.join(tbd.tb, "abs"))] == [5]
    w = imgsink.SummaryWriter("runs/y", client=tbd.client)
    with pytest.raises(ValueError, match="1 \\(gray\\) or 3"):
        w.add_images("t", torch.rand(2, 4, 4, 4))
    with pytest.raises(ValueError, match="input format"):
        w.add_image("t", torch.rand(3, 4, 4), dataformats="HW")
    with pytest.raises(AttributeError):
        w.not_a_method  # noqa: B018
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(NotImplementedError, match="add_scalar"):
            w.add_scalar("loss", 1.0, 0)
    w.close()


def test_default_log_dir_is_torchs():
    w = imgsink.SummaryWriter(comment="_c", client=object())
    parts = w.get_logdir().split(os.sep)
    assert parts[0] == "runs" and parts[1].endswith("_c")


def test_device_quantization_is_torchs():
    # What add_image does to a CUDA tensor before the hand-off, checked here on the CPU (same
    # torch ops): x255, NaN -> 0, clip, truncate to uint8 -- numpy's pixels, then sent as uint8
    # (which the daemon takes at scale 1).
    from imgsink._summary_writer import _quantize_on_device
    g = torch.Generator().manual_seed(5)
    x = torch.rand(3, 16, 16, generator=g) * 1.4 - 0.2
    x[0, 0, :4] = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.99999])
    for t in (x, x.double(), x.half(), (x.clamp(0, 1) * 255).to(torch.uint8)):
        got = _quantize_on_device(t)
        assert got.dtype == torch.uint8
        ref = tb_events.torch_image(t, "CHW")
        np.testing.assert_array_equal(got.permute(1, 2, 0).numpy(), ref, err_msg=str(t.dtype))
