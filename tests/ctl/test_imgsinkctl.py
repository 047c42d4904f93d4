"""imgsinkctl against a real imgsinkd (status, flush, watch), a scripted fake daemon (exact
table and JSON), and keygen's files (modes, Z85, the pair checked with pyzmq)."""
from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict

import msgpack
import numpy as np
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from daemon_process import DaemonProcess, bin_dir, tiny_fs  # noqa: E402,F401 (a fixture)
from raw_sender import RawSender, save_header  # noqa: E402

Z85 = re.compile(r"^[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}\n$")
WATCH_LINE = re.compile(r"^\d\d:\d\d:\d\d  jobs/s (-|\d+\.\d)  MB/s (-|\d+\.\d\d)  queued (\d+)  "
                        r"in progress (\d+)  retrying (\d+)  journal \d+(\.\d)? [KMGT]?i?B"
                        r"(  draining \[[#-]{20}\] (\d+)/(\d+))?$")


def ctl(*args: str, timeout: float = 120, umask: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir() / "imgsinkctl"), *args], capture_output=True, text=True,
                          timeout=timeout,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def rows(table: str) -> Dict[str, str]:
    """The table's "  label   value" rows (label and value split at the first run of 2+ spaces)."""
    out = {}
    for line in table.splitlines()[1:]:
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        if len(parts) == 2:
            out[parts[0]] = parts[1]
    return out


def push(endpoint: str, n: int, prefix: str = "img") -> int:
    """Saves n small PNGs and waits for each; returns the tensor bytes sent."""
    sent = 0
    with RawSender(endpoint) as s:
        for i in range(n):
            data = np.random.default_rng(i).integers(0, 256, (3, 8, 8), dtype=np.uint8).tobytes()
            done = s.save(save_header("uint8", [3, 8, 8], "CHW", f"{prefix}/{i}.png"), data)
            assert done["kind"] == "done" and done["ok"], done
            sent += len(data)
    return sent


# --- against a real daemon -------------------------------------------------------------------

def test_status_table_and_json_report_the_daemons_counters(tmp_path):
    with DaemonProcess(tmp_path, ["--memory-budget", "64M", "--journal-budget", "1G"]) as d:
        push(d.endpoint, 3)
        d.wait_idle()
        r = ctl("--endpoint", d.endpoint, "status")
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0] == f"imgsinkd at {d.endpoint}"
        t = rows(r.stdout)
        assert t["written"] == "3" and t["accepted"] == "3" and t["failed"] == "0"
        assert t["queued"] == "0" and t["in progress"] == "0" and t["retrying"] == "0"
        assert t["files written"] == "3"
        assert t["memory"].endswith("of 64.0 MiB (0%)"), t["memory"]
        assert " of 1.0 GiB (" in t["journal"], t["journal"]
        assert t["bytes received"] == "576 B"  # 3 x 3x8x8 uint8
        assert "in flight by client: none" in r.stdout

        r = ctl("status", "--json", "--endpoint", d.endpoint)  # options after the subcommand too
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        want = d.status()
        for key in ("written", "accepted", "failed", "files_written", "bytes_received",
                    "bytes_written", "queued", "in_progress", "retrying", "memory_budget",
                    "journal_budget", "dropped", "busy"):
            assert got[key] == want[key], key
        assert got["written"] == 3 and got["memory_budget"] == 64 << 20
        assert got["requests"] == want["requests"] - 1  # our status request came first


def test_an_unreachable_daemon_is_exit_2_with_a_message(tmp_path):
    endpoint = f"ipc://{tmp_path}/nobody.sock"
    for sub in (["status"], ["status", "--json"], ["flush", "--timeout", "5"],
                ["watch", "--count", "1"]):
        r = ctl("--endpoint", endpoint, "--connect-timeout", "0.3", *sub)
        assert r.returncode == 2, (sub, r.stdout, r.stderr)
        assert f"cannot reach imgsinkd at {endpoint}" in r.stderr, r.stderr
        assert r.stdout == "" or sub[0] == "watch"
    r = ctl("--endpoint", "bogus://x", "status")
    assert r.returncode == 2 and "cannot reach imgsinkd at bogus://x" in r.stderr, r.stderr


