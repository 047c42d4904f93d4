"""imgsinkd as a user runs it: --help, defaults, push_batch, and a clean drain on SIGTERM."""
import os
import signal
import subprocess
import time

import msgpack
import numpy as np
from PIL import Image

from daemon_process import DaemonProcess, bin_dir
from raw_sender import RawSender, save_header


def run(args, **kw):
    return subprocess.run([str(bin_dir() / args[0])] + args[1:], capture_output=True, text=True,
                          timeout=60, **kw)


def test_help_version_and_usage_errors():
    h = run(["imgsinkd", "--help"])
    assert h.returncode == 0
    for flag in ("--listen", "--output-root", "--workers"):
        assert flag in h.stdout
    v = run(["imgsinkd", "--version"])
    assert v.returncode == 0 and "imgsinkd" in v.stdout
    bad = run(["imgsinkd", "--no-such-flag"])
    assert bad.returncode == 2 and bad.stderr


def test_default_endpoint_under_xdg_runtime_dir(tmp_path):
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    proc = subprocess.Popen([str(bin_dir() / "imgsinkd")], env=env, cwd=tmp_path,
                            stderr=subprocess.PIPE)
    sock = tmp_path / "imgsink" / "imgsinkd.sock"
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sock.exists()
        assert (os.stat(tmp_path / "imgsink").st_mode & 0o777) == 0o700
        # The other defaults are relative to the working directory.
        assert (tmp_path / "imgsink-out").is_dir() and (tmp_path / "imgsink-journal").is_dir()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_push_batch_writes_files_a_person_can_open(daemon):
    proc = run(["push_batch", "--endpoint", daemon.endpoint, "--path", "demo/batch.png",
                "--count", "3"])
    assert proc.returncode == 0, proc.stderr + daemon.log()
    written = sorted(p for p in daemon.output_root.rglob("*.png"))
    assert len(written) == 3, written
    for p in written:
        img = np.asarray(Image.open(p))
        assert img.ndim == 3 and img.shape[2] == 3
        assert img.std() > 10, "a natural-looking batch has contrast"


def test_push_batch_reports_daemon_errors(daemon):
    proc = run(["push_batch", "--endpoint", daemon.endpoint, "--path", "../escape.png"])
    assert proc.returncode != 0
    assert "bad_path" in proc.stderr or "path" in proc.stderr


def test_sigterm_drains_accepted_jobs(tmp_path):
    d = DaemonProcess(tmp_path, workers=1).start()
    pixels = np.random.default_rng(0).random((8, 3, 64, 64), dtype=np.float32)
    n = 20
    with RawSender(d.endpoint) as s:
        ids = []
        assert s.credit(n * pixels.nbytes)["ok"]
        for i in range(n):
            h = save_header("float32", pixels.shape, "NCHW", f"drain/{i}.png", png_level=9)
            ids.append(h["id"])
            s.send_frames([msgpack.packb(h), pixels.tobytes()])
        replies, dones = [], []
        while len(replies) < n:  # done events of quick jobs may come between the replies
            m = s.recv()
            (replies if m["kind"] == "reply" else dones).append(m)
        assert all(r["ok"] for r in replies), replies
        d.proc.send_signal(signal.SIGTERM)
        while len(dones) < n:
            dones.append(s.recv(timeout=60))
    assert sorted(m["id"] for m in dones) == sorted(ids)
    assert all(m["kind"] == "done" and m["ok"] for m in dones)
    assert d.stop() == 0
    assert len(list((d.output_root / "drain").glob("*.png"))) == n
    assert not list(d.output_root.rglob(".imgsink-tmp*"))
