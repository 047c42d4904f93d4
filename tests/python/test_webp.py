"""WebP through the real imgsinkd: lossless files decode to torchvision's rendering exactly,
lossy ones close to it; PIL's `quality`/`lossless` keywords mean what they mean to PIL."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import torch
import torchvision.utils
from PIL import Image, features

from imgsink import _fallback, _options
from matrix import torchvision_png

pytestmark = pytest.mark.skipif(not features.check("webp"), reason="PIL lacks WebP")


def _natural(n: int, c: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    y = torch.linspace(0, 1, h).view(h, 1)
    x = torch.linspace(0, 1, w).view(1, w)
    base = torch.stack([torch.sin(3 * x + 2 * y + ch) * 0.5 + 0.5 for ch in range(c)])
    return (base.expand(n, c, h, w) + 0.005 * torch.randn(n, c, h, w, generator=g)).clamp(0, 1)


def _decoded(path: str):
    with Image.open(path) as im:
        assert im.format == "WEBP"
        return np.array(im)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_lossless_webp_is_torchvisions_pixels(daemon, channels):
    t = _natural(5, channels, 20, 24, seed=channels)
    path = f"webp/lossless_{channels}.webp"
    daemon.client.save_image(t, path, lossless=True).result(60)
    got = _decoded(os.path.join(daemon.out, path))
    expected = torchvision_png(t)  # make_grid repeats 1 channel to RGB, as WebP needs
    assert got.shape == expected.shape
    assert np.array_equal(got, expected), f"{np.count_nonzero(got != expected)} samples differ"


def test_lossless_webp_of_keep_gray_is_rgb(daemon):
    t = _natural(4, 1, 16, 16, seed=9)
    daemon.client.save_image(t, "webp/gray.webp", keep_gray=True,
                             webp_lossless=True).result(60)
    got = _decoded(os.path.join(daemon.out, "webp/gray.webp"))
    gray = torchvision_png(t)[..., 0]
    assert got.shape == gray.shape + (3,)  # WebP has no gray: R = G = B
    for c in range(3):
        assert np.array_equal(got[..., c], gray)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_lossy_webp_is_close_to_torchvision(daemon, channels):
    t = _natural(4, channels, 64, 64, seed=10 + channels)
    path = f"webp/lossy_{channels}.webp"
    daemon.client.save_image(t, path).result(60)  # PIL's default: lossy, quality 80
    got = _decoded(os.path.join(daemon.out, path))
    expected = torchvision_png(t)
    assert got.shape == expected.shape
    visible = np.ones(expected.shape[:2], bool)
    if channels == 4:
        # Alpha is kept exactly (alpha quality 100); lossy WebP, like PIL's, does not keep
        # the colour under fully transparent pixels (the grid's padding), so it is not compared.
        assert np.array_equal(got[..., 3], expected[..., 3])
        visible = expected[..., 3] > 0
    assert _psnr(got[visible], expected[visible]) > 30
    # The settings are PIL's: torchvision's own file is the same file.
    buf = io.BytesIO()
    torchvision.utils.save_image(t, buf, format="webp")
    with open(os.path.join(daemon.out, path), "rb") as f:
        assert f.read() == buf.getvalue()


def test_quality_keyword_is_webps_for_webp(daemon):
    t = _natural(4, 3, 32, 32, seed=3)
    daemon.client.save_image(t, "webp/q10.webp", quality=10).result(60)
    daemon.client.save_image(t, "webp/q95.webp", quality=95).result(60)
    daemon.client.save_image(t, "webp/q0.png", format="webp", webp_quality=0).result(60)
    small = os.path.getsize(os.path.join(daemon.out, "webp/q10.webp"))
    large = os.path.getsize(os.path.join(daemon.out, "webp/q95.webp"))
    assert large > small
    assert _decoded(os.path.join(daemon.out, "webp/q0.png")).shape == (36, 138, 3)


def test_quality_keyword_maps_by_format():
    enc = _options.encoder_options({"quality": 0})
    assert _options.for_format(enc, "webp") == {"webp_quality": 0}
    with pytest.raises(ValueError):
        _options.for_format(enc, "jpeg")  # JPEG's quality is 1..100
    assert _options.for_format(_options.encoder_options({"quality": 90}), None) == {
        "jpeg_quality": 90}
    with pytest.raises(TypeError):
        _options.for_format(_options.encoder_options({"quality": 9, "webp_quality": 9}), "webp")
    with pytest.raises(ValueError):
        _options.encoder_options({"webp_quality": 101})
    with pytest.raises(TypeError):
        _options.encoder_options({"lossless": 1})


def test_file_object_is_written_as_webp_in_process(daemon):
    t = _natural(2, 3, 8, 8, seed=4)
    buf = io.BytesIO()
    daemon.client.save_image(t, buf, format="WEBP", lossless=True).result(60)
    buf.seek(0)
    with Image.open(buf) as im:
        assert im.format == "WEBP"
        assert np.array_equal(np.array(im), torchvision_png(t))


def test_in_process_writer_passes_webp_options_to_pil():
    enc = {"webp_quality": 50, "webp_lossless": True, "jpeg_quality": 90}
    assert _fallback._pil_params(dict(enc), None, "a/b.webp") == {"quality": 50,
                                                                "lossless": True}
    assert _fallback._pil_params(dict(enc), "webp", io.BytesIO()) == {"quality": 50,
                                                                    "lossless": True}
    assert _fallback._pil_params(dict(enc), None, "a/b.jpg") == {"quality": 90}
