#!/usr/bin/python3
"""imgsink performance benchmark: ceilings, end-to-end throughput, client stall, memory.

    /usr/bin/python3 tests/bench/run_bench.py --build build [--quick] [--json out.json]

Builds nothing: needs <build>/bin/{imgsinkd,bench_ceiling,bench_load,bench_client_stall} (a
Release build for real figures).  Prints a table and the targets of issue 6 with their measured
ratios, and writes everything to --json.  --quick is the ctest smoke run (small batch, short
runs): its figures mean nothing.  tests/bench/PERFORMANCE.md explains the method and results.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_daemon  # noqa: E402
import bench_python  # noqa: E402
import content  # noqa: E402
import report  # noqa: E402

PNG_PIL = "png:6:all:default"   # the protocol's (and PIL's) default PNG settings
# Jobs each loader keeps in flight.  Enough that the daemon never waits for the loaders: with
# 2, one-image jobs (1024x1024) left the workers idle through each job's sync latency
# (round 3: 264 img/s at 2, 361 at 4, 401 at 8, same daemon).
E2E_WINDOW = 4
PNG_FAST = "png:1:paeth:rle"    # the proposed fast preset (see the sweep)
JPEG = "jpeg:75:420"            # the protocol's (and PIL's) default JPEG settings

WORKLOADS = {  # name: (shape NCHW, mode)
    "each256": ((64, 3, 256, 256), "each"),
    "grid256": ((64, 3, 256, 256), "grid"),
    "img1024": ((1, 3, 1024, 1024), "grid"),
}


def sweep_cases(full: bool):
    """PNG settings to compare; `full` adds the slow and the clearly dominated ones."""
    cases = [PNG_PIL] + [f"png:1:{f}:rle" for f in ("none", "sub", "up", "avg", "paeth", "all")]
    cases += [f"png:1:{f}:huffman" for f in ("sub", "up", "paeth")]
    cases += [f"png:{lv}:{f}:default" for lv in (1, 2, 3) for f in ("sub", "up", "paeth", "all")]
    if full:
        cases += [f"png:{lv}:{f}:default" for lv in (4, 6) for f in ("none", "sub", "up", "paeth")]
        cases += ["png:1:none:default", "png:4:all:default"]
        cases += [f"png:{lv}:{f}:filtered" for lv in (1, 3, 6) for f in ("sub", "paeth", "all")]
    return cases


def spec_args(tensor: Path, shape, mode: str, case: str):
    args = ["--tensor", str(tensor), "--shape", ",".join(map(str, shape)), "--layout", "NCHW",
            "--mode", mode, "--value-range=-1,1"]
    p = case.split(":")
    if p[0] == "png":
        return args + ["--format", "png", "--png-level", p[1], "--png-filter", p[2],
                       "--png-strategy", p[3]]
    return args + ["--format", "jpeg", "--jpeg-quality", p[1], "--jpeg-subsampling", p[2]]


def run_seconds(res, workload, case, images_per_job, workers, seconds, quick) -> float:
    """Long enough for about 10 jobs to end inside the measured window, assuming half the
    in-process ceiling; at least `seconds`, at most 45."""
    ceiling_img_s = report.pipeline_ceiling(res, workload, case)
    if quick or not ceiling_img_s:
        return seconds
    jobs_per_s = 0.5 * workers * ceiling_img_s / images_per_job
    return min(45.0, max(seconds, 10 / jobs_per_s / 0.75))


def run_json(cmd, timeout=600):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode not in (0, 1) or not p.stdout.strip():
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}): {p.stderr[-2000:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["rc"] = p.returncode
    if p.stderr.strip():
        r["stderr"] = p.stderr.strip()[-500:]
    return r


def ceiling(bin_dir, tensor, shape, mode, cases, seconds, write_dir=None):
    cmd = [str(bin_dir / "bench_ceiling"), *spec_args(tensor, shape, mode, cases[0]),
           "--seconds", str(seconds)]
    for c in cases:
        cmd += ["--case", c]
    if write_dir:
        cmd += ["--write-dir", str(write_dir)]
    r = run_json(cmd)
    r["cases"] = {c.pop("case"): c for c in r["cases"]}
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", required=True, type=Path, help="CMake build dir (Release)")
    ap.add_argument("--quick", action="store_true", help="smoke run: seconds, not minutes")
    ap.add_argument("--json", type=Path, help="write all figures here")
    ap.add_argument("--workdir", type=Path, help="scratch dir on the disk to measure (default: "
                    "a temp dir under $TMPDIR, removed afterwards)")
    ap.add_argument("--seconds", type=float, help="per end-to-end run (default 10; quick 2)")
    ap.add_argument("--workers", help="comma list (default 1..cores)")
    ap.add_argument("--png-fast", default=PNG_FAST, help=f"fast preset (default {PNG_FAST})")
    ap.add_argument("--transport", default="frames,shm", help="comma list of the end-to-end "
                    "hand-offs to measure: frames (tensor in the message), shm (shared memory)")
    ap.add_argument("--formats", help="comma list of end-to-end cases to run (default: all), "
                    "e.g. jpeg:75:420")
    ap.add_argument("--workloads", help="comma list of workloads (default: all)")
    ap.add_argument("--skip", default="", help="comma list of: sweep,e2e,stall,flood,python")
    ap.add_argument("--photo", action="append", default=[], help="a photograph to crop for the "
                    "ceilings and the PNG sweep (repeatable; default: python3-skimage's data)")
    a = ap.parse_args()
    bin_dir = a.build.resolve() / "bin"
    for tool in ("imgsinkd", "bench_ceiling", "bench_load", "bench_client_stall"):
        if not (bin_dir / tool).exists():
            sys.exit(f"missing {bin_dir / tool}: build the 'imgsinkd' and bench targets first")
    skip = set(filter(None, a.skip.split(",")))
    cores = os.cpu_count() or 1
    workers = [int(w) for w in a.workers.split(",")] if a.workers else list(range(1, cores + 1))
    seconds = a.seconds or (2.0 if a.quick else 10.0)
    enc_seconds = 0.3 if a.quick else 2.0
    fast = a.png_fast
    workloads = dict(WORKLOADS)
    if a.workloads:
        workloads = {k: v for k, v in workloads.items() if k in a.workloads.split(",")}
    transports = a.transport.split(",")
    if a.quick:
        workloads = {"each256": ((8, 3, 256, 256), "each")}
        workers = workers[:1]
    own_workdir = a.workdir is None
    work = Path(tempfile.mkdtemp(prefix="imgsink-bench-")) if own_workdir else a.workdir
    work.mkdir(parents=True, exist_ok=True)
    res = {"machine": {"cores": cores, "cpu": platform.processor() or platform.machine(),
                       "kernel": platform.release(), "load_start": bench_daemon.load_average(),
                       "perf": shutil.which("perf") is not None},
           "settings": {"quick": a.quick, "seconds": seconds, "workers": workers,
                        "png_pil": PNG_PIL, "png_fast": fast, "jpeg": JPEG,
                        "transports": transports,
                        "workloads": {k: {"shape": v[0], "mode": v[1]} for k, v in workloads.items()}},
           "ceiling": {}, "e2e": [], "errors": []}
    try:
        t0 = time.monotonic()
        tensors = {}
        for name, (shape, _) in workloads.items():
            tensors[name] = work / f"{name}.f32"
            content.natural_batch(*shape, seed=1).tofile(tensors[name])
        # Content variants for the ceilings and the PNG sweep (each mode, 256 x 256).
        shape256 = workloads["each256"][0]
        variants = {"noise256": content.noise_batch(*shape256, seed=2),
                    "clean256": content.natural_batch(*shape256, seed=1, noise=0.0)}
        photos = a.photo or content.skimage_photos()
        res["settings"]["photos"] = photos
        if photos:
            variants["photo256"] = content.photo_batch(photos, *shape256, seed=3)
        for name, batch in variants.items():
            tensors[name] = work / f"{name}.f32"
            batch.tofile(tensors[name])
        print(f"content ready in {time.monotonic() - t0:.1f} s; load {bench_daemon.load_average()}",
              flush=True)

        # 1. Raw ceilings, one thread, in-process, same tensors and settings.
        for name, (shape, mode) in workloads.items():
            cases = [PNG_PIL, fast, JPEG] + (["jpeg:90:420"] if name == "each256" else [])
            res["ceiling"][name] = ceiling(bin_dir, tensors[name], shape, mode, cases,
                                           enc_seconds, write_dir=work / "ceiling-out")
            print(f"ceiling {name} done", flush=True)
        for name in variants:
            res["ceiling"][name] = ceiling(bin_dir, tensors[name], shape256, "each",
                                           [PNG_PIL, fast, JPEG], enc_seconds)
        if "sweep" not in skip and not a.quick:
            res["sweep"] = {}
            for name in ["each256"] + [v for v in variants if v != "noise256"]:
                cases = sweep_cases(full=name == "each256")
                res["sweep"][name] = ceiling(bin_dir, tensors[name], shape256, "each", cases,
                                             0.5)["cases"]
            print("png sweep done", flush=True)

        # 2. End to end: K = 2 loader processes, E2E_WINDOW jobs in flight each.
        if "e2e" not in skip:
            for name, (shape, mode) in workloads.items():
                formats = [PNG_PIL, fast, JPEG] if name == "each256" else [PNG_PIL, JPEG]
                if a.quick:
                    formats = [fast]
                if a.formats:
                    formats = [f for f in formats if f in a.formats.split(",")]
                job_bytes = tensors[name].stat().st_size
                for case in formats:
                    for journal in (True, False):
                        for w in workers:
                            # Frames and shm back to back: before/after under the same load.
                            for transport in transports:
                                run_s = run_seconds(res, name, case, shape[0], w, seconds, a.quick)
                                r = bench_daemon.measure_throughput(
                                    bin_dir, work / "e2e",
                                    spec_args(tensors[name], shape, mode, case), shape[0], w,
                                    journal, clients=2, window=E2E_WINDOW, seconds=run_s,
                                    memory_budget=1 << 30, transport=transport,
                                    job_bytes=job_bytes)
                                r.update(workload=name, case=case)
                                res["e2e"].append(r)
                                print(f"e2e {name} {case} {transport} journal={journal} "
                                      f"workers={w}: {r['img_per_s']:.0f} img/s, daemon "
                                      f"{r['daemon_cpu_ns_per_byte']:.2f} ns/byte", flush=True)
                                shutil.rmtree(work / "e2e", ignore_errors=True)

        # 3. Client stall (C++ client; Python client below) against a journaled daemon.
        shape, mode = workloads["each256"]
        if "stall" not in skip:
            with bench_daemon.Daemon(bin_dir, work / "stall", cores, True, 1 << 30) as d:
                res["stall_cpp"] = {}
                for own in ("copy", "borrow"):
                    res["stall_cpp"][own] = run_json(
                        [str(bin_dir / "bench_client_stall"), "--endpoint", d.endpoint,
                         "--ownership", own, "--repeat", "3" if a.quick else "15",
                         *spec_args(tensors["each256"], shape, mode, fast)])
                if "python" not in skip:
                    batch = content.natural_batch(*shape, seed=1)
                    res["stall_python"] = bench_python.python_client_stall(
                        d.endpoint, batch, 3 if a.quick else 10)
            shutil.rmtree(work / "stall", ignore_errors=True)

        # 4. Peak RSS against the memory budget under an 8-client flood.
        if "flood" not in skip:
            budget = (64 if a.quick else 256) << 20
            res["flood"] = bench_daemon.measure_flood(
                bin_dir, work / "flood", spec_args(tensors["each256"], shape, mode, PNG_PIL),
                workers=cores, clients=8, window=4, seconds=seconds, memory_budget=budget)
            shutil.rmtree(work / "flood", ignore_errors=True)
            print("flood done", flush=True)

        # 5. What Python users pay without imgsink.
        if "python" not in skip:
            batch = content.natural_batch(*shape, seed=1)
            res["python"] = {
                "save_image": bench_python.torchvision_save_image(batch, 1 if a.quick else 3),
                "pil_1proc_default": bench_python.pil_throughput(batch, enc_seconds, 0),
                "pil_pool2_default": bench_python.pil_throughput(batch, 2 * enc_seconds, 2),
                "pil_1proc_level1": bench_python.pil_throughput(
                    batch, enc_seconds, 0, params={"compress_level": 1}),
                "pil_1proc_jpeg75": bench_python.pil_throughput(
                    batch, enc_seconds, 0, fmt="JPEG", params={"quality": 75}),
            }
    except Exception as e:  # noqa: BLE001 - report what was measured, then fail
        res["errors"].append(repr(e))
    finally:
        res["machine"]["load_end"] = bench_daemon.load_average()
        if own_workdir:
            shutil.rmtree(work, ignore_errors=True)

    res["targets"] = report.targets(res)
    print(report.table(res))
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))
    failed_jobs = sum(r["failed"] for r in res["e2e"]) + res.get("flood", {}).get("failed", 0)
    for problem in res["errors"]:
        print(f"ERROR: {problem}", file=sys.stderr)
    if failed_jobs:
        print(f"ERROR: {failed_jobs} jobs failed during the measurements", file=sys.stderr)
    return 1 if res["errors"] or failed_jobs else 0


if __name__ == "__main__":
    sys.exit(main())
