"""What Python users pay today, on the benchmark's own content: torchvision.utils.save_image per
call, PIL in a multiprocessing.Pool(2), and the imgsink Python client's hand-off next to a
numpy copy of the same batch.  Each function returns a dict (or {"skipped": why})."""
from __future__ import annotations

import io
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def torchvision_save_image(batch: np.ndarray, repeat: int, each: bool = True) -> Dict:
    """ms per call of save_image on the batch as one grid, and per image (each=True)."""
    try:
        import torch
        import torchvision.utils as tvu
    except ImportError as e:
        return {"skipped": f"no torch/torchvision: {e}"}
    t = torch.from_numpy(batch)
    out: Dict = {"torch": torch.__version__}
    with tempfile.TemporaryDirectory() as d:
        grid = os.path.join(d, "grid.png")
        out["grid_png_ms_per_call"] = _median_ms(
            lambda: tvu.save_image(t, grid, normalize=True, value_range=(-1, 1)), repeat)
        if each:
            def per_image():
                for i in range(t.shape[0]):
                    tvu.save_image(t[i], os.path.join(d, f"{i}.png"), normalize=True,
                                   value_range=(-1, 1))
            out["each_png_ms_per_batch"] = _median_ms(per_image, max(1, repeat // 2))
            out["each_png_img_per_s"] = t.shape[0] / (out["each_png_ms_per_batch"] / 1e3)
    return out


def _pixels(batch: np.ndarray) -> np.ndarray:
    """torchvision's quantization: x*255+0.5 clamped, NHWC uint8 (after value_range (-1, 1))."""
    x = (np.clip(batch, -1, 1) + 1) / 2
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1).copy()


def _pil_encode(args) -> int:
    from PIL import Image
    pixels, fmt, params = args
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **params)
    return buf.tell()


def pil_throughput(batch: np.ndarray, seconds: float, processes: int, fmt: str = "PNG",
                   params: Optional[dict] = None) -> Dict:
    """img/s of PIL encoding (to memory) the batch's images in a Pool(processes), or in this
    process when processes == 0."""
    try:
        import PIL
    except ImportError as e:
        return {"skipped": f"no PIL: {e}"}
    images = list(_pixels(batch))
    work = [(img, fmt, params or {}) for img in images]
    sizes = [_pil_encode(w) for w in work[:8]]
    done, warmup, t0 = 0, 0, time.perf_counter()
    cpu0 = time.process_time()
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if processes == 0:
        while time.perf_counter() - t0 < seconds:
            _pil_encode(work[done % len(work)])
            done += 1
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    else:
        pool = multiprocessing.get_context("fork").Pool(processes)
        try:
            warmup = len(pool.map(_pil_encode, work[:2 * processes]))  # start the workers
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                done += len(pool.map(_pil_encode, work, chunksize=4))
            wall = time.perf_counter() - t0
        finally:
            pool.close()
            pool.join()
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)  # the warm-up batch too
        cpu = ru.ru_utime + ru.ru_stime - children0.ru_utime - children0.ru_stime
    raw = images[0].nbytes
    return {"pil": PIL.__version__, "processes": processes, "format": fmt, "params": params or {},
            "img_per_s": done / wall, "img_per_cpu_s": (done + warmup) / cpu,
            "size_ratio": statistics.mean(sizes) / raw}


def python_client_stall(endpoint: str, batch: np.ndarray, repeat: int) -> Dict:
    """imgsink.Client.save_images hand-off (zero-copy and copy=True) vs numpy copy."""
    here = Path(__file__).resolve().parents[2] / "client" / "python"
    sys.path.insert(0, str(here))
    try:
        import imgsink
    except Exception as e:  # noqa: BLE001 - report any import failure as a skip
        return {"skipped": f"cannot import imgsink: {e!r}"}
    dst = np.empty_like(batch)
    out: Dict = {"numpy_copy_warm_ms": _median_ms(lambda: np.copyto(dst, batch), repeat),
                 "numpy_copy_fresh_ms": _median_ms(lambda: batch.copy(), repeat)}
    # "copy" is the default (into the shared-memory arena with an ipc:// daemon), "copy_frames"
    # the copy into a pooled buffer sent in the message (shared_memory=False, before issue 15).
    for name, copy, shm in (("zero_copy", False, False), ("copy", True, True),
                            ("copy_frames", True, False)):
        client = imgsink.Client(endpoint, copy=copy, shared_memory=shm)
        stalls: List[float] = []
        outcomes: Dict[str, int] = {}
        try:
            for i in range(repeat):
                t0 = time.perf_counter()
                job = client.save_images(batch, "pystall/img_{index:02d}.png", normalize=True,
                                         value_range=(-1, 1))
                stalls.append(time.perf_counter() - t0)
                try:
                    job.result(timeout=120)
                    outcomes["ok"] = outcomes.get("ok", 0) + 1
                except Exception as e:  # noqa: BLE001 - count the failure by its name
                    key = getattr(e, "code", type(e).__name__)
                    outcomes[str(key)] = outcomes.get(str(key), 0) + 1
        finally:
            client.close(timeout=30)
        out[name] = {
            "save_images_ms_median": 1e3 * statistics.median(stalls),
            "save_images_ms_max": 1e3 * max(stalls), "outcomes": outcomes}
    return out
