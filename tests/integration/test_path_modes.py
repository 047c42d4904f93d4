"""The daemon's path modes end to end (PROTOCOL.md "Paths"): the confined service (--paths
roots, the default) with several --output-root directories, and the per-user daemon (--paths
caller) resolving relative paths against the cwd each client sends."""
import json
import os

import msgpack
import numpy as np

from daemon_process import DaemonProcess
from raw_sender import RawSender, save_header

PIXELS = np.linspace(0, 1, 3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)


def save(sender, path, **options):
    return sender.save(save_header("float32", PIXELS.shape, "CHW", path, **options),
                       PIXELS.tobytes())


def refused(sender, path, **options):
    assert sender.credit(PIXELS.nbytes)["ok"]
    sender.send_frames([msgpack.packb(
        save_header("float32", PIXELS.shape, "CHW", path, **options), use_bin_type=True),
        PIXELS.tobytes()])
    reply = sender.recv()
    assert reply["kind"] == "reply" and reply["ok"] is False, reply
    return reply


def test_roots_mode_confines_to_every_root_and_ignores_cwd(tmp_path):
    second = tmp_path / "second"
    outside = tmp_path / "outside"
    outside.mkdir()
    with DaemonProcess(tmp_path / "d", ["--output-root", str(second)]) as d:
        first = d.output_root
        with RawSender(d.endpoint) as s:
            # Relative: beneath the first root, whatever cwd the client sends.
            assert save(s, "./a//rel.png", cwd=str(outside))["ok"]
            assert (first / "a" / "rel.png").is_file()
            # Absolute beneath either root.
            assert save(s, str(first / "abs1.png"))["ok"]
            assert save(s, str(second / "sub" / "abs2.png"))["ok"]
            assert (first / "abs1.png").is_file() and (second / "sub" / "abs2.png").is_file()
            # Outside every root, '..', a root's prefix: bad_path naming both roots.
            for path in [str(outside / "x.png"), "../x.png", str(first) + "2/x.png",
                         str(second / ".." / "outside" / "x.png")]:
                reply = refused(s, path)
                assert reply["code"] == "bad_path", reply
                assert str(first) in reply["message"] and str(second) in reply["message"], reply
            # A link beneath the second root that leaves it.
            os.symlink(outside, second / "link")
            done = save(s, str(second / "link" / "evil.png"))
            assert done["ok"] is False and done["code"] == "bad_path", done
        assert list(outside.iterdir()) == []
        # The manifest names the file written: relative to the first root, else absolute.
        lines = [json.loads(line)["path"] for line in
                 (first / "manifest.jsonl").read_text().splitlines()]
        assert lines == ["a/rel.png", "abs1.png", str(second / "sub" / "abs2.png")], lines


def test_caller_mode_resolves_against_the_sent_cwd(tmp_path):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    with DaemonProcess(tmp_path / "d", ["--paths", "caller"]) as d:
        with RawSender(d.endpoint) as s:
            assert save(s, "s/{{x}}.png", cwd=str(work))["ok"]
            assert save(s, "../up.png", cwd=str(work / "sub"))["ok"]
            assert save(s, str(elsewhere / "abs.png"))["ok"]
            assert save(s, "no_cwd.png")["ok"]  # no cwd: beneath the first root
            reply = refused(s, "x.png", cwd="relative/dir")
            assert reply["code"] == "bad_path", reply
        assert (work / "s" / "{x}.png").is_file()
        assert (work / "up.png").is_file()
        assert (elsewhere / "abs.png").is_file()
        assert (d.output_root / "no_cwd.png").is_file()
        assert not (d.output_root / "s").exists()  # a daemon ignoring cwd would write here
        # The manifest names the real file ('..' resolved by the kernel, as written).
        lines = [json.loads(line)["path"] for line in
                 (d.output_root / "manifest.jsonl").read_text().splitlines()]
        assert lines == [str(work / "s" / "{x}.png"), str(work / "up.png"),
                         str(elsewhere / "abs.png"), "no_cwd.png"], lines