def test_flush_returns_at_once_when_idle_and_watch_prints_lines(tmp_path):
    with DaemonProcess(tmp_path) as d:
        push(d.endpoint, 2)
        d.wait_idle()
        r = ctl("--endpoint", d.endpoint, "flush")
        assert r.returncode == 0, r.stderr
        assert re.fullmatch(r"flushed after \d+\.\d s: 2 jobs written, 0 failed since the daemon "
                            r"started\n", r.stdout), r.stdout

        r = ctl("--endpoint", d.endpoint, "watch", "--interval", "0.1", "--count", "3")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert len(lines) == 3, r.stdout
        matches = [WATCH_LINE.match(line) for line in lines]
        assert all(matches), lines
        assert matches[0].group(1) == "-" and matches[0].group(2) == "-"  # no delta yet
        for m in matches[1:]:  # an idle daemon: nothing written between samples
            assert m.group(1) == "0.0" and m.group(2) == "0.00", lines
            assert m.group(3) == "0" and m.group(7) is None  # no backlog, no bar


def test_flush_and_watch_follow_a_backlog_that_drains(tmp_path, tiny_fs):
    """A full disk parks jobs in retry: flush times out (exit 1), watch shows the backlog, the
    table shows the client's jobs in flight; with space back, flush returns 0 once all is written."""
    d = DaemonProcess(tmp_path, ["--write-tries", "100000", "--retry-max-delay-ms", "200"],
                      output_root=tiny_fs / "out", workers=1)
    with d:
        images = [np.random.default_rng(i).integers(0, 256, (3, 64, 64), dtype=np.uint8)
                  for i in range(12)]  # ~12 KB each at png_level 0: about 8 fit
        with RawSender(d.endpoint) as s:  # stays connected: its jobs count as its in-flight
            assert s.credit(sum(img.nbytes for img in images))["ok"]
            for i, img in enumerate(images):
                h = save_header("uint8", img.shape, "CHW", f"f/{i:02d}.png", png_level=0)
                s.send_frames([msgpack.packb(h), img.tobytes()])
            deadline = time.monotonic() + 30
            while d.status()["retrying"] == 0:
                assert time.monotonic() < deadline, d.log()
                time.sleep(0.05)

            r = ctl("--endpoint", d.endpoint, "flush", "--timeout", "0.5")
            assert r.returncode == 1, (r.stdout, r.stderr)
            assert r.stdout.startswith("waiting: "), r.stdout
            last = r.stdout.splitlines()[-1]
            m = re.fullmatch(r"timed out after \d+\.\d s: (\d+) left \((\d+) queued, (\d+) in "
                             r"progress, (\d+) retrying\)", last)
            assert m, last
            assert int(m.group(1)) > 0 and int(m.group(4)) > 0
            assert int(m.group(1)) == sum(int(m.group(k)) for k in (2, 3, 4))

            r = ctl("--endpoint", d.endpoint, "status")
            clients = r.stdout.split("in flight by client:\n", 1)
            assert len(clients) == 2, r.stdout
            row = re.match(r"\s+(p\d+)\s+(\d+)\n", clients[1])  # daemon numbers, not routing ids
            assert row and int(row.group(2)) > 0, r.stdout

            r = ctl("--endpoint", d.endpoint, "watch", "--interval", "0.1", "--count", "2")
            assert r.returncode == 0, r.stderr
            for line in r.stdout.splitlines():
                m = WATCH_LINE.match(line)
                assert m and m.group(7), line  # a backlog: the bar is shown
                done, peak = int(m.group(8)), int(m.group(9))
                backlog = int(m.group(3)) + int(m.group(4)) + int(m.group(5))
                assert peak >= backlog > 0 and done == peak - backlog

            subprocess.run(["mount", "-o", "remount,size=16m", str(tiny_fs)], check=True)
            r = ctl("--endpoint", d.endpoint, "flush", "--timeout", "120")
            assert r.returncode == 0, (r.stdout, r.stderr)
            assert r.stdout.splitlines()[-1].startswith("flushed after ")
            c = d.status()
            assert c["written"] == 12 and c["queued"] == c["in_progress"] == c["retrying"] == 0
            assert len(list((d.output_root / "f").glob("*.png"))) == 12


