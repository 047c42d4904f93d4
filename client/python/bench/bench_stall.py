#!/usr/bin/python3
"""How long does saving images stall the training thread?

Compares, for one batch (64x3x256x256 float32, natural-looking content in [-1, 1]):
  * torchvision.utils.save_image, one grid PNG and one PNG per image (the time training waits);
  * imgsink.save_image / save_images: the hand-off only (what training waits for with imgsink;
    the daemon writes the files meanwhile);
  * a plain memcpy of the batch (numpy copy), the floor any copying hand-off would pay.

    IMGSINK_BIN_DIR=build/bin /usr/bin/python3 client/python/bench/bench_stall.py
    /usr/bin/python3 client/python/bench/bench_stall.py --endpoint ipc:///run/imgsink/d.sock

With IMGSINK_BIN_DIR (and no --endpoint) it starts its own imgsinkd in a temp dir.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision.utils as tvu

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import imgsink  # noqa: E402


def natural_batch(n: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Smooth waves, a hard-edged disc and mild noise per image and channel, about [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    y = torch.linspace(-1, 1, h).view(1, 1, h, 1)
    x = torch.linspace(-1, 1, w).view(1, 1, 1, w)
    ch = torch.arange(c, dtype=torch.float32).view(1, c, 1, 1)
    idx = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1)
    phase = torch.rand(n, c, 1, 1, generator=g) * math.pi
    waves = 0.6 * torch.sin(3 * x + 2 * y + phase + ch)
    disc = ((x - 0.2 * ch) ** 2 + (y + 0.1 * (idx % 10) - 0.5) ** 2 < 0.25).float()
    img = waves * (1 - disc) + 0.8 * disc
    return (img + 0.05 * torch.randn(n, c, h, w, generator=g)).clamp_(-1, 1).contiguous()


def timed(fn, repeat: int):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def start_daemon(bin_dir: str, root: str, workers: int):
    endpoint = f"ipc://{root}/bench.sock"
    out = os.path.join(root, "out")
    binary = os.path.join(bin_dir, "imgsinkd")
    args = [binary, "--listen", endpoint, "--output-root", out, "--workers", str(workers)]
    help_text = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    if "--journal-dir" in help_text:  # keep the journal in our temp dir, not in the cwd
        args += ["--journal-dir", os.path.join(root, "journal")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    probe = imgsink.Client(endpoint, timeout=1.0)
    deadline = time.monotonic() + 30
    while True:
        try:
            probe.stats()
            break
        except imgsink.ImgsinkError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("imgsinkd did not start")
    probe.close()
    return proc, endpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", help="a running imgsinkd (default: start one from "
                                       "IMGSINK_BIN_DIR, else the default endpoint)")
    ap.add_argument("--repeat", type=int, default=5, help="calls per measurement")
    ap.add_argument("--workers", type=int, default=2, help="workers of a daemon we start")
    ap.add_argument("--batch", default="64x3x256x256")
    args = ap.parse_args()
    n, c, h, w = (int(v) for v in args.batch.split("x"))

    torch.set_num_threads(1)  # like a data-loading-free training step's save call
    batch = natural_batch(n, c, h, w)
    opts = dict(normalize=True, value_range=(-1, 1))
    root = tempfile.mkdtemp(prefix="imgsink-bench-", dir="/tmp")
    proc = None
    try:
        endpoint = args.endpoint
        if endpoint is None and os.environ.get("IMGSINK_BIN_DIR"):
            proc, endpoint = start_daemon(os.environ["IMGSINK_BIN_DIR"], root, args.workers)
        client = imgsink.Client(endpoint)

        src = batch.numpy()
        dst = np.empty_like(src)
        memcpy = timed(lambda: np.copyto(dst, src), max(20, args.repeat))

        tv_dir = os.path.join(root, "tv")
        os.makedirs(tv_dir)
        tv_grid = timed(lambda: tvu.save_image(batch, os.path.join(tv_dir, "g.png"), **opts),
                        args.repeat)
        tv_each = timed(lambda: [tvu.save_image(batch[i], os.path.join(tv_dir, f"{i}.png"),
                                                **opts) for i in range(n)], args.repeat)

        def handoff(call):
            """Median time of the call alone; the client is idle before each call."""
            times, finish = [], []
            for k in range(args.repeat):
                t0 = time.perf_counter()
                job = call(k)
                times.append(time.perf_counter() - t0)
                job.result(600)  # not timed: let the daemon finish before the next call
                finish.append(time.perf_counter() - t0)
            return statistics.median(times), statistics.median(finish)

        is_grid, is_grid_done = handoff(
            lambda k: client.save_image(batch, f"bench/grid_{k}.png", **opts))
        is_each, is_each_done = handoff(
            lambda k: client.save_images(batch, f"bench/each_{k}/{{index:02d}}.png", **opts))
        client.close()

        mb = batch.numel() * batch.element_size() / 1e6
        print(f"batch {n}x{c}x{h}x{w} float32 ({mb:.1f} MB), normalize=True, "
              f"value_range=(-1, 1); median of {args.repeat} calls; torch threads 1")
        print(f"{'':34}{'per call':>12}{'/ memcpy':>11}{'/ torchvision':>15}")
        rows = [
            ("memcpy of the batch (np.copyto)", memcpy, None),
            ("torchvision save_image, grid", tv_grid, tv_grid),
            ("imgsink save_image, grid", is_grid, tv_grid),
            ("torchvision save_image x64, each", tv_each, tv_each),
            ("imgsink save_images, each", is_each, tv_each),
        ]
        for name, t, ref in rows:
            vs_tv = f"{t / ref:15.5f}" if ref is not None else f"{'':15}"
            print(f"{name:34}{t * 1e3:9.3f} ms{t / memcpy:10.4f}x{vs_tv}")
        print(f"(imgsink: daemon finished the grid in {is_grid_done * 1e3:.0f} ms and the "
              f"{n} files in {is_each_done * 1e3:.0f} ms after the hand-off, off the training "
              "thread)")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(60)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
