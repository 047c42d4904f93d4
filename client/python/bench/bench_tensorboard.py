#!/usr/bin/python3
"""How long does logging an image to TensorBoard stall the training thread?

For a 64x3x64x64 grid (add_images, NCHW) and one 3x256x256 image (add_image), float32 in
[0, 1], the median time per call of:
  * torch.utils.tensorboard.SummaryWriter: if the tensorboard package is installed, the real
    add_image(s) call; otherwise what that call runs on the calling thread -- torch's own
    summary.image() (convert_to_HWC, make_grid, x255, PIL's PNG encoding) and the Event it
    queues -- loaded from torch's source with tensorboard's protos stubbed (its file append
    happens on a writer thread in both cases and is not counted, as for torch);
  * imgsink.SummaryWriter: the hand-off only (the daemon converts, encodes and appends the
    record meanwhile; each job is waited for, untimed, before the next call).

    IMGSINK_BIN_DIR=build/bin /usr/bin/python3 client/python/bench/bench_tensorboard.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, ".."))
sys.path.insert(0, _HERE)
import imgsink  # noqa: E402
from bench_stall import natural_batch, timed  # noqa: E402


def torch_add_image_fn(log_dir: str):
    """(name, fn(tag, tensor, step, dataformats)) for torch's side."""
    try:
        from torch.utils.tensorboard import SummaryWriter as TorchWriter
        w = TorchWriter(log_dir)
        return "torch SummaryWriter.add_image(s)", \
            lambda tag, t, step, fmt: w.add_image(tag, t, step, dataformats=fmt)
    except ImportError:
        pass
    sys.path.insert(0, os.path.join(_HERE, "..", "..", "..", "tests", "python"))
    import tb_events
    mod = tb_events._load_torch_summary()
    if mod is None:
        raise SystemExit("neither torch.utils.tensorboard nor its summary.py can be loaded")

    def fn(tag, t, step, fmt):
        summary = mod.image(tag, t, dataformats=fmt)
        return tb_events.EVENT(summary=summary, step=step, wall_time=time.time())

    return "torch summary.image() + Event (tensorboard not installed)", fn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    bin_dir = os.environ.get("IMGSINK_BIN_DIR", "build/bin")
    root = tempfile.mkdtemp(prefix="imgsink-tbbench-", dir="/tmp")
    endpoint = f"ipc://{root}/bench.sock"
    proc = subprocess.Popen([os.path.join(bin_dir, "imgsinkd"), "--listen", endpoint,
                             "--output-root", os.path.join(root, "out"),
                             "--journal-dir", os.path.join(root, "journal"),
                             "--tensorboard-logdir", os.path.join(root, "tb"),
                             "--workers", str(args.workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = imgsink.Client(endpoint, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.stats(timeout=1)
                break
            except imgsink.ImgsinkError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("imgsinkd did not start")
        grid = ((natural_batch(64, 3, 64, 64, seed=1) + 1) / 2).contiguous()
        one = ((natural_batch(1, 3, 256, 256, seed=2)[0] + 1) / 2).contiguous()
        cases = [("add_images 64x3x64x64", grid, "NCHW"), ("add_image 3x256x256", one, "CHW")]
        torch_name, torch_fn = torch_add_image_fn(os.path.join(root, "torch-runs"))
        writer = imgsink.SummaryWriter("bench", client=client)
        print(f"torch: {torch_name}; imgsink: hand-off to imgsinkd ({args.workers} workers); "
              f"median of {args.repeat}, torch {torch.__version__}")
        for name, t, fmt in cases:
            torch_fn("warm", t, 0, fmt)
            t_torch = timed(lambda: torch_fn("t", t, 1, fmt), args.repeat)
            jobs = []

            def handoff():
                jobs.append(writer._add("i", t, len(jobs), None, fmt))

            handoff()
            jobs[-1].result(60)
            times = []
            for _ in range(args.repeat):
                times.append(timed(handoff, 1))
                jobs[-1].result(60)  # untimed: the daemon's share
            times.sort()
            t_imgsink = times[len(times) // 2]
            print(f"{name:24s} torch {t_torch * 1e3:8.2f} ms   imgsink {t_imgsink * 1e3:7.3f} ms"
                  f"   ({t_torch / t_imgsink:6.1f}x less stall)")
        writer.close()
        client.close()
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
