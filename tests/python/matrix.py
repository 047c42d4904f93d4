"""The tensors and options every exactness test runs, and torchvision's answer for them."""

from __future__ import annotations

import io
from typing import Any, Callable, Dict, List, NamedTuple

import numpy as np
import torch
import torchvision.utils as tvu
from PIL import Image

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16,
          "f64": torch.float64}


def content(shape, lo=0.0, hi=1.0, seed=0) -> torch.Tensor:
    """Deterministic float64 values in [lo, hi] with the rounding edges ((k+0.5)/255) and a
    few values outside the range mixed in."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(shape, generator=g, dtype=torch.float64) * (hi - lo) + lo
    flat = t.view(-1)
    n = flat.numel()
    if n >= 8:
        k = torch.randint(0, 255, (n // 8,), generator=g).double()
        idx = torch.randperm(n, generator=g)[: n // 8]
        flat[idx] = (k + 0.5) / 255 * (hi - lo) + lo
        flat[torch.randperm(n, generator=g)[:2]] = torch.tensor([lo - 0.1, hi + 0.2],
                                                                dtype=torch.float64)
    return t


class Case(NamedTuple):
    name: str
    make: Callable[[torch.dtype], Any]     # dtype -> tensor or list of tensors
    opts: Dict[str, Any]


def _t(shape, lo=0.0, hi=1.0, seed=0):
    return lambda dt: content(shape, lo, hi, seed).to(dt)


CASES: List[Case] = [
    Case("nchw_nrow2_b5", _t((5, 3, 7, 9)), {"nrow": 2}),
    Case("nchw_default", _t((4, 3, 16, 12), seed=1), {}),
    Case("range_m1_1", _t((6, 3, 8, 8), -1, 1, seed=2), {"normalize": True,
                                                         "value_range": (-1, 1)}),
    Case("normalize_minmax", _t((3, 3, 5, 6), -2, 3, seed=3), {"normalize": True}),
    Case("scale_each", _t((4, 3, 6, 5), -1, 1, seed=4), {"normalize": True,
                                                         "scale_each": True, "nrow": 3}),
    Case("scale_each_range", _t((3, 3, 6, 5), -1, 1, seed=5),
         {"normalize": True, "scale_each": True, "value_range": (-0.5, 0.5)}),
    Case("gray_nchw", _t((5, 1, 9, 7), seed=6), {"nrow": 4, "padding": 7,
                                                 "pad_value": 0.25}),
    Case("rgba_pad7", _t((3, 4, 6, 6), seed=7), {"padding": 7, "pad_value": 0.5}),
    Case("la_2ch", _t((2, 2, 5, 5), seed=8), {"nrow": 1}),
    Case("hw_2d", _t((11, 13), seed=9), {}),
    Case("chw_rgb", _t((3, 10, 4), seed=10), {}),
    Case("chw_gray", _t((1, 10, 4), seed=11), {}),
    Case("list_of_chw", lambda dt: [content((3, 6, 6), seed=12 + i).to(dt) for i in range(3)],
         {"nrow": 2}),
    Case("padding0", _t((5, 3, 4, 4), seed=15), {"padding": 0, "nrow": 3}),
    Case("single_pixel", _t((1, 3, 1, 1), seed=16), {}),
    Case("batch_of_one", _t((1, 3, 5, 7), seed=17), {"padding": 5}),
    Case("non_contiguous", lambda dt: content((4, 3, 9, 12), seed=18).to(dt)
         .transpose(2, 3)[:, :, ::2], {"nrow": 3}),
    Case("channels_last", lambda dt: content((3, 3, 6, 7), seed=19).to(dt)
         .contiguous(memory_format=torch.channels_last), {"nrow": 2}),
    Case("pad_value_neg", _t((2, 3, 4, 4), seed=20), {"pad_value": -0.5}),
]


def torchvision_png(tensor: Any, **opts: Any) -> np.ndarray:
    """Returns the pixels torchvision.utils.save_image writes for ``tensor``."""
    buf = io.BytesIO()
    tvu.save_image(tensor, buf, format="png", **opts)
    buf.seek(0)
    return np.array(Image.open(buf))


def torchvision_png_any_dtype(tensor: Any, **opts: Any) -> np.ndarray:
    """Like torchvision_png, and for float16 (whose CPU clamp_ torch 1.13 lacks) under the
    render tests' stand-in clamp_ (tests/render/make_reference.py, daemon/render/EXACTNESS.md
    "float16").  Raises RuntimeError when that helper is not there."""
    try:
        return torchvision_png(tensor, **opts)
    except RuntimeError as e:
        if "Half" not in str(e):
            raise
        import os
        import sys
        render_tests = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
            __file__))), "render")
        if render_tests not in sys.path:
            sys.path.append(render_tests)
        try:
            from make_reference import half_clamp
        except ImportError:
            raise e from None
        with half_clamp():
            return torchvision_png(tensor, **opts)


def read_image(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.array(im)
