"""The Python client against the real imgsinkd: files equal torchvision.utils.save_image's."""

from __future__ import annotations

import concurrent.futures
import io
import os
import shutil
import tempfile

import numpy as np
import pytest
import torch
from PIL import Image

import imgsink
from conftest import real_daemon, imgsinkd_help, imgsinkd_path
from matrix import CASES, DTYPES, read_image, torchvision_png, torchvision_png_any_dtype


def _reference(make, dt, opts):
    try:
        return torchvision_png_any_dtype(make(dt), **opts)
    except RuntimeError as e:  # torch 1.13's CPU kernels lack Half clamp: no reference
        pytest.skip(f"torchvision cannot save this on CPU: {e}")


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_grid_png_equals_torchvision(daemon, case, dtype):
    dt = DTYPES[dtype]
    expected = _reference(case.make, dt, case.opts)
    path = f"grid/{case.name}_{dtype}.png"
    daemon.client.save_image(case.make(dt), path, **case.opts).result(60)
    got = read_image(os.path.join(daemon.out, path))
    assert got.shape == expected.shape
    assert np.array_equal(got, expected), f"{np.count_nonzero(got != expected)} samples differ"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_numpy_input_equals_torchvision(daemon, case):
    t = case.make(torch.float32)
    if isinstance(t, list):
        arr = [x.numpy() for x in t]
    else:
        arr = t.numpy()  # keeps the strides: exercises the copy and channels-last paths
    expected = torchvision_png(t, **case.opts)
    path = f"numpy/{case.name}.png"
    daemon.client.save_image(arr, path, **case.opts).result(60)
    assert np.array_equal(read_image(os.path.join(daemon.out, path)), expected)