# --- against a scripted daemon: exact output -------------------------------------------------

class FakeDaemon:
    """A ROUTER that answers every status request with fixed counters."""

    def __init__(self, endpoint: str, counters: Dict[str, int]):
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(endpoint)
        self.counters = dict(sorted(counters.items()))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            if not self.sock.poll(50):
                continue
            peer, header = self.sock.recv_multipart()
            req = msgpack.unpackb(header, raw=False)
            assert req["kind"] == "status", req
            self.sock.send_multipart([peer, msgpack.packb(
                {"v": 1, "kind": "reply", "id": req["id"], "ok": True,
                 "counters": self.counters})])

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


FAKE_COUNTERS = {
    "queued": 4, "in_progress": 2, "retrying": 1, "accepted": 100, "written": 90, "failed": 3,
    "replayed": 5, "dropped": 6, "busy": 7, "credit_waiting": 8, "requests": 300, "rejected": 9,
    "files_written": 95, "bytes_received": 1536, "bytes_written": 3 << 20,
    "memory_bytes": 1 << 30, "memory_budget": 2 << 30, "journal_bytes": 0, "journal_budget": 0,
    "client.0a0b0c0d.in_flight": 3, "client.ff.in_flight": 1, "shiny_new_counter": 42,
}


def test_status_table_against_a_scripted_daemon(tmp_path):
    endpoint = f"ipc://{tmp_path}/fake.sock"
    fake = FakeDaemon(endpoint, FAKE_COUNTERS)
    try:
        r = ctl("--endpoint", endpoint, "status")
        assert r.returncode == 0, r.stderr
        expected = f"""imgsinkd at {endpoint}
  queued          4
  in progress     2
  retrying        1
  accepted        100
  written         90
  failed          3
  replayed        5
  dropped         6
  busy            7
  credit waiting  8
  requests        300
  refused         9
  files written   95
  memory          1.0 GiB of 2.0 GiB (50%)
  journal         off
  bytes received  1.5 KiB
  bytes written   3.0 MiB
  in flight by client:
    0a0b0c0d      3
    ff            1
  other:
    shiny_new_counter  42
"""
        assert r.stdout == expected, r.stdout
        r = ctl("--endpoint", endpoint, "status", "--json")
        assert r.returncode == 0 and json.loads(r.stdout) == FAKE_COUNTERS, r.stdout
        r = ctl("--endpoint", endpoint, "flush", "--timeout", "0.2")
        assert r.returncode == 1
        assert r.stdout.splitlines()[0] == "waiting: 7 left (4 queued, 2 in progress, 1 retrying) " \
                                           "[--------------------]"
    finally:
        fake.close()


# --- keygen ----------------------------------------------------------------------------------

def test_keygen_writes_a_curve_keypair_with_safe_modes(tmp_path):
    prefix = tmp_path / "daemon"
    r = ctl("keygen", "--out", str(prefix), umask=0)  # the secret's mode must not follow umask
    assert r.returncode == 0, r.stderr
    key, pub = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(pub.stat().st_mode) == 0o644
    secret_text, public_text = key.read_text(), pub.read_text()
    assert Z85.match(secret_text) and Z85.match(public_text), (secret_text, public_text)
    # The pair belongs together: libzmq derives the same public key from the secret.
    assert zmq.curve_public(secret_text.strip().encode()) == public_text.strip().encode()

    r = ctl("keygen", "--out", str(prefix))
    assert r.returncode == 1 and "exists (--force replaces it)" in r.stderr, r.stderr
    assert key.read_text() == secret_text and pub.read_text() == public_text

    r = ctl("keygen", "--out", str(prefix), "--force")
    assert r.returncode == 0, r.stderr
    assert key.read_text() != secret_text
    assert zmq.curve_public(key.read_text().strip().encode()) == pub.read_text().strip().encode()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600

    r = ctl("keygen", "--out", str(tmp_path / "missing" / "k"))
    assert r.returncode == 1 and "No such file or directory" in r.stderr, r.stderr
    assert not (tmp_path / "missing").exists()


