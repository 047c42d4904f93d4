"""Argument checking: mistakes raise TypeError/ValueError before anything is sent."""

from __future__ import annotations

import io
import os
import pathlib

import numpy as np
import pytest
import torch
import torchvision.utils as tvu

import imgsink
from imgsink import _options, _paths, _protocol
from imgsink._tensor import make_payload


@pytest.fixture
def client(endpoint):
    c = imgsink.Client(endpoint, timeout=0.5)  # nothing listens there
    yield c
    assert c.pending() == 0, "a refused call must not leave a request behind"
    c.close(timeout=0)


IMG = torch.rand(2, 3, 4, 4)


def test_range_keyword_is_a_type_error(client):
    with pytest.raises(TypeError, match="range"):
        client.save_image(IMG, "a.png", range=(0, 1))


def test_unknown_option_is_a_type_error(client):
    with pytest.raises(TypeError, match="optimize"):
        client.save_image(IMG, "a.png", optimize=True)


def test_option_given_twice_is_a_type_error(client):
    with pytest.raises(TypeError, match="png_level"):
        client.save_image(IMG, "a.png", png_level=1, compress_level=2)


def test_file_object_is_written_in_process_but_not_a_template(client):
    buf = io.BytesIO()
    client.save_image(IMG, buf, format="png").result(0)  # as torchvision: written at once
    assert buf.getvalue().startswith(b"\x89PNG")
    with pytest.raises(TypeError, match="file object"):
        client.save_images(IMG[None], io.BytesIO(), format="png")


@pytest.mark.parametrize("bad", [np.zeros((2, 3, 4, 4), np.int32), torch.zeros(2, 3, 4, 4,
                                 dtype=torch.int64), torch.zeros(3, 4, 4, dtype=torch.bool)])
def test_unsupported_dtype_is_a_type_error(client, bad):
    with pytest.raises(TypeError, match="dtype"):
        client.save_image(bad, "a.png")


@pytest.mark.parametrize("bad", [[1, 2, 3], "tensor", None, [torch.rand(3, 2, 2), 5]])
def test_non_tensor_is_a_type_error(client, bad):
    with pytest.raises(TypeError, match="tensor"):
        client.save_image(bad, "a.png")


@pytest.mark.parametrize("shape", [(5,), (1, 1, 1, 1, 1), (3, 0, 4), (5, 8, 8), (2, 6, 3, 3)])
def test_bad_shape_is_a_value_error(client, shape):
    with pytest.raises(ValueError):
        client.save_image(torch.rand(shape), "a.png")


# Absolute paths and '..' are the daemon's path mode's to judge (sent as written): only what
# names no file in any mode is refused here.
@pytest.mark.parametrize("fp", ["dir/", "", "a\0b.png", "a/..", "a/.", "/", "..", "\udcff.png"])
def test_bad_path_is_a_value_error(client, fp):
    with pytest.raises(ValueError):
        client.save_image(IMG, fp)


def test_unknown_extension_is_a_value_error_like_pil(client):
    with pytest.raises(ValueError, match="extension"):
        client.save_image(IMG, "a.tiff")
    with pytest.raises(ValueError, match="unsupported format 'gif'"):
        client.save_image(IMG, "a.png", format="gif")


def test_jpeg_cannot_take_alpha(client):
    with pytest.raises(ValueError, match="JPEG"):
        client.save_image(torch.rand(1, 4, 3, 3), "a.jpg")


@pytest.mark.parametrize("kw", [{"nrow": 0}, {"padding": -1}, {"png_level": 10},
                                {"quality": 0}, {"png_bits": 12}, {"subsampling": "4:1:1"},
                                {"png_filter": "best"}, {"policy": "wait"},
                                {"metadata": {f"k{i}": "v" for i in range(65)}}])
def test_out_of_range_option_is_a_value_error(client, kw):
    with pytest.raises(ValueError):
        client.save_image(IMG, "a.png", **kw)


@pytest.mark.parametrize("kw", [{"nrow": 2.0}, {"normalize": "yes"}, {"pad_value": "0"},
                                {"metadata": {"step": [1]}}, {"metadata": "step=1"},
                                {"quality": "high"}])
def test_wrong_type_is_a_type_error(client, kw):
    with pytest.raises(TypeError):
        client.save_image(IMG, "a.png", **kw)


