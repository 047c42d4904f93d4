"""Pixels written by imgsinkd (pushed with the C++ client) equal torchvision.utils.save_image's."""
import json
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from daemon_process import bin_dir
from torch_reference import (DTYPE_NAMES, natural_batch, pil_jpeg_pixels, save_image_pixels,
                             tensor_bytes, torch_options_to_wire)

LAYOUTS = {2: "HW", 3: "CHW", 4: "NCHW"}


def push_with_cpp_client(daemon, tmp_path, tensor, path, options):
    request = {"dtype": DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape),
               "layout": LAYOUTS[tensor.dim()], "path": path, **torch_options_to_wire(options)}
    (tmp_path / "request.json").write_text(json.dumps(request))
    (tmp_path / "tensor.bin").write_bytes(tensor_bytes(tensor))
    proc = subprocess.run([str(bin_dir() / "push_raw"), "--endpoint", daemon.endpoint,
                           "--request", str(tmp_path / "request.json"),
                           "--tensor", str(tmp_path / "tensor.bin")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr + daemon.log()
    return daemon.output_root / path


def pngcheck(path):
    proc = subprocess.run(["pngcheck", "-q", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


B = natural_batch(6, 3, 17, 23, seed=1)
CASES = {
    "f32_minus1_1_value_range": (B, dict(normalize=True, value_range=(-1, 1))),
    "f32_0_1_plain": ((B + 1) / 2, dict()),
    "f32_out_of_range_plain": (B * 1.5, dict()),
    "f32_normalize_minmax": (B, dict(normalize=True)),
    "f32_scale_each": (B, dict(normalize=True, scale_each=True)),
    "f32_scale_each_value_range": (B, dict(normalize=True, value_range=(-0.5, 0.5), scale_each=True)),
    "one_channel": (B[:, :1], dict(normalize=True, value_range=(-1, 1))),
    "two_dim": (B[0, 0], dict(normalize=True)),
    "three_dim": (B[0], dict(normalize=True, value_range=(-1, 1))),
    "four_channels_rgba": (natural_batch(3, 4, 9, 9, seed=2), dict(normalize=True)),
    "nrow_not_dividing": (B, dict(nrow=4, normalize=True, value_range=(-1, 1))),
    "nrow_larger_than_b": (B, dict(nrow=10, normalize=True)),
    "padding_0": (B, dict(padding=0, normalize=True, value_range=(-1, 1))),
    "padding_5": (B, dict(padding=5, normalize=True, value_range=(-1, 1))),
    "pad_value_1": (B, dict(pad_value=1.0, normalize=True, value_range=(-1, 1))),
    "pad_value_half": (B, dict(pad_value=0.5, padding=3)),
    "single_pixel": (torch.tensor([[[0.25]], [[0.5]], [[1.0]]]), dict()),
    "single_image_batch": (B[:1], dict(padding=4, normalize=True)),
    "f16": (B.half(), dict(normalize=True, value_range=(-1, 1))),
    "f16_minmax": (B.half(), dict(normalize=True, scale_each=True)),
    "f16_plain": (((B + 1) / 2).half(), dict()),
    "bf16": (B.bfloat16(), dict(normalize=True, value_range=(-1, 1))),
    "bf16_minmax": (B.bfloat16(), dict(normalize=True)),
    "f64": (B.double(), dict(normalize=True, value_range=(-1, 1))),
    "nan_inf": (torch.tensor([[[float("nan"), float("inf")], [float("-inf"), 0.5]]] * 3), dict()),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_png_matches_torchvision(daemon, tmp_path, name):
    tensor, options = CASES[name]
    written = push_with_cpp_client(daemon, tmp_path, tensor, f"exact/{name}.png", options)
    pngcheck(written)
    got = np.asarray(Image.open(written))
    want = save_image_pixels(tensor, **options)
    assert got.shape == want.shape
    assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} samples differ"


def test_each_mode_matches_save_image_per_image(daemon, tmp_path):
    options = dict(normalize=True, value_range=(-1, 1), mode="each")
    push_with_cpp_client(daemon, tmp_path, B, "each/{index:03d}.png", options)
    for i in range(B.shape[0]):
        path = daemon.output_root / f"each/{i:03d}.png"
        pngcheck(path)
        want = save_image_pixels(B[i], normalize=True, value_range=(-1, 1))
        assert np.array_equal(np.asarray(Image.open(path)), want)


def test_jpeg_with_defaults_matches_save_image_jpeg(daemon, tmp_path):
    # torchvision hands PIL no JPEG options (quality 75, 4:2:0); TurboJPEG with the accurate DCT
    # then decodes to the very same pixels.
    big = natural_batch(4, 3, 40, 52, seed=3)
    options = dict(normalize=True, value_range=(-1, 1))
    written = push_with_cpp_client(daemon, tmp_path, big, "j/default.jpg", options)
    djpeg(written, tmp_path)
    want = save_image_pixels(big, fmt="jpeg", **options)
    assert np.array_equal(np.asarray(Image.open(written)), want)


@pytest.mark.parametrize("quality,subsampling", [(95, "444"), (50, "422"), (90, "420")])
def test_jpeg_options_match_pil(daemon, tmp_path, quality, subsampling):
    big = natural_batch(4, 3, 40, 52, seed=3)
    options = dict(normalize=True, value_range=(-1, 1), jpeg_quality=quality,
                   jpeg_subsampling=subsampling)
    written = push_with_cpp_client(daemon, tmp_path, big, f"j/{subsampling}.jpg", options)
    djpeg(written, tmp_path)
    grid = save_image_pixels(big, normalize=True, value_range=(-1, 1))
    want = pil_jpeg_pixels(grid, quality, subsampling)
    assert np.array_equal(np.asarray(Image.open(written)), want)


def djpeg(path, tmp_path):
    proc = subprocess.run(["djpeg", "-outfile", str(tmp_path / "d.ppm"), str(path)],
                          capture_output=True)
    assert proc.returncode == 0, proc.stderr


def test_keep_gray_writes_a_gray_png(daemon, tmp_path):
    options = dict(normalize=True, value_range=(-1, 1), keep_gray=True)
    written = push_with_cpp_client(daemon, tmp_path, B[:, :1], "gray.png", options)
    pngcheck(written)
    img = Image.open(written)
    assert img.mode == "L"
    want = save_image_pixels(B[:, :1], normalize=True, value_range=(-1, 1))
    assert np.array_equal(np.asarray(img), want[:, :, 0])


def test_png_16_bit_gray(daemon, tmp_path):
    # 16-bit output is our extension: x65535 + 0.5, clamp, truncate, in float32.  A gray image
    # keeps the check simple: PIL decodes 16-bit gray PNGs exactly (mode I;16).
    t = natural_batch(1, 1, 8, 8, seed=4)[0]
    written = push_with_cpp_client(daemon, tmp_path, t, "deep.png",
                                   dict(normalize=True, value_range=(-1, 1), png_bits=16,
                                        keep_gray=True))
    pngcheck(written)
    img = Image.open(written)
    assert img.mode in ("I", "I;16"), img.mode  # PIL widens 16-bit gray to 32-bit "I"
    got = np.asarray(img).astype(np.int64)
    n = ((t[0].clamp(-1, 1) + 1) / 2).numpy().astype(np.float32)
    want = np.clip(n * np.float32(65535) + np.float32(0.5), 0, 65535).astype(np.int64)
    assert np.abs(got - want).max() <= 1
