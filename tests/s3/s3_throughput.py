#!/usr/bin/env python3
"""Upload throughput of the S3 sink against local-disk throughput, in the same run: the same
workload (N noise images, PNG level 0) through imgsinkd with the local sink only, then with the
local sink plus an s3:// output to s3rver on loopback.  Prints MB/s of encoded bytes for each.
  IMGSINK_BIN_DIR=build/bin PYTHONPATH=client/python python3 tests/s3/s3_throughput.py [N] [SIDE]
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.append(str(HERE.parent / "integration"))
os.environ.setdefault("IMGSINK_AUTOSTART", "0")

import numpy as np  # noqa: E402

from daemon_process import DaemonProcess  # noqa: E402
from s3_helpers import S3Server, s3_env  # noqa: E402


def run(workdir: Path, extra, env, images):
    d = DaemonProcess(workdir, extra, workers=2, env=env).start()
    try:
        start = time.monotonic()
        jobs = [d.client.save_image(img, f"b/img_{i}.png", png_level=0) for i, img in enumerate(images)]
        for j in jobs:
            j.result(600)
        wall = time.monotonic() - start
        c = d.wait_idle()
        return wall, c
    finally:
        d.stop()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    side = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(3, side, side), dtype=np.uint8) for _ in range(n)]
    with tempfile.TemporaryDirectory(prefix="imgsink-s3bench-", dir="/tmp") as tmp:
        tmp = Path(tmp)
        s3 = S3Server(tmp / "s3rver", ["bench"])
        s3.start()
        try:
            wall_l, c_l = run(tmp / "local", [], None, images)
            wall_s, c_s = run(tmp / "both", ["--output", "s3://bench/run"], s3_env(s3.url), images)
        finally:
            s3.stop()
    mb_l = c_l["bytes_written"] / 1e6
    mb_s = c_s["s3_bytes_uploaded"] / 1e6
    lat = c_s["s3_request_latency_us"] / max(1, c_s["s3_requests"]) / 1e3
    print(f"{n} images {side}x{side} PNG level 0 ({mb_l / n * 1e3:.0f} kB each), 2 workers")
    print(f"local sink only:           {wall_l:6.2f} s  {mb_l / wall_l:7.1f} MB/s")
    print(f"local + s3 (s3rver, lo):   {wall_s:6.2f} s  {mb_s / wall_s:7.1f} MB/s uploaded, "
          f"{c_s['s3_requests']} requests, mean latency {lat:.1f} ms, retries {c_s['s3_retries']}")


if __name__ == "__main__":
    main()
