"""Expected pixels for the render tests' reference cases, from torch 1.13 / torchvision 0.14,
and the Writer that stores a case (format: make_reference.py's docstring).  Imported by
make_reference.py, which holds the cases.

How the expected pixels are made:
  - 8-bit, dtype other than float16: torchvision.utils.save_image itself writes a PNG, read back
    with PIL.
  - float16: torch 1.13 has no CPU clamp for Half ("clamp_scalar_cpu" not implemented), so
    save_image raises.  We render float16 with torch's own Half mul/add/sub/div and a clamp
    built from torch.maximum/minimum against bounds converted double -> float -> half (the rule
    torch applies to bfloat16's clamp), run through the real make_grid / save_image code.
  - 16-bit (our extension): make_grid, then x65535 + 0.5, clamp [0, 65535], truncate, in float32
    (float64 for float64 tensors); NaN -> 0.
  - uint8 / uint16 tensors (our extension): the samples themselves; padding is pad_value
    quantized in float32.
  - keep_gray (our extension): channel 0 of the repeated-to-RGB result.
"""
import contextlib
import json
import math
import os
import tempfile

import numpy as np
import torch
import torchvision.utils as vutils
from PIL import Image

DTYPES = {'uint8': torch.uint8, 'uint16': None, 'float16': torch.float16,
          'bfloat16': torch.bfloat16, 'float32': torch.float32, 'float64': torch.float64}
DEFAULTS = dict(nrow=8, padding=2, pad_value=0.0, normalize=False, value_range=None,
                scale_each=False, keep_gray=False)

_orig_clamp_ = torch.Tensor.clamp_


def _half_bound(v):
    if math.isfinite(v) and abs(v) > 65504.0:
        raise RuntimeError('value cannot be converted to type at::Half without overflow')
    return torch.tensor(v, dtype=torch.float64).to(torch.float32).to(torch.float16)


def _half_clamp_(self, min=None, max=None):
    if self.dtype != torch.float16:
        return _orig_clamp_(self, min, max)
    self.copy_(torch.minimum(torch.maximum(self, _half_bound(min)), _half_bound(max)))
    return self


@contextlib.contextmanager
def half_clamp():
    torch.Tensor.clamp_ = _half_clamp_
    try:
        yield
    finally:
        torch.Tensor.clamp_ = _orig_clamp_


def grid_kwargs(opts):
    kw = {k: opts[k] for k in ('nrow', 'padding', 'pad_value', 'normalize', 'scale_each')}
    if opts['value_range'] is not None:
        kw['value_range'] = tuple(opts['value_range'])
    return kw


def save_image_pixels(t, opts):
    """HWC uint8 pixels of save_image(t, **opts); PNG round trip for the real function."""
    if t.dtype == torch.float16:
        with half_clamp():
            grid = vutils.make_grid(t, **grid_kwargs(opts))
            # The expression of save_image, verbatim.
            return grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to("cpu", torch.uint8).numpy()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'out.png')
        vutils.save_image(t, path, **grid_kwargs(opts))
        with Image.open(path) as im:
            a = np.asarray(im)
    return a if a.ndim == 3 else a[:, :, None]


def pixels16(t, opts):
    with half_clamp():
        grid = vutils.make_grid(t, **grid_kwargs(opts))
    wide = torch.float64 if t.dtype == torch.float64 else torch.float32
    v = grid.to(wide).mul(65535).add(0.5).clamp(0, 65535)
    v[torch.isnan(v)] = 0
    return v.permute(1, 2, 0).numpy().astype(np.int64).astype(np.uint16)


def integer_pixels(a, opts, bit_depth):
    """uint8/uint16 tensors (numpy NCHW-like, as torch order): samples, float32 pad."""
    top = 255 if bit_depth == 8 else 65535
    p = np.float32(opts['pad_value']) * np.float32(top) + np.float32(0.5)
    pad = 0 if np.isnan(p) else int(min(max(p, np.float32(0)), np.float32(top)))
    kw = grid_kwargs(opts)
    kw['pad_value'] = float(pad)
    grid = vutils.make_grid(torch.from_numpy(a.astype(np.float64)), **kw)
    return grid.permute(1, 2, 0).numpy().astype(np.uint8 if bit_depth == 8 else np.uint16)