def test_value_range_must_be_a_tuple_like_torchvision(client):
    with pytest.raises(TypeError):
        tvu.make_grid(IMG, normalize=True, value_range=[0, 1])
    with pytest.raises(TypeError, match="tuple"):
        client.save_image(IMG, "a.png", normalize=True, value_range=[0, 1])


def test_uint8_cannot_be_normalized(client):
    with pytest.raises(ValueError, match="uint8"):
        client.save_image(torch.zeros(3, 4, 4, dtype=torch.uint8), "a.png", normalize=True)


def test_save_images_needs_a_template_and_a_batch(client):
    with pytest.raises(ValueError, match="index"):
        client.save_images(IMG, "out/img.png")
    with pytest.raises(ValueError, match="unknown field"):
        client.save_images(IMG, "out/{i}.png")
    with pytest.raises(ValueError, match="batch"):
        client.save_images(IMG[0], "out/{index}.png")


@pytest.mark.parametrize("tmpl,meta", [
    ("{index:4d}.png", {}),             # only d and 0Nd specs
    ("{index:010d}.png", {}),           # N in 1..9
    ("{index!r}.png", {}),
    ("{index}{.png", {}),
    ("{index}}.png", {}),
    ("{run:03d}/{index}.png", {"run": "abc"}),   # text takes no spec
    ("{index}.png", {"index": "3"}),    # clashes with {index}
    ("{index}{run}", {"run": "/.."}),            # names a directory
    ("{index}/{run}", {"run": ""}),              # ends with '/'
])
def test_bad_templates_are_value_errors(client, tmpl, meta):
    with pytest.raises(ValueError):
        client.save_images(IMG, tmpl, metadata=meta)


def test_closed_client_refuses(endpoint):
    c = imgsink.Client(endpoint)
    c.close()
    with pytest.raises(imgsink.ImgsinkError) as e:
        c.save_image(IMG, "a.png")
    assert e.value.code == "disconnected"


# -- mapping of names and values ---------------------------------------------------------------


def test_pil_names_map_to_protocol_keys():
    got = _options.for_format(_options.encoder_options(
        {"compress_level": 3, "quality": 90, "subsampling": 0,
         "metadata": {"step": 100, "tag": "x"}, "keep_gray": True, "png_bits": 16,
         "png_filter": "paeth", "png_strategy": "rle", "policy": "drop"}), "jpeg")
    assert got == {"png_level": 3, "jpeg_quality": 90, "jpeg_subsampling": "444",
                   "meta": {"step": "100", "tag": "x"}, "keep_gray": True, "png_bits": 16,
                   "png_filter": "paeth", "png_strategy": "rle", "policy": "drop"}
    for value, name in [("4:2:2", "422"), (2, "420"), (-1, "420"), ("444", "444")]:
        assert _options.encoder_options({"subsampling": value}) == {"jpeg_subsampling": name}


def test_png_preset_sets_the_three_png_options_and_explicit_ones_win():
    assert _options.encoder_options({"png_preset": "pil"}) == {
        "png_level": 6, "png_filter": "all", "png_strategy": "default"}
    assert _options.encoder_options({"png_preset": "fast"}) == {
        "png_level": 1, "png_filter": "paeth", "png_strategy": "rle"}
    assert _options.encoder_options({"png_preset": "pil", "compress_level": 9}) == {
        "png_level": 9, "png_filter": "all", "png_strategy": "default"}
    with pytest.raises(ValueError, match="png_preset must be one of fast, pil"):
        _options.encoder_options({"png_preset": "best"})
    with pytest.raises(TypeError, match="png_preset must be a str"):
        _options.encoder_options({"png_preset": 6})


def test_png_defaults_are_the_fast_preset():
    # The wire default (PROTOCOL.md) and the C++ PngOptions default are the fast preset too.
    fast = _options.PNG_PRESETS["fast"]
    assert {k: _protocol.SAVE_DEFAULTS[k] for k in fast} == fast


