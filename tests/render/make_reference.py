#!/usr/bin/python3
"""Reference pixels for the render tests, produced by torch 1.13 / torchvision 0.14.

  make_reference.py                 rewrites tests/render/data/ (committed, small)
  make_reference.py --oracle DIR    writes large random cases into DIR (the test runs this
                                    itself when IMGSINK_PYTHON has torch, and deletes DIR)

Each data folder holds cases.json, a list of cases:
  name, dtype, layout, shape (of the tensor bytes in `layout`), options (RenderOptions fields),
  bit_depth, input (file of little-endian tensor bytes, or "all16": the 65536 16-bit patterns
  0..65535 in order), and either expected (file of HWC samples, 16-bit ones little-endian) with
  width/height/channels, or error (the torch exception text: the render must refuse).

How the expected pixels are made: see reference_pixels.py.
"""
import argparse
import os
import sys

import numpy as np
import torch

if __name__ == '__main__':  # run by the render test: leave no bytecode in the source tree
    sys.dont_write_bytecode = True
# half_clamp is imported from here by tests/integration/torch_reference.py and
# tests/python/matrix.py.
from reference_pixels import Writer, as_dtype, half_clamp  # noqa: E402,F401

HERE = os.path.dirname(os.path.abspath(__file__))


def all16_values(dtype):
    bits = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    if dtype == 'float16':
        return bits.view(np.float16)
    return (bits.astype(np.uint32) << 16).view(np.float32)


def quantization_boundaries():
    """float32 values whose x255 + 0.5 falls on or next to an integer, and special values."""
    base = ((np.arange(-2, 259, dtype=np.float64) - 0.5) / 255.0).astype(np.float32)
    vals, up, down = [base], base, base
    for _ in range(4):
        up = np.nextafter(up, np.float32(np.inf))
        down = np.nextafter(down, np.float32(-np.inf))
        vals += [up, down]
    specials = np.array([0.0, -0.0, 1.0, 1.0 + 2**-23, 1 - 2**-24, 2**-149, -2**-149, 1e-38,
                         3.4028235e38, -3.4028235e38, np.inf, -np.inf, np.nan, 0.5 / 255,
                         254.5 / 255], dtype=np.float32)
    return np.concatenate(vals + [specials]).reshape(1, -1)


def division_witnesses(np_dtype, low, high, count, seed):
    """Values x in [low, high] whose 8-bit pixel differs between (x - low) / d and
    (x - low) * (1 / d) (d = high - low in the dtype): they pin down true division."""
    d = np_dtype(max(high - low, 1e-5))
    centers = (low + (np.arange(1, 256) - 0.5) / 255.0 * float(d)).astype(np_dtype)
    xs, up, down = [centers], centers, centers
    for _ in range(64):  # sweep ulps around each rounding boundary
        up = np.nextafter(up, np_dtype(np.inf))
        down = np.nextafter(down, np_dtype(-np.inf))
        xs += [up, down]
    x = np.concatenate(xs)
    y = x - np_dtype(low)
    q = lambda v: np.floor(np.clip(v * np_dtype(255) + np_dtype(0.5), 0, 255))
    differ = x[q(y / d) != q(y * (np_dtype(1) / d))]
    assert len(differ) >= count, len(differ)
    return np.random.default_rng(seed).permutation(differ)[:count]