def to_torch_order(a, layout):
    """numpy array in `layout` -> the equivalent tensor order save_image sees."""
    if layout == 'HWC':
        return a.transpose(2, 0, 1)
    if layout == 'NHWC':
        return a.transpose(0, 3, 1, 2)
    return a


def expected_pixels(a, dtype, layout, opts, bit_depth):
    a = to_torch_order(a, layout)
    if dtype in ('uint8', 'uint16'):
        out = integer_pixels(a, opts, bit_depth)
    else:
        if dtype == 'bfloat16':
            t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(torch.bfloat16)
        else:
            t = torch.from_numpy(np.ascontiguousarray(a))
        out = save_image_pixels(t, opts) if bit_depth == 8 else pixels16(t, opts)
    if opts['keep_gray'] and (a.ndim == 2 or a.shape[-3] == 1):
        out = out[:, :, :1]
    return np.ascontiguousarray(out)


def tensor_bytes(a, dtype):
    if dtype == 'bfloat16':  # a holds float32 values exactly representable in bfloat16
        return (a.astype(np.float32).view(np.uint32) >> 16).astype('<u2').tobytes()
    np_dtype = {'uint8': '<u1', 'uint16': '<u2', 'float16': '<f2', 'float32': '<f4',
                'float64': '<f8'}[dtype]
    return a.astype(np_dtype).tobytes()


def as_dtype(a, dtype):
    """Rounds float values to dtype (bfloat16 via torch), returning a numpy array of them."""
    if dtype == 'bfloat16':
        return torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16).float().numpy()
    if dtype == 'float16':
        return torch.from_numpy(a.astype(np.float32)).to(torch.float16).numpy()
    return a.astype({'float32': np.float32, 'float64': np.float64, 'uint8': np.uint8,
                     'uint16': np.uint16}[dtype])


def json_number(v):
    """JSON has no NaN/Infinity: non-finite floats are written as "nan", "inf", "-inf"."""
    if isinstance(v, float) and not math.isfinite(v):
        return 'nan' if math.isnan(v) else ('inf' if v > 0 else '-inf')
    return v


def json_options(opts):
    out = dict(opts, pad_value=json_number(float(opts['pad_value'])))
    if opts['value_range'] is not None:
        out['value_range'] = [json_number(float(v)) for v in opts['value_range']]
    return out


class Writer:
    def __init__(self, folder):
        self.folder = folder
        self.cases = []
        os.makedirs(folder, exist_ok=True)

    def add(self, name, a, dtype, layout, bit_depth=8, all16=False, **options):
        opts = dict(DEFAULTS, **options)
        case = dict(name=name, dtype=dtype, layout=layout, shape=list(a.shape),
                    options=json_options(opts), bit_depth=bit_depth)
        if all16:
            case['input'] = 'all16'
        else:
            case['input'] = name + '.in'
            with open(os.path.join(self.folder, case['input']), 'wb') as f:
                f.write(tensor_bytes(a, dtype))
        try:
            out = expected_pixels(a, dtype, layout, opts, bit_depth)
        except RuntimeError as e:
            case['error'] = str(e).splitlines()[0]
        else:
            case.update(height=out.shape[0], width=out.shape[1], channels=out.shape[2],
                        expected=name + '.out')
            with open(os.path.join(self.folder, case['expected']), 'wb') as f:
                f.write(out.astype('<u2' if bit_depth == 16 else 'u1').tobytes())
        self.cases.append(case)

    def finish(self):
        with open(os.path.join(self.folder, 'cases.json'), 'w') as f:
            json.dump(self.cases, f, indent=1, allow_nan=False)
            f.write('\n')
