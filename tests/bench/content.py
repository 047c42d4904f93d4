"""Benchmark content: natural-looking image batches as float32 in [-1, 1] (a GAN's tanh output).

Each image is a smooth low-frequency field (a few sinusoids with per-image frequencies and
phases, correlated across channels like colour), three hard-edged shapes (discs and boxes with
their own shading), and mild Gaussian noise of sigma 0.02 (about 2.5 levels of 255) -- what PNG
meets on real samples.  `noise_batch` is the pathological case, reported separately.
`photo_batch` crops real photographs (python3-skimage's data when installed, or files named
on the command line).  Deterministic in the seed.
"""
from __future__ import annotations

import os
from typing import List

import numpy as np


def natural_batch(n: int, c: int, h: int, w: int, seed: int = 0,
                  noise: float = 0.02) -> np.ndarray:
    """`noise`: sigma of the Gaussian noise (0.02 ~ 2.5 levels of 255; 0: clean render)."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, h, dtype=np.float32).reshape(1, h, 1)
    x = np.linspace(0.0, 1.0, w, dtype=np.float32).reshape(1, 1, w)
    out = np.empty((n, c, h, w), dtype=np.float32)
    for i in range(n):
        img = np.zeros((c, h, w), dtype=np.float32)
        for _ in range(3):  # smooth field: 3 waves, shared geometry, per-channel amplitude
            fx, fy = rng.uniform(0.5, 3.0, size=2).astype(np.float32)
            phase = np.float32(rng.uniform(0, 2 * np.pi))
            amp = rng.uniform(0.1, 0.35, size=(c, 1, 1)).astype(np.float32)
            img += amp * np.sin(2 * np.pi * (fx * x + fy * y) + phase)
        for k in range(3):  # hard-edged shapes with a gentle gradient inside
            cx, cy = rng.uniform(0.15, 0.85, size=2)
            r = rng.uniform(0.08, 0.22)
            if k % 2 == 0:
                mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
            else:
                mask = (np.abs(x - cx) < r) & (np.abs(y - cy) < 0.7 * r)
            level = rng.uniform(-0.8, 0.8, size=(c, 1, 1)).astype(np.float32)
            shade = level + np.float32(0.3) * (y - np.float32(cy))
            img = np.where(mask, shade, img)
        if noise > 0:
            img += rng.normal(0.0, noise, size=img.shape).astype(np.float32)
        out[i] = np.clip(img, -1.0, 1.0)
    return out


def noise_batch(n: int, c: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Uniform noise in [-1, 1]: incompressible, PNG's worst case."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(n, c, h, w)).astype(np.float32)


def skimage_photos() -> List[str]:
    """The colour photographs of python3-skimage's data folder, when that package is installed."""
    try:
        import skimage.data
    except ImportError:
        return []
    folder = os.path.dirname(skimage.data.__file__)
    names = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")
    return [os.path.join(folder, n) for n in names if os.path.exists(os.path.join(folder, n))]


def photo_batch(paths: List[str], n: int, c: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """n random h x w crops (every other one mirrored) of the given photographs, in [-1, 1].
    Photos smaller than the crop are scaled up first."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    photos = []
    for p in paths:
        im = Image.open(p).convert("RGB" if c == 3 else "L")
        scale = max(h / im.height, w / im.width, 1.0)
        if scale > 1.0:
            im = im.resize((int(im.width * scale + 1), int(im.height * scale + 1)), Image.BICUBIC)
        photos.append(np.asarray(im).reshape(im.height, im.width, c))
    out = np.empty((n, c, h, w), dtype=np.float32)
    for i in range(n):
        im = photos[i % len(photos)]
        y = int(rng.integers(0, im.shape[0] - h + 1))
        x = int(rng.integers(0, im.shape[1] - w + 1))
        crop = im[y:y + h, x:x + w]
        if (i // len(photos)) % 2:
            crop = crop[:, ::-1]
        out[i] = crop.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
    return out
