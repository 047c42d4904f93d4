"""Issue 12, the rows of "Refuse what cannot work" and "Acknowledged means written", end to end
against the real daemon: a journal inside the output root and a journal budget too small are
refused at start-up; names the writer can never create get bad_path in the save reply (before
the ack), targets in the way fail at once; a full disk never drops an acknowledged job."""
import subprocess
import time

import msgpack
import numpy as np
import pytest
from PIL import Image

from daemon_process import DaemonProcess, tiny_fs  # noqa: F401 (a fixture)
from raw_sender import RawSender, save_header


def start_fails(tmp_path, args, output_root=None, journal_dir=None):
    d = DaemonProcess(tmp_path, args, output_root=output_root)
    if journal_dir is not None:
        d.args[d.args.index("--journal-dir") + 1] = str(journal_dir)
    with pytest.raises(RuntimeError) as e:
        d.start(timeout=20)
    return str(e.value)


def test_journal_inside_the_output_root_is_refused(tmp_path):
    # Row 5: the save "journal/LOCK" replaced the lock; a second daemon shared the journal.
    out = tmp_path / "out"
    log = start_fails(tmp_path / "a", [], output_root=out, journal_dir=out / "journal")
    assert "within the output root" in log, log
    log = start_fails(tmp_path / "b", [], output_root=tmp_path / "j" / "out",
                      journal_dir=tmp_path / "j")
    assert "within the journal directory" in log, log


def test_journal_budget_below_compaction_is_refused_and_a_small_one_never_jams(tmp_path):
    # Row 7: --journal-budget 4M under 64 MiB segments left an idle daemon busy forever.
    log = start_fails(tmp_path / "a", ["--journal-budget", "512K"])
    assert "--journal-budget must be at least 1M" in log, log
    with DaemonProcess(tmp_path / "b", ["--journal-budget", "4M"]) as d:
        img = np.random.default_rng(1).integers(0, 256, (3, 200, 200), dtype=np.uint8)  # 120 KB
        with RawSender(d.endpoint) as s:
            for i in range(80):  # ~9.6 MB through a 4 MiB journal
                done = s.save(save_header("uint8", img.shape, "CHW", f"j/{i}.png", png_level=0),
                              img.tobytes())
                assert done["ok"], (i, done)
            d.wait_idle()
            # Idle: the journal holds less than a quarter of its budget, so credit for half of
            # it is granted at once, never busy.
            assert s.credit(2 << 20, policy="error")["ok"]
            assert d.status()["journal_bytes"] <= 2 << 20


def save_raw(sender, header):
    """Sends a one-pixel save whose header may hold a path that is not UTF-8."""
    payload = b"\x00" * 3
    assert sender.credit(len(payload))["ok"]
    sender.send_frames([msgpack.packb(header, unicode_errors="surrogateescape"), payload])
    reply = sender.recv()
    while reply["kind"] == "done":
        reply = sender.recv()
    return reply


@pytest.mark.parametrize("path", [
    "a" * 256 + ".png",                           # a component over NAME_MAX
    "d/" + "b" * 300 + "/x.png",
    ".imgsink-tmp.0123456789abcdef.png",          # the writer's temp files
    "d/.imgsink-tmp.x/y.png",
    "bad\udcff.png",                               # 0xff: not UTF-8
])
def test_names_that_can_never_be_written_are_refused_before_the_ack(daemon, path):
    # Row 9: these were acknowledged, then failed after ~12.7 s of retries.
    with RawSender(daemon.endpoint) as s:
        h = save_header("uint8", (3, 1, 1), "CHW", path)
        h["format"] = "png"
        reply = save_raw(s, h)
        assert reply["ok"] is False and reply["code"] == "bad_path", reply
    assert not any(p.name.startswith(".imgsink-tmp.") for p in daemon.output_root.rglob("*"))


def test_a_target_in_the_way_fails_at_once(daemon):
    # Row 9: an existing directory as target, a path under a regular file.
    (daemon.output_root / "dir.png").mkdir(parents=True)
    (daemon.output_root / "file").write_bytes(b"x")
    img = np.zeros((3, 2, 2), dtype=np.uint8)
    with RawSender(daemon.endpoint) as s:
        for path, why in (("dir.png", "is an existing directory"),
                          ("file/under.png", "is a file, not a directory")):
            started = time.monotonic()
            done = s.save(save_header("uint8", img.shape, "CHW", path), img.tobytes())
            assert done["ok"] is False and done["code"] == "bad_path", done
            assert why in done["message"], done
            assert time.monotonic() - started < 5, "no retries for what can never succeed"
    assert daemon.status()["retrying"] == 0


def test_900_jobs_into_a_full_disk_are_all_written_when_space_returns(tmp_path, tiny_fs):
    # Row 12: of 900 acknowledged jobs into a full 8 MiB tmpfs, 392 ended write_failed and
    # were never written.  Now none ends: the output blocks, credit stops, status says why.
    subprocess.run(["mount", "-o", "remount,size=8m", str(tiny_fs)], check=True)
    d = DaemonProcess(tmp_path, ["--retry-max-delay-ms", "200", "--memory-budget", "64M"],
                      output_root=tiny_fs / "out").start()
    try:
        rng = np.random.default_rng(12)
        n, shape = 900, (3, 64, 64)  # ~12 KB per PNG at level 0: ~11 MB, more than 8 MiB
        images = rng.integers(0, 256, (n,) + shape, dtype=np.uint8)
        with RawSender(d.endpoint) as s:
            assert s.credit(images.nbytes)["ok"]  # one grant covers them all
            for i in range(n):
                h = save_header("uint8", shape, "CHW", f"f/{i:03d}.png", png_level=0)
                s.send_frames([msgpack.packb(h), images[i].tobytes()])
            replies, dones = 0, []
            while replies < n:
                m = s.recv(timeout=60)
                if m["kind"] == "reply":
                    assert m["ok"], m
                    replies += 1
                else:
                    dones.append(m)
            deadline = time.monotonic() + 60
            while d.status()["output_blocked"] == 0:
                assert time.monotonic() < deadline, d.log()
                time.sleep(0.05)
            c = d.status()
            assert c["output_blocked_errno"] == 28, c  # ENOSPC
            refused = s.credit(1, policy="error")
            assert refused["ok"] is False and refused["code"] == "busy", refused
            assert "output is blocked" in refused["message"], refused
            dones += s.done_events  # done events that came while waiting for that reply
            s.done_events.clear()
            blocked_at = c["written"]
            assert all(m["ok"] for m in dones), [m for m in dones if not m["ok"]][:3]
            subprocess.run(["mount", "-o", "remount,size=32m", str(tiny_fs)], check=True)
            while len(dones) < n:
                m = s.recv(timeout=60)
                if m["kind"] == "done":
                    dones.append(m)
            assert all(m["ok"] for m in dones), [m for m in dones if not m["ok"]][:3]
            c = d.wait_idle(timeout=60)
            assert c["failed"] == 0 and c["written"] == n and c["output_blocked"] == 0, c
            assert s.credit(1, policy="error")["ok"]  # credit flows again
        print(f"disk full: {n} acknowledged, {blocked_at} written before space returned, "
              f"{n - blocked_at} waited, 0 failed")
        assert d.stop() == 0, d.log()
        for i in (0, blocked_at, n - 1):
            got = np.asarray(Image.open(d.output_root / f"f/{min(i, n - 1):03d}.png"))
            assert np.array_equal(got, images[min(i, n - 1)].transpose(1, 2, 0))
        assert len(list((d.output_root / "f").glob("*.png"))) == n
    finally:
        if d.proc is not None:
            d.kill()