def committed_cases(w):
    rng = np.random.default_rng(20240601)
    u = lambda *s: rng.uniform(0, 1, s)
    s = lambda *s: rng.uniform(-1, 1, s)
    f32 = lambda a: as_dtype(a, 'float32')
    w.add('f32_value_range', f32(s(4, 3, 9, 7)), 'float32', 'NCHW', normalize=True, value_range=[-1.0, 1.0])
    w.add('f32_unit_plain', f32(u(5, 3, 6, 5)), 'float32', 'NCHW')
    w.add('f32_normalize_minmax', f32(u(3, 3, 6, 8) * 7 - 2), 'float32', 'NCHW', normalize=True)
    scaled = u(6, 3, 5, 4) * np.array([1, 10, 0.01, 300, 1e-3, 5]).reshape(6, 1, 1, 1) - 0.3
    w.add('f32_scale_each', f32(scaled), 'float32', 'NCHW', normalize=True, scale_each=True)
    w.add('f32_scale_each_constant_image', f32(np.concatenate([u(2, 3, 4, 4), np.full((1, 3, 4, 4), 0.25)])),
          'float32', 'NCHW', normalize=True, scale_each=True)
    w.add('f32_gray_batch', f32(u(4, 1, 8, 6)), 'float32', 'NCHW')
    w.add('f32_gray_keep', f32(u(4, 1, 8, 6)), 'float32', 'NCHW', keep_gray=True, pad_value=0.5)
    w.add('f32_hw', f32(u(11, 13)), 'float32', 'HW')
    w.add('f32_hw_keep_gray_normalize', f32(s(7, 5) * 3), 'float32', 'HW', keep_gray=True, normalize=True)
    w.add('f32_chw_gray', f32(u(1, 5, 6)), 'float32', 'CHW')
    w.add('f32_chw_rgb', f32(u(3, 5, 6)), 'float32', 'CHW', padding=5, pad_value=1.0)
    w.add('f32_rgba', f32(u(3, 4, 6, 6)), 'float32', 'NCHW', pad_value=0.5)
    w.add('f32_gray_alpha', f32(u(2, 2, 5, 5)), 'float32', 'NCHW', normalize=True, value_range=[0.2, 0.8])
    w.add('f32_nrow3_of7', f32(u(7, 3, 4, 5)), 'float32', 'NCHW', nrow=3)
    w.add('f32_nrow1', f32(u(3, 3, 2, 3)), 'float32', 'NCHW', nrow=1, padding=1)
    w.add('f32_nrow_gt_batch', f32(u(3, 3, 2, 3)), 'float32', 'NCHW', nrow=20)
    w.add('f32_padding0', f32(u(4, 3, 5, 5)), 'float32', 'NCHW', padding=0, nrow=3)
    w.add('f32_padding5_pad1', f32(u(5, 3, 3, 4)), 'float32', 'NCHW', padding=5, pad_value=1.0, nrow=2)
    w.add('f32_pad_half', f32(u(3, 3, 3, 3)), 'float32', 'NCHW', pad_value=0.5)
    w.add('f32_pad_odd', f32(u(3, 3, 3, 3)), 'float32', 'NCHW', pad_value=-0.25, padding=3)
    w.add('f32_pad_over', f32(u(2, 3, 3, 3)), 'float32', 'NCHW', pad_value=7.5)
    w.add('f32_single_pixel', f32(u(1, 3, 1, 1)), 'float32', 'NCHW')
    w.add('f32_single_gray_pixel', f32(u(1, 1)), 'float32', 'HW', padding=4, pad_value=1.0)
    w.add('f32_batch_of_one', f32(u(1, 3, 10, 12)), 'float32', 'NCHW', padding=5, pad_value=1.0, nrow=3)
    w.add('f32_pixels_1x1_grid', f32(u(5, 3, 1, 1)), 'float32', 'NCHW', nrow=2, padding=1, pad_value=0.75)
    w.add('f32_out_of_range', f32(s(3, 3, 6, 6) * 3 + 0.5), 'float32', 'NCHW')
    w.add('f32_out_of_range_clamped', f32(s(3, 3, 6, 6) * 3 + 0.5), 'float32', 'NCHW', normalize=True,
          value_range=[0.1, 0.9])
    w.add('f32_inverted_range', f32(u(2, 3, 4, 4)), 'float32', 'NCHW', normalize=True, value_range=[0.7, 0.3])
    w.add('f32_tiny_range', f32(0.5 + u(2, 3, 4, 4) * 1e-6), 'float32', 'NCHW', normalize=True)
    w.add('f32_boundaries', quantization_boundaries(), 'float32', 'HW')
    w.add('f32_boundaries_vr', quantization_boundaries() * np.float32(2) - np.float32(1), 'float32', 'HW',
          normalize=True, value_range=[-1.0, 1.0])
    w.add('f32_true_division', division_witnesses(np.float32, -0.2, 0.5, 60, 3).reshape(3, 4, 5), 'float32',
          'CHW', normalize=True, value_range=[-0.2, 0.5])
    w.add('f64_true_division', division_witnesses(np.float64, -0.2, 0.5, 60, 4).reshape(3, 4, 5), 'float64',
          'CHW', normalize=True, value_range=[-0.2, 0.5])
    # Bounds whose double -> dtype rounding differs from double -> float -> dtype (torch's).
    for dt, eps in (('float16', 2**-11), ('bfloat16', 2**-8)):
        w.add(dt + '_double_rounded_bound', as_dtype(np.linspace(0.9, 1.1, 48).reshape(1, 3, 4, 4), dt), dt,
              'NCHW', normalize=True, value_range=[1 + eps + 2**-40, 1.5])
    # channels_last
    w.add('f32_nhwc', f32(u(3, 5, 4, 3)), 'float32', 'NHWC', nrow=2)
    w.add('f32_nhwc_gray', f32(u(2, 4, 5, 1)), 'float32', 'NHWC', normalize=True)
    w.add('f32_hwc_rgba', f32(u(6, 5, 4)), 'float32', 'HWC')
    w.add('bf16_nhwc_scale_each', as_dtype(s(3, 4, 4, 3) * 5, 'bfloat16'), 'bfloat16', 'NHWC',
          normalize=True, scale_each=True)
    # other dtypes
    for dt in ('float16', 'bfloat16', 'float64'):
        w.add(dt + '_plain', as_dtype(u(3, 3, 7, 6) * 1.2 - 0.1, dt), dt, 'NCHW', pad_value=0.3)
        w.add(dt + '_value_range', as_dtype(s(3, 3, 7, 6) * 1.1, dt), dt, 'NCHW', normalize=True,
              value_range=[-1.0, 1.0])
        w.add(dt + '_value_range_inexact', as_dtype(s(3, 3, 7, 6), dt), dt, 'NCHW', normalize=True,
              value_range=[-0.7, 0.33])
        w.add(dt + '_normalize_minmax', as_dtype(u(2, 3, 8, 5) * 3.3 - 0.77, dt), dt, 'NCHW', normalize=True)
        w.add(dt + '_scale_each', as_dtype(u(4, 3, 5, 5) * np.array([1, 7, 0.1, 40]).reshape(4, 1, 1, 1), dt),
              dt, 'NCHW', normalize=True, scale_each=True, nrow=3)
        w.add(dt + '_gray', as_dtype(u(6, 7), dt), dt, 'HW')
    # NaN / Inf
    for dt in ('float32', 'float64', 'bfloat16', 'float16'):
        a = as_dtype(u(3, 3, 5, 6), dt)
        a[0, 0, 1, 2] = np.nan
        a[1, 1, 2, 3] = np.inf
        a[2, 2, 3, 4] = -np.inf
        a[0, 2, 4, 5] = -np.nan
        w.add(dt + '_nonfinite_plain', a, dt, 'NCHW', pad_value=0.5)
        w.add(dt + '_nonfinite_value_range', a, dt, 'NCHW', normalize=True, value_range=[0.0, 1.0])
        w.add(dt + '_nonfinite_minmax', a, dt, 'NCHW', normalize=True, pad_value=0.5)
        w.add(dt + '_nonfinite_scale_each', a, dt, 'NCHW', normalize=True, scale_each=True)
        b = as_dtype(u(3, 3, 4, 4), dt)
        b[1, 0, 0, 0] = np.inf
        b[2, 0, 0, 0] = -np.inf
        w.add(dt + '_inf_scale_each', b, dt, 'NCHW', normalize=True, scale_each=True)
    w.add('f32_nan_value_range_bound', f32(u(2, 3, 3, 3)), 'float32', 'NCHW', normalize=True,
          value_range=[0.0, float('nan')])
    w.add('f32_inf_pad', f32(u(2, 3, 3, 3)), 'float32', 'NCHW', pad_value=float('inf'))
    w.add('f32_infinite_value_range', f32(u(2, 3, 3, 3)), 'float32', 'NCHW', normalize=True,
          value_range=[float('-inf'), float('inf')])
    # torch refuses these: the render must refuse them too
    w.add('f16_pad_overflow', as_dtype(u(2, 3, 3, 3), 'float16'), 'float16', 'NCHW', pad_value=65519.0)
    w.add('f16_range_overflow', as_dtype(u(2, 3, 3, 3), 'float16'), 'float16', 'NCHW', normalize=True,
          value_range=[0.0, 70000.0])
    w.add('bf16_range_overflow', as_dtype(u(2, 3, 3, 3), 'bfloat16'), 'bfloat16', 'NCHW', normalize=True,
          value_range=[-3.4e38, 1.0])
    w.add('f32_pad_overflow', f32(u(2, 3, 3, 3)), 'float32', 'NCHW', pad_value=1e39)
    w.add('f32_range_overflow', f32(u(2, 3, 3, 3)), 'float32', 'NCHW', normalize=True, value_range=[0.0, 1e39])
    w.add('f16_big_range_divisor', as_dtype(s(2, 3, 3, 3) * 6e4, 'float16'), 'float16', 'NCHW', normalize=True,
          value_range=[-60000.0, 60000.0])
    w.add('f32_batch_of_one_pad_overflow_unused', f32(u(1, 3, 2, 2)), 'float32', 'NCHW', pad_value=1e39)
    # 16-bit output (our extension)
    w.add('f32_16bit_value_range', f32(s(3, 3, 5, 4) * 1.1), 'float32', 'NCHW', bit_depth=16, normalize=True,
          value_range=[-1.0, 1.0], pad_value=0.5)
    w.add('f64_16bit', as_dtype(u(2, 3, 4, 4) * 1.2 - 0.1, 'float64'), 'float64', 'NCHW', bit_depth=16)
    w.add('bf16_16bit_minmax', as_dtype(u(2, 1, 4, 4) * 9, 'bfloat16'), 'bfloat16', 'NCHW', bit_depth=16,
          normalize=True, keep_gray=True)
    w.add('f16_16bit_nonfinite', as_dtype(np.array([[0.5, np.nan], [np.inf, -np.inf]]), 'float16'), 'float16',
          'HW', bit_depth=16)
    # integer tensors (our extension)
    w.add('u8_pixels', rng.integers(0, 256, (3, 3, 4, 5)).astype(np.uint8), 'uint8', 'NCHW', pad_value=0.5)
    w.add('u8_hwc_gray_keep', rng.integers(0, 256, (4, 5, 1)).astype(np.uint8), 'uint8', 'HWC', keep_gray=True)
    w.add('u16_pixels', rng.integers(0, 65536, (2, 3, 3, 4)).astype(np.uint16), 'uint16', 'NHWC', bit_depth=16,
          pad_value=1.0)
    # Exhaustive 16-bit tables: every float16 / bfloat16 bit pattern through normalize + quantize.
    for dt in ('float16', 'bfloat16'):
        vals = all16_values(dt)
        kw = dict(all16=True, keep_gray=True)
        w.add(dt + '_all_plain', vals, dt, 'HW', **kw)
        w.add(dt + '_all_value_range', vals, dt, 'HW', normalize=True, value_range=[-1.0, 1.0], **kw)
        w.add(dt + '_all_value_range_inexact', vals, dt, 'HW', normalize=True, value_range=[0.1, 0.9], **kw)
        # Bounds that are dtype values whose difference (a Python float) is not: as min/max gives.
        lo, hi = float(as_dtype(np.array([-0.0999755859375]), dt)[0]), float(as_dtype(np.array([7.3125]), dt)[0])
        w.add(dt + '_all_minmax_like', vals, dt, 'HW', normalize=True, value_range=[lo, hi], **kw)
        w.add(dt + '_all_16bit', vals, dt, 'HW', bit_depth=16, normalize=True, value_range=[-1.0, 1.0], **kw)


