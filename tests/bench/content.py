"""Benchmark content: natural-looking image batches as float32 in [-1, 1] (a GAN's tanh output).

Each image is a smooth low-frequency field (a few sinusoids with per-image frequencies and
phases, correlated across channels like colour), three hard-edged shapes (discs and boxes with
their own shading), and mild Gaussian noise of sigma 0.02 (about 2.5 levels of 255) -- what PNG
meets on real samples.  `noise_batch` is the pathological case, reported separately.
Deterministic in the seed; numpy only.
"""
from __future__ import annotations

import numpy as np


def natural_batch(n: int, c: int, h: int, w: int, seed: int = 0) -> np.ndarray:
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
        img += rng.normal(0.0, 0.02, size=img.shape).astype(np.float32)
        out[i] = np.clip(img, -1.0, 1.0)
    return out


def noise_batch(n: int, c: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Uniform noise in [-1, 1]: incompressible, PNG's worst case."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(n, c, h, w)).astype(np.float32)
