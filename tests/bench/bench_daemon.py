"""An imgsinkd under measurement (tests/integration/daemon_process.py starts it and reads its
status counters, CPU time and peak RSS from /proc), and a run of K bench_load client processes
against it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

sys.path.append(str(Path(__file__).resolve().parents[1] / "integration"))

from daemon_process import DaemonProcess  # noqa: E402


def load_average() -> List[float]:
    return [round(x, 2) for x in os.getloadavg()]


def Daemon(bin_dir: Path, workdir: Path, workers: int, journal: bool,
           memory_budget: int) -> DaemonProcess:
    """imgsinkd in `workdir` (ipc socket, output root and journal there), to be used as a
    context manager; leaving it drains the daemon (up to 120 s) and checks it exited cleanly."""
    return DaemonProcess(workdir, ["--journal", "on" if journal else "off",
                                   "--memory-budget", str(memory_budget)],
                         workers=workers, bin_dir=bin_dir, stop_timeout=120)


def start_loaders(bin_dir: Path, daemon: DaemonProcess, spec_args: List[str], clients: int,
                  window: int, seconds: float = 0, count: int = 0,
                  shm: bool = False) -> List[subprocess.Popen]:
    """`shm`: the loaders hand the tensor over in shared memory (else in every frame)."""
    procs = []
    for k in range(clients):
        args = [str(bin_dir / "bench_load"), "--endpoint", daemon.endpoint, "--name", f"c{k}",
                "--window", str(window), "--shm", "on" if shm else "off", *spec_args]
        args += ["--count", str(count)] if count else ["--seconds", str(seconds)]
        procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    return procs


def finish_loaders(procs: List[subprocess.Popen]) -> List[dict]:
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        try:
            r = json.loads(out.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise RuntimeError(f"bench_load failed ({p.returncode}): {err[-2000:]}")
        r["rc"] = p.returncode
        if err.strip():
            r["stderr"] = err.strip()[-500:]
        results.append(r)
    return results


def completion_rate(done_at: List[float], t1: float, t2: float) -> Optional[float]:
    """Jobs per second from the completion times inside [t1, t2]: (n - 1) / (last - first),
    which does not round to whole jobs the way counting them in a fixed window does."""
    inside = sorted(t for t in done_at if t1 <= t <= t2)
    if len(inside) < 3 or inside[-1] <= inside[0]:
        return None
    return (len(inside) - 1) / (inside[-1] - inside[0])


def measure_throughput(bin_dir: Path, workdir: Path, spec_args: List[str], images_per_job: int,
                       workers: int, journal: bool, clients: int, window: int, seconds: float,
                       memory_budget: int, transport: str = "frames", job_bytes: int = 0) -> dict:
    """K loaders push for `seconds`; `transport` "shm" hands the tensors over in shared memory
    (PROTOCOL.md), "frames" in the messages.  `job_bytes` (tensor bytes per job) gives the
    daemon's CPU per received byte.  The rate counts the jobs that end between a warm-up of a
    quarter of the run and the moment the loaders stop pushing (their completion times come
    from the loaders; the daemon's `written` counter over the same window is kept as a check)."""
    load_before = load_average()
    with Daemon(bin_dir, workdir, workers, journal, memory_budget) as d:
        procs = start_loaders(bin_dir, d, spec_args, clients, window, seconds=seconds,
                              shm=transport == "shm")
        t_start = time.monotonic()
        time.sleep(max(1.0, seconds / 4))
        c1, t1, cpu1 = d.status(), time.monotonic(), d.cpu_seconds()
        time.sleep(max(0.5, t_start + seconds - 0.2 - time.monotonic()))
        c2, t2, cpu2 = d.status(), time.monotonic(), d.cpu_seconds()
        loaders = finish_loaders(procs)
        threads = d.thread_cpu_seconds()
        rss = d.peak_rss_bytes()
        final = d.status()
    jobs = c2["written"] - c1["written"]
    wall = t2 - t1
    rate = completion_rate([t for r in loaders for t in r.pop("done_at")], t1, t2)
    jobs_per_s = rate if rate is not None else jobs / wall
    used = {bool(r.get("shm")) for r in loaders}
    if used != {transport == "shm"}:  # measured something else than asked: say so loudly
        raise RuntimeError(f"loaders asked for {transport} used shm={used}: "
                           f"{[r.get('shm_error') for r in loaders]}")
    return {
        "transport": transport,
        "daemon_cpu_ns_per_byte": (cpu2 - cpu1) * 1e9 / max(jobs_per_s * wall * job_bytes, 1e-9)
        if job_bytes else None,
        "workers": workers, "journal": journal, "clients": clients, "window": window,
        "jobs": jobs, "seconds": round(wall, 3),
        "img_per_s": jobs_per_s * images_per_job,
        "img_per_s_counter": jobs * images_per_job / wall,
        "daemon_cores": (cpu2 - cpu1) / wall,
        "img_per_daemon_cpu_s": jobs_per_s * images_per_job * wall / max(cpu2 - cpu1, 1e-9),
        "loader_cpu_s": sum(r["cpu_s"] for r in loaders),
        "loader_wall_s": max(r["wall_s"] for r in loaders),
        "failed": final["failed"], "rejected": final["rejected"],
        "done_ms_median": max(r["done_ms_median"] for r in loaders),
        "thread_cpu_s": threads[:6], "peak_rss_mb": rss / 2**20,
        "load_before": load_before, "load_after": load_average(),
    }


def measure_flood(bin_dir: Path, workdir: Path, spec_args: List[str], workers: int,
                  clients: int, window: int, seconds: float, memory_budget: int) -> dict:
    """`clients` loaders each keep `window` jobs in flight against a small memory budget."""
    with Daemon(bin_dir, workdir, workers, True, memory_budget) as d:
        idle_rss = d.peak_rss_bytes()
        procs = start_loaders(bin_dir, d, spec_args, clients, window, seconds=seconds)
        peak_used = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            c = d.status()
            peak_used = max(peak_used, c.get("memory_bytes", 0))
            time.sleep(0.1)
        rss = d.peak_rss_bytes()
        loaders = finish_loaders(procs)
        final = d.status()
    return {
        "memory_budget_mb": memory_budget / 2**20, "clients": clients, "window": window,
        "idle_rss_mb": idle_rss / 2**20, "peak_rss_mb": rss / 2**20,
        "over_budget_mb": (rss - memory_budget) / 2**20,
        "peak_memory_bytes_counter_mb": peak_used / 2**20,
        "jobs_done": sum(r["done_ok"] for r in loaders), "failed": final["failed"],
        "refused": {k: v for r in loaders for k, v in r["refused"].items()},
    }