@pytest.mark.parametrize("dtype", ["f32", "bf16", "f64"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_device_path_equals_torchvision(daemon, case, dtype):
    """What a CUDA tensor goes through (prepare_cuda, then uint8 HWC), run on the CPU."""
    dt = DTYPES[dtype]
    expected = _reference(case.make, dt, case.opts)
    client = imgsink.Client(daemon.endpoint)
    client._prepare_cpu = True
    path = f"prepared/{case.name}_{dtype}.png"
    with client:
        client.save_image(case.make(dt), path, **case.opts).result(60)
    assert np.array_equal(read_image(os.path.join(daemon.out, path)), expected)


EACH_OPTS = [{}, {"normalize": True}, {"normalize": True, "value_range": (-1, 1)}]


@pytest.mark.parametrize("prepared", [False, True], ids=["raw", "prepared"])
@pytest.mark.parametrize("opts", EACH_OPTS, ids=["plain", "minmax", "range"])
@pytest.mark.parametrize("dtype", ["f32", "bf16"])
def test_each_file_equals_save_image_of_that_image(daemon, opts, dtype, prepared):
    batch = (torch.rand(5, 3, 9, 11, generator=torch.Generator().manual_seed(3)) * 2.4 - 1.2)
    batch = batch.to(DTYPES[dtype])
    tag = f"{dtype}_{'p' if prepared else 'r'}_{len(opts)}{opts.get('value_range') is None}"
    client = imgsink.Client(daemon.endpoint)
    client._prepare_cpu = prepared
    with client:
        client.save_images(batch, f"each/{tag}/{{index:02d}}.png", **opts).result(60)
    files = sorted(os.listdir(os.path.join(daemon.out, "each", tag)))
    assert files == [f"{i:02d}.png" for i in range(5)]
    for i in range(5):
        got = read_image(os.path.join(daemon.out, "each", tag, f"{i:02d}.png"))
        assert np.array_equal(got, torchvision_png(batch[i], **opts)), i


def test_each_with_a_list_of_gray_images(daemon):
    images = [torch.rand(6, 5) for _ in range(3)]
    daemon.client.save_images(images, "each_list/{index}.png").result(60)
    for i, img in enumerate(images):
        got = read_image(os.path.join(daemon.out, "each_list", f"{i}.png"))
        assert np.array_equal(got, torchvision_png(img))


def test_keep_gray_writes_gray(daemon):
    t = torch.rand(4, 1, 8, 8)
    for prepared in (False, True):
        client = imgsink.Client(daemon.endpoint)
        client._prepare_cpu = prepared
        with client:
            client.save_image(t, f"gray_{prepared}.png", keep_gray=True).result(60)
        with Image.open(os.path.join(daemon.out, f"gray_{prepared}.png")) as im:
            assert im.mode == "L"
            assert np.array_equal(np.array(im), torchvision_png(t)[..., 0])


@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:0"])
def test_jpeg_decodes_close_to_pil(daemon, subsampling):
    g = torch.Generator().manual_seed(5)
    y = torch.linspace(0, 1, 64).view(64, 1)
    t = torch.stack([(y * torch.linspace(0, 1, 48).view(1, 48) + 0.03 * torch.randn(64, 48,
                     generator=g)) for _ in range(3)])
    path = f"jpeg/{subsampling.replace(':', '')}.jpg"
    daemon.client.save_image(t, path, quality=90, subsampling=subsampling).result(60)
    with Image.open(os.path.join(daemon.out, path)) as im:
        assert im.format == "JPEG" and im.size == (48, 64)
        got = np.array(im.convert("RGB")).astype(np.float64)
    buf = io.BytesIO()
    Image.fromarray(torchvision_png(t)).save(buf, format="JPEG", quality=90,
                                             subsampling=subsampling)
    pil = np.array(Image.open(buf)).astype(np.float64)
    exact = torchvision_png(t).astype(np.float64)
    assert np.abs(got - pil).mean() < 1.0
    psnr = 10 * np.log10(255.0 ** 2 / np.mean((got - exact) ** 2))
    assert psnr > 30, psnr


def test_png_options_are_honored(daemon):
    t = torch.rand(3, 32, 32)
    daemon.client.save_image(t, "opts/l0.png", compress_level=0, png_filter="none").result(60)
    daemon.client.save_image(t, "opts/l9.png", png_level=9, png_strategy="filtered").result(60)
    daemon.client.save_image(t, "opts/fmt.bin", format="PNG").result(60)
    sizes = [os.path.getsize(os.path.join(daemon.out, "opts", n)) for n in ("l0.png", "l9.png")]
    assert sizes[0] > 32 * 32 * 3 > sizes[1] * 0.5
    for name in ("l0.png", "l9.png", "fmt.bin"):
        assert np.array_equal(read_image(os.path.join(daemon.out, "opts", name)),
                              torchvision_png(t))


def test_daemon_refusals_reach_the_job(daemon):
    # uint16 needs png_bits=16: only the daemon knows that rule.
    job = daemon.client.save_image(np.zeros((8, 8), np.uint16), "u16.png")
    with pytest.raises(imgsink.ImgsinkError) as e:
        job.result(60)
    assert e.value.code == "bad_dtype" and not job.accepted()
    deep = np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000
    daemon.client.save_image(deep, "u16.png", png_bits=16, keep_gray=True).result(60)
    with Image.open(os.path.join(daemon.out, "u16.png")) as im:
        assert np.array_equal(np.array(im).astype(np.int64), deep.astype(np.int64))


def test_threads_flush_and_stats(daemon):
    c = imgsink.Client(daemon.endpoint)
    t = torch.rand(8, 3, 16, 16)

    def work(k):
        return [c.save_image(t[i:i + 1] * (k + 1) / 8, f"threads/{k}_{i}.png")
                for i in range(8)]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        jobs = [j for js in pool.map(work, range(4)) for j in js]
    assert c.flush(timeout=120)
    assert all(j.exception() is None for j in jobs)
    for k in range(4):
        for i in range(8):
            got = read_image(os.path.join(daemon.out, "threads", f"{k}_{i}.png"))
            assert np.array_equal(got, torchvision_png(t[i:i + 1] * (k + 1) / 8))
    stats = c.stats()
    assert stats and all(isinstance(v, int) and v >= 0 for v in stats.values())
    c.close()


def test_oversized_request_fails_and_the_client_recovers():
    if imgsinkd_path() is None:
        pytest.skip("imgsinkd is not built")
    root = tempfile.mkdtemp(prefix="imgsink-d-", dir="/tmp")
    try:
        d = real_daemon(root, ["--max-request-bytes", "100000"])
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        big = d.client.save_image(torch.rand(3, 200, 200), "big.png")  # 480000 bytes
        with pytest.raises(imgsink.ImgsinkError) as e:
            big.result(60)
        assert e.value.code in ("too_large", "disconnected")
        small = torch.rand(3, 20, 20)
        d.client.save_image(small, "small.png").result(60)
        assert np.array_equal(read_image(os.path.join(d.out, "small.png")),
                              torchvision_png(small))
    finally:
        d.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def tight():
    """A daemon whose memory budget holds one 0.75 MiB tensor but not two."""
    if imgsinkd_path() is None:
        pytest.skip("imgsinkd is not built")
    if "--memory-budget" not in imgsinkd_help():
        pytest.skip("imgsinkd has no --memory-budget option")
    root = tempfile.mkdtemp(prefix="imgsink-d-", dir="/tmp")
    try:
        d = real_daemon(root, ["--memory-budget", "1M", "--max-request-bytes", "1M"], workers=1)
        yield d
        d.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


BIG = torch.rand(3, 256, 256)  # 786432 bytes: one fits the 1 MiB budget, two do not


def _burst(d, policy, tag, n=8):
    c = imgsink.Client(d.endpoint, policy=policy, timeout=60)
    jobs = [c.save_image(BIG * (i + 1) / n, f"{tag}/{i}.png") for i in range(n)]
    assert c.flush(120)
    outcomes = [j.exception() for j in jobs]
    stats = c.stats()
    c.close()
    return outcomes, stats


@pytest.mark.parametrize("policy", ["drop", "error"])
def test_tiny_budget_refuses_what_does_not_fit(tight, policy):
    outcomes, stats = _burst(tight, policy, policy)
    refused = [e for e in outcomes if e is not None]
    assert all(isinstance(e, imgsink.Busy) and e.code == "busy" for e in refused), refused
    assert 0 < len(refused) < len(outcomes)  # the first fits; the burst's next ones do not
    for i, e in enumerate(outcomes):
        path = os.path.join(tight.out, policy, f"{i}.png")
        assert os.path.exists(path) == (e is None)
        if e is None:
            assert np.array_equal(read_image(path), torchvision_png(BIG * (i + 1) / 8))
    counter = "dropped" if policy == "drop" else "busy"
    assert stats.get(counter, 0) >= len(refused), stats


def test_tiny_budget_block_waits_for_room(tight):
    outcomes, _ = _burst(tight, "block", "block")
    assert outcomes == [None] * 8
    for i in range(8):
        got = read_image(os.path.join(tight.out, "block", f"{i}.png"))
        assert np.array_equal(got, torchvision_png(BIG * (i + 1) / 8))


def test_request_over_the_budget_is_too_large(tight):
    with imgsink.Client(tight.endpoint) as c:
        job = c.save_image(torch.rand(3, 512, 512), "huge.png")  # 3 MiB
        with pytest.raises(imgsink.ImgsinkError) as e:
            job.result(60)
    assert e.value.code == "too_large"
    assert not os.path.exists(os.path.join(tight.out, "huge.png"))


def test_metadata_is_written_as_text(daemon):
    t = torch.rand(3, 8, 8)
    daemon.client.save_image(t, "meta/a.png", metadata={"step": 1200, "run": "gan-7"}).result(60)
    with Image.open(os.path.join(daemon.out, "meta/a.png")) as im:
        assert im.text == {"run": "gan-7", "step": "1200"}
    daemon.client.save_image(t, "meta/a.jpg", metadata={"step": 5}).result(60)
    with Image.open(os.path.join(daemon.out, "meta/a.jpg")) as im:
        assert b"step=5" in im.info.get("comment", b"")


def test_save_image_writes_braces_literally_and_save_images_expands_metadata(daemon):
    t = torch.rand(2, 3, 6, 6)
    daemon.client.save_image(t, "braces/{step}_{{x}}.png", metadata={"step": 3}).result(60)
    assert os.path.exists(os.path.join(daemon.out, "braces", "{step}_{{x}}.png"))
    daemon.client.save_images(t, "tmpl/r{rank}/{step:05d}_{index}.png",
                              metadata={"rank": 1, "step": 42}).result(60)
    for i in range(2):
        got = read_image(os.path.join(daemon.out, "tmpl", "r1", f"00042_{i}.png"))
        assert np.array_equal(got, torchvision_png(t[i]))


def _free_tcp_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_curve_over_tcp_admits_listed_keys_only():
    if imgsinkd_path() is None or "--curve-secret-key" not in imgsinkd_help():
        pytest.skip("imgsinkd without CURVE options")
    import zmq
    root = tempfile.mkdtemp(prefix="imgsink-d-", dir="/tmp")
    server_pub, server_sec = zmq.curve_keypair()
    client_pub, client_sec = zmq.curve_keypair()
    with open(os.path.join(root, "server.key"), "wb") as f:
        f.write(b"# the daemon's secret key\n" + server_sec + b"\n")
    os.makedirs(os.path.join(root, "allowed"))
    with open(os.path.join(root, "allowed", "me.pub"), "wb") as f:
        f.write(client_pub + b"\n")
    with open(os.path.join(root, "me.key"), "wb") as f:
        f.write(client_sec + b"\n")
    tcp = f"tcp://127.0.0.1:{_free_tcp_port()}"
    try:
        d = real_daemon(root, ["--listen", tcp, "--curve-secret-key",
                              os.path.join(root, "server.key"), "--curve-allowed-keys",
                              os.path.join(root, "allowed")])
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        t = torch.rand(2, 3, 8, 8)
        keys = (server_pub.decode(), client_pub, os.path.join(root, "me.key"))
        with imgsink.Client(tcp, curve=keys) as c:
            c.save_image(t, "curve.png").result(60)
        assert np.array_equal(read_image(os.path.join(d.out, "curve.png")), torchvision_png(t))
        stranger_pub, stranger_sec = zmq.curve_keypair()
        with imgsink.Client(tcp, curve=(server_pub, stranger_pub, stranger_sec),
                            timeout=1.5) as c:
            with pytest.raises(imgsink.ImgsinkError) as e:
                c.save_image(t, "stranger.png").result(60)
        assert e.value.code == "disconnected" and "CURVE" in e.value.message
        assert not os.path.exists(os.path.join(d.out, "stranger.png"))
    finally:
        d.stop()
        shutil.rmtree(root, ignore_errors=True)
