"""Reference images from torchvision.utils.save_image itself, and test tensors that look natural."""
from __future__ import annotations

import io
import math
import sys
from pathlib import Path
from typing import Any, Dict

import numpy as np
import torch
import torchvision.utils
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "render"))
from make_reference import half_clamp  # noqa: E402  torch 1.13 has no CPU Half clamp_


def natural_batch(n: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Smooth gradients, a disc with a hard edge, mild noise: float32 in about [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    y = torch.linspace(-1, 1, h).view(h, 1)
    x = torch.linspace(-1, 1, w).view(1, w)
    out = torch.empty(n, c, h, w)
    for i in range(n):
        for ch in range(c):
            phase = float(torch.rand(1, generator=g)) * math.pi
            img = 0.6 * torch.sin(3 * x + 2 * y + phase + ch)
            disc = ((x - 0.2 * ch) ** 2 + (y + 0.1 * i) ** 2 < 0.25).float()
            img = img * (1 - disc) + 0.8 * disc
            out[i, ch] = img + 0.05 * torch.randn(h, w, generator=g)
    return out


def save_image_pixels(tensor, fmt: str = "png", **kwargs) -> np.ndarray:
    """The pixels torchvision.utils.save_image writes for `tensor` (decoded back with PIL)."""
    buf = io.BytesIO()
    with half_clamp():  # float16 only: see daemon/render/EXACTNESS.md "float16"
        torchvision.utils.save_image(tensor, buf, format=fmt, **kwargs)
    buf.seek(0)
    return np.asarray(Image.open(buf))


def pil_jpeg_pixels(pixels: np.ndarray, quality: int, subsampling: str) -> np.ndarray:
    """What PIL's JPEG encoder (libjpeg-turbo, accurate DCT) decodes to for these pixels."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality,
                                 subsampling={"444": 0, "422": 1, "420": 2}[subsampling])
    buf.seek(0)
    return np.asarray(Image.open(buf))


def torch_options_to_wire(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    wire = dict(kwargs)
    if "value_range" in wire and wire["value_range"] is not None:
        wire["value_range"] = [float(v) for v in wire["value_range"]]
    if "pad_value" in wire:
        wire["pad_value"] = float(wire["pad_value"])
    return wire


def tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16",
               torch.float64: "float64", torch.uint8: "uint8"}
