"""prepare_cuda on CPU tensors gives exactly torchvision.utils.save_image's pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imgsink import prepare_cuda
from matrix import CASES, DTYPES, torchvision_png


def _expected_or_error(make, dt, opts):
    try:
        return torchvision_png(make(dt), **opts), None
    except Exception as e:  # e.g. torch 1.13 has no CPU clamp for float16
        return None, e


def _as_rgb(pixels: np.ndarray) -> np.ndarray:
    """prepare_cuda keeps 1 channel where make_grid repeats it 3 times; PIL saves RGB."""
    return np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_grid_matches_torchvision(case, dtype):
    dt = DTYPES[dtype]
    expected, error = _expected_or_error(case.make, dt, case.opts)
    if error is not None:
        with pytest.raises(type(error)):
            prepare_cuda(case.make(dt), **case.opts)
        return
    pixels, event = prepare_cuda(case.make(dt), **case.opts)
    assert event is None
    assert pixels.dtype == torch.uint8 and pixels.is_contiguous()
    got = pixels.numpy()
    if expected.ndim == 2:  # PIL gives gray images as HW; never the case after make_grid
        expected = expected[..., None]
    assert _as_rgb(got).shape == expected.shape
    np.testing.assert_array_equal(_as_rgb(got), expected)


EACH_CASES = [c for c in CASES if not isinstance(c.make(torch.float32), list)
              and c.make(torch.float32).dim() == 4]


@pytest.mark.parametrize("dtype", ["f32", "bf16", "f64"])
@pytest.mark.parametrize("case", EACH_CASES, ids=[c.name for c in EACH_CASES])
def test_each_matches_torchvision_per_image(case, dtype):
    dt = DTYPES[dtype]
    t = case.make(dt)
    opts = {k: v for k, v in case.opts.items() if k in ("normalize", "value_range")}
    pixels, event = prepare_cuda(t, each=True, **opts)
    assert event is None and pixels.shape[0] == t.shape[0]
    for i in range(t.shape[0]):
        expected = torchvision_png(t[i], **opts)
        np.testing.assert_array_equal(_as_rgb(pixels[i].numpy()), expected)


def test_each_accepts_a_list_of_2d_images():
    images = [torch.rand(5, 6) for _ in range(3)]
    pixels, _ = prepare_cuda(images, each=True, normalize=True)
    assert pixels.shape == (3, 5, 6, 1)
    for i, img in enumerate(images):
        np.testing.assert_array_equal(_as_rgb(pixels[i].numpy()),
                                      torchvision_png(img, normalize=True))


def test_does_not_modify_its_input():
    t = torch.rand(4, 3, 5, 5) * 4 - 2
    before = t.clone()
    prepare_cuda(t, normalize=True)
    prepare_cuda(t, each=True, normalize=True)
    assert torch.equal(t, before)


def test_value_range_must_be_a_tuple_like_torchvision():
    t = torch.rand(2, 3, 4, 4)
    with pytest.raises(TypeError):
        prepare_cuda(t, normalize=True, value_range=[0, 1], each=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cuda_matches_torchvision_cuda(case):
    for dt in DTYPES.values():
        t = case.make(dt)
        t = [x.cuda() for x in t] if isinstance(t, list) else t.cuda()
        expected = torchvision_png(t, **case.opts)
        pixels, event = prepare_cuda(t, **case.opts)
        assert pixels.is_pinned()
        event.synchronize()
        np.testing.assert_array_equal(_as_rgb(pixels.numpy()), expected)