def oracle_cases(w, seed):
    """Large random cases (not committed): millions of float32 values, plus other dtypes."""
    rng = np.random.default_rng(seed)

    def mixed_f32(shape, scale, shift):
        n = int(np.prod(shape))
        a = (rng.standard_normal(n) * scale + shift).astype(np.float32)
        k = n // 8  # some random bit patterns: subnormals, huge values, inf, NaN
        a[rng.integers(0, n, k)] = rng.integers(0, 2**32, k, dtype=np.uint64).astype(np.uint32).view(np.float32)
        return a.reshape(shape)

    shape = (8, 3, 160, 272)  # 1,044,480 values each
    w.add('oracle_f32_plain', mixed_f32(shape, 0.6, 0.5), 'float32', 'NCHW')
    w.add('oracle_f32_value_range', (rng.standard_normal(shape) * 0.7).astype(np.float32), 'float32', 'NCHW',
          normalize=True, value_range=[-1.0, 1.0])
    w.add('oracle_f32_value_range_inexact', (rng.standard_normal(shape) * 0.7).astype(np.float32), 'float32',
          'NCHW', normalize=True, value_range=[-0.3, 0.77])
    w.add('oracle_f32_scale_each', (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, (8, 1, 1, 1)))
          .astype(np.float32), 'float32', 'NCHW', normalize=True, scale_each=True)
    w.add('oracle_f32_minmax_nhwc', rng.uniform(-3, 5, (8, 160, 272, 3)).astype(np.float32), 'float32', 'NHWC',
          normalize=True)
    w.add('oracle_f64_minmax', rng.uniform(-0.2, 1.3, (4, 3, 64, 64)), 'float64', 'NCHW', normalize=True)
    for dt in ('float16', 'bfloat16'):
        a = as_dtype(rng.standard_normal((6, 3, 64, 80)) * 3, dt)
        w.add('oracle_%s_scale_each' % dt, a, dt, 'NCHW', normalize=True, scale_each=True, nrow=4)
        w.add('oracle_%s_minmax' % dt, a, dt, 'NCHW', normalize=True, nrow=5, padding=3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--oracle', metavar='DIR', help='write large random cases into DIR instead')
    ap.add_argument('--seed', type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.oracle:
        w = Writer(args.oracle)
        oracle_cases(w, args.seed)
    else:
        w = Writer(os.path.join(HERE, 'data'))
        committed_cases(w)
    w.finish()
    return 0


if __name__ == '__main__':
    sys.exit(main())