def test_usage_errors_are_exit_64():
    assert ctl().returncode == 64
    assert ctl("bogus").returncode == 64
    assert ctl("keygen").returncode == 64  # --out is required
    assert ctl("watch", "--count", "-1").returncode == 64
    # One daemon per command: an endpoint list (e.g. from IMGSINK_ENDPOINT) is refused clearly.
    for sub in (["status"], ["flush"], ["watch", "--count", "1"]):
        r = ctl("--endpoint", "ipc:///tmp/a.sock, ipc:///tmp/b.sock", *sub)
        assert r.returncode == 64, (sub, r.stderr)
        assert "names 2 daemons" in r.stderr and "--endpoint ipc:///tmp/a.sock" in r.stderr
    r = ctl("--endpoint", "ipc:///tmp/a.sock,,ipc:///tmp/b.sock", "status")
    assert r.returncode == 64 and "endpoint 2 of 3 in the list is empty" in r.stderr, r.stderr
    r = ctl("--help")
    assert r.returncode == 0 and "Exit status:" in r.stdout


def test_status_says_when_the_output_is_blocked(tmp_path):
    # Issue 12: a full disk blocks the output (jobs wait, no credit); status says so and why.
    endpoint = f"ipc://{tmp_path}/fake.sock"
    fake = FakeDaemon(endpoint, dict(FAKE_COUNTERS, output_blocked=1, output_blocked_errno=28))
    try:
        r = ctl("--endpoint", endpoint, "status")
        assert r.returncode == 0, r.stderr
        assert "  output          BLOCKED (errno 28): jobs wait, no new credit\n" in r.stdout, r.stdout
        assert "output_blocked" not in r.stdout  # not repeated under "other"
    finally:
        fake.close()
    fake = FakeDaemon(endpoint, dict(FAKE_COUNTERS, output_blocked=0, output_blocked_errno=0))
    try:
        r = ctl("--endpoint", endpoint, "status")
        assert "  output          writing\n" in r.stdout, r.stdout
    finally:
        fake.close()


def test_status_shows_the_backlog_of_each_output(tmp_path):
    # Issue 13: two S3 outputs; one store is slow.  Each has its own row, the sums stay under
    # "other", and the per-output keys are not repeated there.
    endpoint = f"ipc://{tmp_path}/fake.sock"
    fake = FakeDaemon(endpoint, dict(
        FAKE_COUNTERS, s3_backlog_requests=40, s3_in_flight_bytes=3 << 20,
        **{"sink.1.s3_backlog_requests": 0, "sink.1.s3_in_flight_bytes": 0,
           "sink.1.s3_objects": 500, "sink.1.s3_retries": 0, "sink.1.s3_request_failures": 0,
           "sink.2.s3_backlog_requests": 40, "sink.2.s3_in_flight_bytes": 3 << 20,
           "sink.2.s3_objects": 12, "sink.2.s3_retries": 7, "sink.2.s3_request_failures": 1}))
    try:
        r = ctl("--endpoint", endpoint, "status")
        assert r.returncode == 0, r.stderr
        assert ("  output 1 backlog  0 requests, 0 B in flight; 500 objects, 0 retries, 0 failed\n"
                in r.stdout), r.stdout
        assert ("  output 2 backlog  40 requests, 3.0 MiB in flight; 12 objects, 7 retries, "
                "1 failed\n" in r.stdout), r.stdout
        assert "    s3_backlog_requests  40\n" in r.stdout  # the sum
        assert "sink." not in r.stdout
        r = ctl("--endpoint", endpoint, "status", "--json")
        assert json.loads(r.stdout)["sink.2.s3_backlog_requests"] == 40
    finally:
        fake.close()
