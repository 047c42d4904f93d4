#!/usr/bin/python3
"""Re-derives the torch arithmetic that daemon/render/EXACTNESS.md documents (not a test; ~1 min).

For each dtype and each scalar op save_image uses (mul, add, sub, div, clamp), compares torch's
result bit for bit against candidate models and prints which models match:
  cast    scalar converted to the dtype (double -> float -> dtype), op in float, rounded back
  opmath  scalar kept as float, op in float, rounded back
  double  op in double on the exact Python scalar, rounded once
  recip   division as a * (1 / b) with the cast scalar
float16/bfloat16: all 65536 bit patterns; float32/float64: 3M random values (uniform, wide
exponents, random bit patterns).  Both torch kernel paths run: vectorized (contiguous) and
scalar (strided view).  Then checks the scalar double rounding, the overflow checks, and what
NaN/inf become in save_image's uint8 conversion.
"""
import numpy as np
import torch
import torchvision.utils as vutils

torch.set_num_threads(1)
SCALARS = [1e-5, 0.1, 1 / 3, 2.0, 255, 0.5, -0.7, 3.14159, 1e-3, 1.7777777, 1e-7, 300.123]
OPS = {'mul': np.multiply, 'add': np.add, 'sub': np.subtract, 'div': np.divide}


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    bits = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
    return (a.view(bits) == b.view(bits)) | (np.isnan(a) & np.isnan(b))


def reduced(dtype):
    bits = np.arange(65536, dtype=np.uint16)
    x = torch.from_numpy(bits.view(np.int16).copy()).view(dtype)
    to = lambda v: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)).to(dtype)
    xf = x.float().numpy()
    for name, f in OPS.items():
        matches = None
        for s in SCALARS:
            s_cast = to(np.array([np.float32(s)])).float().numpy()[0]
            with np.errstate(all='ignore'):
                cands = {'cast': to(f(xf, s_cast)), 'opmath': to(f(xf, np.float32(s))),
                         'double': torch.from_numpy(f(xf.astype(np.float64), s)).to(dtype)}
                if name == 'div':
                    cands['recip'] = to(xf * (np.float32(1) / s_cast))
            strided = torch.zeros(131072, dtype=dtype)[::2]
            strided.copy_(x)
            for inp in (x, strided):
                got = getattr(inp.clone(), name + '_')(s).float().numpy()
                ok = {k for k, v in cands.items() if same(got, v.float().numpy()).all()}
                matches = ok if matches is None else matches & ok
        print(f'{str(dtype):15} {name}: models matching every scalar: {sorted(matches)}')


def full_precision(dtype, np_dtype):
    rng = np.random.default_rng(1)
    n = 1_000_000
    raw = (rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)
           if np_dtype == np.float32 else rng.integers(0, 2**63, n, dtype=np.int64).view(np.float64))
    with np.errstate(all='ignore'):
        v = np.concatenate([rng.uniform(-2, 2, n), rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n),
                            raw.astype(np.float64)]).astype(np_dtype)
    x = torch.from_numpy(v)
    strided = torch.zeros(2 * len(v), dtype=dtype)[::2]
    strided.copy_(x)
    for name, f in OPS.items():
        bad = {}
        for s in SCALARS:
            with np.errstate(all='ignore'):
                cands = {'cast': f(v, np_dtype(s)), 'double': f(v.astype(np.float64), s).astype(np_dtype)}
                if name == 'div':
                    cands['recip'] = v * (np_dtype(1) / np_dtype(s))
            for inp in (x, strided):
                got = getattr(inp.clone(), name + '_')(s).numpy()
                for k, c in cands.items():
                    bad[k] = bad.get(k, 0) + int((~same(got, c)).sum())
        print(f'{str(dtype):15} {name}: mismatches per model over {6 * len(SCALARS)}M results: {bad}')


def scalar_conversions():
    for dtype, eps in ((torch.float16, 2**-11), (torch.bfloat16, 2**-8)):
        s = 1 + eps + 2**-40  # rounds to 1 + 2*eps directly, to 1 via float (tie to even)
        print(f'{str(dtype):15} ones.mul({s!r}) = {torch.ones(1, dtype=dtype).mul(s).item()}, '
              f'full = {torch.full((1,), s, dtype=dtype).item()}  (1.0 means double -> float -> dtype)')
    for dtype, big in ((torch.float16, 65519.0), (torch.bfloat16, 3.4e38), (torch.float32, 1e39)):
        for what, fn in (('clamp', lambda t: t.clamp(-big, big)), ('new_full', lambda t: t.new_full((1,), big)),
                         ('sub', lambda t: t.sub(big)), ('div', lambda t: t.div(big))):
            try:
                r = fn(torch.zeros(1, dtype=dtype)).tolist()
            except RuntimeError as e:
                r = 'RuntimeError: ' + str(e).splitlines()[0]
            print(f'{str(dtype):15} {what}({big}) -> {r}')


def non_finite():
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        for special in (float('nan'), float('-nan'), float('inf'), float('-inf')):
            seen = set()
            for h, w in ((1, 1), (1, 7), (3, 5), (8, 8), (17, 19), (64, 33)):
                for pos in range(0, 3 * h * w, max(1, 3 * h * w // 40)):
                    t = torch.rand(3, h, w, dtype=torch.float64).to(dtype)
                    t.view(-1)[pos] = special
                    g = vutils.make_grid(t)
                    a = g.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to('cpu', torch.uint8).numpy()
                    c, rem = divmod(pos, h * w)
                    seen.add(int(a[rem // w, rem % w, c]))
            print(f'{str(dtype):15} {special} -> uint8 {sorted(seen)}')
    try:
        vutils.save_image(torch.rand(3, 2, 2).half(), '/dev/null', format='png')
        print('float16 save_image: ok')
    except RuntimeError as e:
        print('float16 save_image: RuntimeError:', e)


if __name__ == '__main__':
    print(torch.__version__, torch.__config__.show().split('CPU capability usage: ')[1].split()[0])
    reduced(torch.float16)
    reduced(torch.bfloat16)
    full_precision(torch.float32, np.float32)
    full_precision(torch.float64, np.float64)
    scalar_conversions()
    non_finite()
