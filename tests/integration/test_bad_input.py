"""Every bad request gets a clear error reply, and the daemon then serves the next one normally."""
import os

import msgpack
import numpy as np
import pytest

from raw_sender import RawSender, save_header

GOOD_PIXELS = np.linspace(0, 1, 3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)


def assert_serves_next(sender: RawSender, daemon) -> None:
    h = save_header("float32", GOOD_PIXELS.shape, "CHW", "after_error.png")
    done = sender.save(h, GOOD_PIXELS.tobytes())
    assert done["ok"], done
    assert (daemon.output_root / "after_error.png").is_file()


def expect_error(sender, frames, code):
    sender.send_frames(frames)
    reply = sender.recv()
    assert reply["kind"] == "reply" and reply["ok"] is False, reply
    assert reply["code"] == code, reply
    assert reply["message"], "an error needs a human-readable message"
    return reply


@pytest.mark.parametrize("frames,code", [
    ([b"\xc1"], "bad_message"),                                  # never-used msgpack byte
    ([b"\x92\x01\x02"], "bad_message"),                          # array, not a map
    ([msgpack.packb({"v": 1, "kind": "status", "id": 5}) + b"\x00"], "bad_message"),  # trailing
    ([b"\xdd\xff\xff\xff\xff"], "bad_message"),                  # array32 claiming 4G entries
    ([b"\xdf\xff\xff\xff\xff"], "bad_message"),                  # map32 claiming 4G entries
    ([b"\xdb\xff\xff\xff\xff"], "bad_message"),                  # str32 claiming 4 GB
    ([msgpack.packb({"v": 2, "kind": "status", "id": 5})], "unsupported_version"),
    ([msgpack.packb({"v": 1, "kind": "fly", "id": 5})], "bad_request"),
    ([msgpack.packb({"v": 1, "kind": "status", "id": 5, "x": 1})], "bad_request"),
    ([msgpack.packb({"v": 1, "kind": "status", "id": 5}), b"extra"], "bad_message"),
    ([b"a", b"b", b"c"], "bad_message"),
])
def test_malformed_headers(daemon, frames, code):
    with RawSender(daemon.endpoint) as s:
        expect_error(s, frames, code)
        assert_serves_next(s, daemon)


def header_bytes(**kw):
    base = dict(dtype="float32", shape=[3, 4, 5], layout="CHW", path="x.png")
    base.update(kw)
    options = {k: v for k, v in base.items() if k not in ("dtype", "shape", "layout", "path")}
    h = save_header(base["dtype"], base["shape"], base["layout"], base["path"], **options)
    return h


@pytest.mark.parametrize("kw,payload_len,code", [
    (dict(), 3 * 4 * 5 * 4 - 1, "size_mismatch"),
    (dict(), 3 * 4 * 5 * 4 + 4, "size_mismatch"),
    (dict(dtype="complex64"), 240, "bad_dtype"),
    (dict(shape=[3, 4]), 240, "bad_shape"),
    (dict(shape=[3, 0, 5]), 0, "bad_shape"),
    (dict(shape=[2**62, 2**62, 4]), 240, "bad_shape"),               # overflows 64 bits
    (dict(dtype="uint8", shape=[3, 2**30, 2**30]), 60, "too_large"),  # absurd but representable
    (dict(shape=[7, 4, 5]), 7 * 4 * 5 * 4, "bad_shape"),              # 7 channels
    (dict(path="../escape.png"), 240, "bad_path"),
    (dict(path="/etc/escape.png"), 240, "bad_path"),
    (dict(path="a/../../escape.png"), 240, "bad_path"),
    (dict(path="a\x00b.png"), 240, "bad_path"),
    (dict(path="noext"), 240, "bad_format"),
    (dict(path="x.gif"), 240, "bad_format"),
    (dict(path="x.jpg", shape=[4, 4, 5]), 320, "bad_format"),         # RGBA as JPEG
    (dict(nrow=0), 240, "bad_option"),
    (dict(jpeg_quality=101), 240, "bad_option"),
    (dict(mode="each"), 240, "bad_path"),                              # no {index}
    (dict(dtype="uint8", normalize=True), 60, "bad_option"),
    (dict(dtype="uint16"), 120, "bad_dtype"),                          # needs png_bits 16
])
def test_bad_save_requests(daemon, kw, payload_len, code):
    with RawSender(daemon.endpoint) as s:
        h = header_bytes(**kw)
        assert s.credit(max(payload_len, 1))["ok"]
        reply = expect_error(s, [msgpack.packb(h, use_bin_type=True), b"\0" * payload_len], code)
        assert reply["id"] == h["id"]
        assert_serves_next(s, daemon)
    assert not (daemon.workdir / "escape.png").exists()


def test_symlink_escape_is_refused(daemon, tmp_path):
    # Links are found when the file is written, so the job is accepted and its done event fails.
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, daemon.output_root / "link")
    with RawSender(daemon.endpoint) as s:
        done = s.save(header_bytes(path="link/evil.png"), GOOD_PIXELS.tobytes())
        assert done["kind"] == "done" and done["ok"] is False and done["code"] == "bad_path", done
        assert "link" in done["message"]
        assert_serves_next(s, daemon)
    assert list(outside.iterdir()) == []


def test_frame_over_maxmsgsize_drops_only_that_peer(tmp_path):
    from daemon_process import DaemonProcess
    with DaemonProcess(tmp_path, ["--max-request-bytes", "1000"]) as d:
        with RawSender(d.endpoint) as big:
            big.send_frames([msgpack.packb(header_bytes()), b"\0" * 200_000])
        with RawSender(d.endpoint) as s:
            counters = s.status()
            assert counters is not None
            assert_serves_next(s, d)
