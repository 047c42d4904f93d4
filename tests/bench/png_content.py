"""Writes PNG size/speed test content for `encode_bench --content`: 8-bit renders of
content.py's batches (as save_image(normalize=True, value_range=(-1, 1)) quantizes them) plus
MNIST-like digit grids, one raw HWC file each, and an index with PIL's own PNG size and CPU
time per file (PIL's default: zlib level 6, its adaptive filters).

    /usr/bin/python3 tests/bench/png_content.py OUTDIR [PHOTO ...]
    build-rel/bin/encode_bench --content OUTDIR/index.txt

Index lines: name path width height channels pil_bytes pil_cpu_ms.
"""
from __future__ import annotations

import io
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import content  # noqa: E402


def to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip((x + 1) / 2 * 255 + 0.5, 0, 255).astype(np.uint8)


def digits(n: int, seed: int) -> np.ndarray:
    """n 28x28 MNIST-like digits: black, with 1-3 anti-aliased quadratic strokes of width ~2-4."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float32)
    out = np.zeros((n, 28, 28), np.float32)
    for i in range(n):
        d = np.full((28, 28), 1e9, np.float32)
        for _ in range(rng.integers(1, 4)):
            p = rng.uniform(6, 22, size=(3, 2))
            for t in np.linspace(0, 1, 40):
                q = (1 - t) ** 2 * p[0] + 2 * (1 - t) * t * p[1] + t * t * p[2]
                d = np.minimum(d, np.hypot(xx - q[0], yy - q[1]))
        out[i] = np.clip(rng.uniform(1.2, 2.2) - d + 0.5, 0, 1)
    return (out * 255 + 0.5).astype(np.uint8)


def grid(imgs: np.ndarray, nrow: int = 8, pad: int = 2) -> np.ndarray:
    """make_grid with pad_value 0 on uint8 images (n, h, w[, c])."""
    n, h, w = imgs.shape[:3]
    rows = (n + nrow - 1) // nrow
    g = np.zeros((rows * (h + pad) + pad, nrow * (w + pad) + pad) + imgs.shape[3:], np.uint8)
    for k in range(n):
        r, c = divmod(k, nrow)
        g[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = imgs[k]
    return g


def hwc(batch: np.ndarray) -> list:
    return [to_u8(im.transpose(1, 2, 0)) if im.shape[0] > 1 else to_u8(im[0]) for im in batch]


def main() -> None:
    from PIL import Image
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    cases = {
        "natural_rgb": hwc(content.natural_batch(8, 3, 256, 256, seed=1)),
        "natural_gray": hwc(content.natural_batch(8, 1, 256, 256, seed=5)),
        "natural_rgba": hwc(content.natural_batch(8, 4, 256, 256, seed=4)),
        "lownoise_rgb": hwc(content.natural_batch(4, 3, 256, 256, seed=11, noise=0.004)),
        "clean_rgb": hwc(content.natural_batch(8, 3, 256, 256, seed=2, noise=0)),
        "clean_gray": hwc(content.natural_batch(8, 1, 256, 256, seed=6, noise=0)),
        "noise_rgb": hwc(content.noise_batch(2, 3, 256, 256, seed=3)),
        "digits_gray": [grid(digits(64, s)) for s in range(4)],
        "digits_rgb": [np.repeat(grid(digits(64, s))[:, :, None], 3, axis=2) for s in range(4)],
    }
    photos = [p for p in sys.argv[2:] if os.path.exists(p)] or content.skimage_photos()
    if photos:
        cases["photo_rgb"] = hwc(content.photo_batch(photos, 6, 3, 256, 256, seed=7))
    with open(os.path.join(out, "index.txt"), "w") as index:
        for name, images in cases.items():
            for k, im in enumerate(images):
                path = os.path.join(out, f"{name}_{k}.raw")
                im.tofile(path)
                pil = Image.fromarray(im)
                start, reps = time.process_time(), 3
                for _ in range(reps):
                    buf = io.BytesIO()
                    pil.save(buf, format="PNG")
                ms = (time.process_time() - start) / reps * 1e3
                c = 1 if im.ndim == 2 else im.shape[2]
                index.write(f"{name} {path} {im.shape[1]} {im.shape[0]} {c} {len(buf.getvalue())} {ms:.3f}\n")


if __name__ == "__main__":
    main()