def test_paths_are_sent_as_written_and_pathlike_accepted():
    # PROTOCOL.md "Paths": the daemon's path mode resolves them, not the client.
    assert _paths.literal_path("./a//b/./c.png") == "./a//b/./c.png"
    assert _paths.literal_path("/abs/../x.png") == "/abs/../x.png"
    assert _paths.literal_path("../up.png") == "../up.png"
    assert _paths.literal_path(pathlib.Path("x/y.jpg")) == "x/y.jpg"
    assert _paths.literal_path(pathlib.Path("/x/y.jpg")) == "/x/y.jpg"
    assert _paths.literal_path(b"x/y.png") == "x/y.png"
    assert _paths.template_path("s/{index:04d}_{{x}}.png", {}) == "s/{index:04d}_{{x}}.png"
    assert _paths.template_path("/d/../s/{index}.png", {}) == "/d/../s/{index}.png"


def test_relative_paths_carry_the_working_directory_at_the_call(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _paths.cwd_for("a.png") == str(tmp_path)
    assert _paths.cwd_for("../a.png") == str(tmp_path)
    assert _paths.cwd_for("/abs/a.png") is None
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert _paths.cwd_for("a.png") == str(sub)
    # Same-file ordering keys on the file named, not the spelling.
    assert _paths.order_key("./a//b.png", str(sub)) == _paths.order_key("a/b.png", str(sub)) \
        == _paths.order_key(str(sub / "a" / "b.png"), None)
    assert _paths.order_key("a.png", str(sub)) != _paths.order_key("a.png", str(tmp_path))


def test_save_image_paths_are_literal_like_torchvision():
    path = _paths.literal_path("runs/{step}/a}b.png")  # torchvision writes this very name
    assert path == "runs/{{step}}/a}}b.png"
    assert _paths.expand(path, {"step": "5"}) == "runs/{step}/a}b.png"


def test_templates_expand_like_the_daemon_and_python():
    meta = {"rank": "3", "run": "gan", "step": "-7"}
    for tmpl in ["r{rank}/{step:03d}/{run}_{index:04d}.png", "{index:d}_{step:d}.png",
                 "{{literal}}_{index}.png", "{rank:01d}{index:9d}.png".replace(":9d", ":09d")]:
        ints = {k: int(v) for k, v in meta.items() if k != "run"}
        expected = tmpl.format(index=12, run="gan", **ints)
        assert _paths.expand(tmpl, meta, index=12) == expected
    assert _paths.template_path("{run}/{index}.png", meta) == "{run}/{index}.png"


def test_format_argument_and_inference():
    assert _paths.output_format("a.bin", "PNG") == "png"
    assert _paths.output_format("a.bin", "JPEG") == "jpeg"
    assert _paths.output_format("a.bin", "jpg") == "jpeg"
    assert _paths.output_format("a.JPEG", None) is None
    assert _paths.output_format("a/{index}.jfif", None) is None
    # The daemon infers from the template as sent, not from an expansion: an extension made of
    # a template field is refused here as it would be there (pass format= instead).
    with pytest.raises(ValueError):
        _paths.output_format("a/{index}.{ext}", None)
    with pytest.raises(ValueError):
        _paths.output_format("a.gif", None)
    with pytest.raises(ValueError):
        _paths.output_format("a.bin", "gif")
    for path, fmt in [("a.png", "png"), ("a.JPG", "jpeg"), ("a.jpe", "jpeg"),
                      ("a.jfif", "jpeg"), ("a.gif", None), ("dir.png/a", None)]:
        assert _protocol.infer_format(path) == fmt


# -- tensor -> payload ---------------------------------------------------------------------------

RENDER = _options.render_options(8, 2, False, None, False, 0.0)


def test_contiguous_cpu_tensor_is_sent_without_copy():
    t = torch.rand(2, 3, 70, 70)
    p = make_payload(t, each=False, render=RENDER, copy=False)
    assert (p.dtype, p.shape, p.layout, p.private) == ("float32", [2, 3, 70, 70], "NCHW",
                                                      False)
    assert p.data.__array_interface__["data"][0] == t.data_ptr()
    assert bytes(p.data) == t.numpy().tobytes()


def test_channels_last_is_sent_as_nhwc_without_copy():
    t = torch.rand(2, 3, 5, 6).contiguous(memory_format=torch.channels_last)
    p = make_payload(t, each=False, render=RENDER, copy=False)
    assert (p.shape, p.layout, p.private) == ([2, 5, 6, 3], "NHWC", False)
    assert bytes(p.data) == t.permute(0, 2, 3, 1).contiguous().numpy().tobytes()
    hwc = np.random.rand(5, 6, 3).astype(np.float32).transpose(2, 0, 1)  # CHW view of HWC
    p = make_payload(hwc, each=False, render=RENDER, copy=False)
    assert (p.shape, p.layout, p.private) == ([5, 6, 3], "HWC", False)


def test_non_contiguous_is_copied_once_in_nchw_order():
    t = torch.rand(2, 3, 8, 8)[:, :, ::2, 1:]
    p = make_payload(t, each=False, render=RENDER, copy=False)
    assert (p.shape, p.layout, p.private) == ([2, 3, 4, 7], "NCHW", True)
    assert bytes(p.data) == t.contiguous().numpy().tobytes()


def test_copy_option_makes_a_private_copy():
    t = torch.rand(3, 4, 4)
    p = make_payload(t, each=False, render=RENDER, copy=True)
    assert p.private and p.data.__array_interface__["data"][0] != t.data_ptr()


def test_bfloat16_travels_as_raw_bits():
    t = torch.rand(3, 4, 5).to(torch.bfloat16)
    p = make_payload(t, each=False, render=RENDER, copy=False)
    assert p.dtype == "bfloat16" and p.nbytes == 3 * 4 * 5 * 2
    bits = np.frombuffer(bytes(p.data), "<u2").astype(np.uint32) << 16
    np.testing.assert_array_equal(bits.view(np.float32).reshape(3, 4, 5),
                                  t.float().numpy())


def test_big_endian_numpy_is_byteswapped():
    a = (np.arange(12).reshape(3, 2, 2) / 12).astype(">f4")
    p = make_payload(a, each=False, render=RENDER, copy=False)
    assert p.private and bytes(p.data) == a.astype("<f4").tobytes()


def test_lists_are_stacked_like_make_grid_or_as_a_batch():
    imgs = [torch.rand(4, 5) for _ in range(3)]
    grid = make_payload(imgs, each=False, render=RENDER, copy=False)
    assert (grid.shape, grid.layout) == ([3, 4, 5], "CHW")  # torchvision's quirk: C = 3
    each = make_payload(imgs, each=True, render=RENDER, copy=False)
    assert (each.shape, each.layout) == ([3, 1, 4, 5], "NCHW")


def test_numpy_dtypes():
    for dt, name in [(np.float16, "float16"), (np.float32, "float32"), (np.float64, "float64"),
                     (np.uint8, "uint8"), (np.uint16, "uint16")]:
        p = make_payload(np.zeros((3, 2, 2), dt), each=False, render=RENDER, copy=False)
        assert p.dtype == name and p.nbytes == 12 * np.dtype(dt).itemsize


def test_default_endpoint(monkeypatch):
    monkeypatch.setenv("IMGSINK_ENDPOINT", "tcp://127.0.0.1:5555")
    assert imgsink.default_endpoint() == "tcp://127.0.0.1:5555"
    monkeypatch.delenv("IMGSINK_ENDPOINT")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/7")
    assert imgsink.default_endpoint() == "ipc:///run/user/7/imgsink/imgsinkd.sock"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert imgsink.default_endpoint() == f"ipc:///tmp/imgsink-{os.getuid()}/imgsinkd.sock"
    assert imgsink.Client().endpoint == f"ipc:///tmp/imgsink-{os.getuid()}/imgsinkd.sock"


def test_curve_keys_from_text_files_and_env(short_tmp, monkeypatch):
    import zmq
    pub, sec = zmq.curve_keypair()
    path = os.path.join(short_tmp, "k.key")
    with open(path, "wb") as f:
        f.write(b"# comment\n\n" + sec + b"\n")
    from imgsink._curve import load_curve
    assert load_curve((pub.decode(), pub, path)) == (pub, pub, sec)
    monkeypatch.setenv("IMGSINK_CURVE", f"{pub.decode()},{pub.decode()},{path}")
    assert load_curve(None) == (pub, pub, sec)
    monkeypatch.delenv("IMGSINK_CURVE")
    assert load_curve(None) is None
    with pytest.raises(ValueError):
        load_curve((pub, pub, "short"))
    with pytest.raises(TypeError):
        imgsink.Client("tcp://127.0.0.1:1", curve=pub)
