#!/usr/bin/python3
"""What does in-place safety cost the training thread?

For one 64x3x256x256 float32 batch, the time per ``save_image`` call (the hand-off only; the
daemon finishes each job before the next call, untimed) of:
  * the default client (copy into a reused buffer: the tensor may change at once),
  * ``Client(copy=False)`` (zero-copy: the tensor must not change until ``job.wait_sent()``),
and, as references, a plain memcpy of the batch into a preallocated array and a copy into
fresh memory (``np.copy``, and ``tensor.clone()``: what ``copy=True`` paid before the pool).

    IMGSINK_BIN_DIR=build/bin /usr/bin/python3 client/python/bench/bench_copy.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imgsink  # noqa: E402
from bench_stall import natural_batch, start_daemon, timed  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", help="a running imgsinkd (default: start one from "
                                       "IMGSINK_BIN_DIR)")
    ap.add_argument("--repeat", type=int, default=9, help="calls per measurement")
    ap.add_argument("--batch", default="64x3x256x256")
    args = ap.parse_args()
    n, c, h, w = (int(v) for v in args.batch.split("x"))
    torch.set_num_threads(1)
    batch = natural_batch(n, c, h, w)
    root = tempfile.mkdtemp(prefix="imgsink-bench-", dir="/tmp")
    proc = None
    try:
        endpoint = args.endpoint
        if endpoint is None:
            proc, endpoint = start_daemon(os.environ["IMGSINK_BIN_DIR"], root, 2)
        src = batch.numpy()
        dst = np.empty_like(src)
        memcpy = timed(lambda: np.copyto(dst, src), max(20, args.repeat))
        fresh = timed(lambda: np.copy(src), max(20, args.repeat))
        clone = timed(lambda: batch.clone(), max(20, args.repeat))
        memcpy = min(memcpy, timed(lambda: np.copyto(dst, src), max(20, args.repeat)))

        def handoff(client, name):
            times = []
            for k in range(args.repeat):
                t0 = time.perf_counter()
                job = client.save_image(batch, f"bench/{name}_{k}.png", png_level=0)
                times.append(time.perf_counter() - t0)
                job.result(600)
            return statistics.median(times[1:])  # the first call fills the pool

        with imgsink.Client(endpoint) as safe, imgsink.Client(endpoint, copy=False) as zero:
            t_safe = handoff(safe, "safe")
            t_zero = handoff(zero, "zero")
        mb = src.nbytes / 1e6
        print(f"batch {n}x{c}x{h}x{w} float32 ({mb:.1f} MB); median of {args.repeat} calls")
        for name, t in [("memcpy into a preallocated array", memcpy),
                        ("copy into fresh memory (np.copy)", fresh),
                        ("torch clone (the old copy=True)", clone),
                        ("imgsink save_image, default (copy)", t_safe),
                        ("imgsink save_image, copy=False", t_zero)]:
            print(f"{name:38}{t * 1e3:9.3f} ms{t / memcpy:8.2f}x memcpy")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(60)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
