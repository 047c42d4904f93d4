"""imgsinkd --metrics-listen: scrape /metrics while and after jobs flow; check the values against
the daemon's status counters, the files on disk and what was sent, and run promtool on it."""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Dict, Tuple

import msgpack
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from daemon_process import DaemonProcess, bin_dir  # noqa: E402
from raw_sender import RawSender, save_header  # noqa: E402


def _daemon_has_metrics() -> bool:
    try:
        out = subprocess.run([str(bin_dir() / "imgsinkd"), "--help"], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, RuntimeError, subprocess.TimeoutExpired):
        return False
    return "--metrics-listen" in out


pytestmark = pytest.mark.skipif(not _daemon_has_metrics(),
                                reason="imgsinkd has no --metrics-listen yet")

MEMORY_BUDGET = 64 << 20
JOURNAL_BUDGET = 256 << 20

Series = Tuple[str, Tuple[Tuple[str, str], ...]]
_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> Tuple[Dict[Series, float], Dict[str, str]]:
    """Samples by (name, sorted labels) and the TYPE of each family."""
    samples: Dict[Series, float] = {}
    types: Dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        assert m, f"unparsable line: {line!r}"
        labels = tuple(sorted(_LABEL.findall(m.group(2) or "")))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples, types


def value(samples: Dict[Series, float], name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"no series {key}"
    return samples[key]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        return r.read().decode()


@pytest.fixture
def metrics_daemon(tmp_path):
    port = free_port()
    d = DaemonProcess(tmp_path, extra_args=[
        "--metrics-listen", f"127.0.0.1:{port}", "--memory-budget", str(MEMORY_BUDGET),
        "--journal-budget", str(JOURNAL_BUDGET)])
    with d:
        yield d, port


def tensor(seed: int, shape) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8).tobytes()


def test_scrape_matches_the_work_done(metrics_daemon):
    d, port = metrics_daemon
    before, types = parse(scrape(port))
    assert value(before, "imgsink_jobs_total", outcome="written", code="ok") == 0
    assert value(before, "imgsink_jobs_queued") == 0

    sent = 0
    with RawSender(d.endpoint) as s:
        for i in range(3):  # 3 PNG grid jobs: one file each
            payload = tensor(i, (3, 16, 24))
            done = s.save(save_header("uint8", [3, 16, 24], "CHW", f"png/{i}.png"), payload)
            assert done["kind"] == "done" and done["ok"], done
            sent += len(payload)
        payload = tensor(9, (2, 3, 8, 8))  # one JPEG job in each mode: two files
        done = s.save(save_header("uint8", [2, 3, 8, 8], "NCHW", "jpg/{index}.jpg", mode="each"),
                      payload)
        assert done["ok"], done
        sent += len(payload)
        # Refused at the door: a path escaping the root, and a save without credit.
        reply = s.save(save_header("uint8", [1, 4, 4], "CHW", "../escape.png"), bytes(16))
        assert not reply["ok"] and reply["code"] == "bad_path", reply
        h = save_header("uint8", [1, 4, 4], "CHW", "nocredit.png")
        s.send_frames([msgpack.packb(h), bytes(16)])
        reply = s.recv()
        assert not reply["ok"] and reply["code"] == "no_credit", reply
        # A credit request over the memory budget: refused too_large (not a job).
        reply = s.credit(MEMORY_BUDGET + 1, policy="error")
        assert not reply["ok"] and reply["code"] == "too_large", reply
    counters = d.wait_idle()

    samples, types = parse(scrape(port))
    jobs = lambda outcome, code: value(samples, "imgsink_jobs_total", outcome=outcome, code=code)
    assert jobs("written", "ok") == 4 == counters["written"]
    assert jobs("failed", "write_failed") == 0
    assert jobs("refused", "bad_path") == 1
    assert jobs("refused", "no_credit") == 1
    assert jobs("refused", "too_large") == 0  # a credit refusal is no job
    refused = {dict(labels)["code"]: v for (name, labels), v in samples.items()
               if name == "imgsink_requests_refused_total"}
    assert refused["bad_path"] == 1 and refused["no_credit"] == 1 and refused["too_large"] == 1
    assert sum(refused.values()) == counters["rejected"] == 3

    files = sorted(p for p in d.output_root.rglob("*") if p.suffix in (".png", ".jpg"))
    assert len(files) == 5
    assert value(samples, "imgsink_files_written_total") == 5 == counters["files_written"]
    assert value(samples, "imgsink_written_bytes_total") == sum(p.stat().st_size for p in files)
    assert value(samples, "imgsink_received_bytes_total") == sent == counters["bytes_received"]
    assert value(samples, "imgsink_jobs_accepted_total") == 4
    assert value(samples, "imgsink_requests_total") == counters["requests"]

    assert types["imgsink_encode_write_seconds"] == "histogram"
    assert value(samples, "imgsink_encode_write_seconds_count", format="png") == 3
    assert value(samples, "imgsink_encode_write_seconds_count", format="jpeg") == 2
    assert value(samples, "imgsink_encode_write_seconds_bucket", format="png", le="+Inf") == 3
    assert value(samples, "imgsink_end_to_end_seconds_count") == 4
    assert value(samples, "imgsink_end_to_end_seconds_sum") > 0
    assert value(samples, "imgsink_job_tensor_bytes_count") == 4
    assert value(samples, "imgsink_job_tensor_bytes_sum") == sent
    assert value(samples, "imgsink_job_tensor_bytes_bucket", le="1024") == 1  # 384 bytes
    assert value(samples, "imgsink_job_tensor_bytes_bucket", le="4096") == 4  # + 3 x 1152

    assert types["imgsink_jobs_queued"] == "gauge"
    for gauge in ("imgsink_jobs_queued", "imgsink_jobs_in_progress", "imgsink_jobs_retrying",
                  "imgsink_credit_waiting_requests"):
        assert value(samples, gauge) == 0, gauge
    assert value(samples, "imgsink_memory_budget_bytes") == MEMORY_BUDGET
    assert value(samples, "imgsink_journal_budget_bytes") == JOURNAL_BUDGET
    assert value(samples, "imgsink_memory_bytes") == counters["memory_bytes"]
    value(samples, "imgsink_journal_bytes")  # present (its size depends on compaction)
    assert value(samples, "imgsink_credit_busy_total") == counters["busy"]


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool missing (Debian package prometheus, deploy/install-deps.sh)")
def test_promtool_accepts_the_scrape(metrics_daemon):
    d, port = metrics_daemon
    with RawSender(d.endpoint) as s:
        assert s.save(save_header("uint8", [3, 8, 8], "CHW", "p.jpg"), tensor(1, (3, 8, 8)))["ok"]
    d.wait_idle()
    r = subprocess.run(["promtool", "check", "metrics"], input=scrape(port), text=True,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout + r.stderr == "", "promtool lint: " + r.stdout + r.stderr


def test_an_unusable_metrics_address_stops_the_start(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # Run it bare: DaemonProcess.start() may see the socket answer before the exit.
        args = DaemonProcess(tmp_path, extra_args=["--metrics-listen", f"127.0.0.1:{port}"]).args
        r = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert f"cannot serve metrics on 127.0.0.1:{port}" in r.stdout + r.stderr
