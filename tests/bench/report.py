"""Turns run_bench.py's results into issue 6's target ratios and a printed table."""
from __future__ import annotations

from typing import Dict, List, Optional


def _e2e(res, workload, case, journal, workers, transport=None) -> Optional[dict]:
    """The run of these settings; `transport` None: shm when measured (what same-host clients
    use by default), else frames."""
    if transport is None:
        transports = {r.get("transport", "frames") for r in res["e2e"]}
        transport = "shm" if "shm" in transports else "frames"
    for r in res["e2e"]:
        if (r["workload"], r["case"], r["journal"], r["workers"],
                r.get("transport", "frames")) == (workload, case, journal, workers, transport):
            return r
    return None


def encode_ceiling(res, workload, case) -> Optional[float]:
    """Raw encoder img/s on one core (thread CPU time), tensor images counted."""
    c = res["ceiling"].get(workload, {}).get("cases", {}).get(case)
    return c["img_per_s_cpu"] if c else None


def pipeline_ceiling(res, workload, case, wall: bool = False) -> Optional[float]:
    """img/s of one core doing the daemon's per-job work in-process: render + encode of each
    image, then the atomic durable write of every file.  CPU time (default), or wall time (the
    fsync waits in)."""
    w = res["ceiling"].get(workload)
    c = w and w["cases"].get(case)
    if c and "pipeline" in c:  # measured as the daemon runs it (bench_ceiling TimePipeline)
        ms = c["pipeline"]["ms_per_job_wall" if wall else "ms_per_job_cpu"]
        return w["images_per_request"] / (ms / 1e3)
    if not c or "write" not in c:  # results of older runs: render + (encode + write)
        return None
    write_ms = c["write"]["ms_per_file_wall" if wall else "ms_per_file_cpu"]
    seconds = w["render"]["cpu_ms_median"] / 1e3 + w["files_per_request"] * write_ms / 1e3
    return w["images_per_request"] / seconds


def _target(name, measured, limit, higher_is_better, detail="") -> Dict:
    met = None if measured is None else (measured >= limit if higher_is_better else measured <= limit)
    return {"target": name, "measured": measured, "limit": limit,
            "direction": ">=" if higher_is_better else "<=", "met": met, "detail": detail}


def targets(res) -> List[Dict]:
    s = res["settings"]
    out: List[Dict] = []
    wmax = max(s["workers"])
    for own, st in res.get("stall_cpp", {}).items():
        ok = set(st["outcomes"]) == {"ok"}
        ratio = st["save_image_ms"]["median"] / st["memcpy_warm_ms"]["median"]
        out.append(_target(f"client stall / memcpy (C++ {own})", ratio if ok else None, 2.0, False,
                           "" if ok else f"jobs did not succeed: {st['outcomes']}"))
    py = res.get("stall_python", {})
    for mode in ("zero_copy", "copy"):
        if mode in py:
            st = py[mode]
            ok = set(st["outcomes"]) == {"ok"}
            ratio = st["save_images_ms_median"] / py["numpy_copy_warm_ms"]
            out.append(_target(f"client stall / memcpy (Python {mode})", ratio if ok else None,
                               2.0, False, "" if ok else f"jobs: {st['outcomes']}"))
    for workload in s["workloads"]:
        for case in (s["png_pil"], s["png_fast"], s["jpeg"]):
            r = _e2e(res, workload, case, True, wmax)
            ceil = encode_ceiling(res, workload, case)
            if r and ceil:
                pipe = pipeline_ceiling(res, workload, case)
                detail = f"{r['img_per_s']:.0f} img/s vs {wmax} x {ceil:.0f}"
                if pipe:
                    detail += f"; vs {wmax} x pipeline ceiling {pipe:.0f}: " \
                              f"{r['img_per_s'] / (wmax * pipe):.2f}"
                out.append(_target(f"end-to-end / (workers x encoder ceiling), journal on, "
                                   f"{workload} {case}", r["img_per_s"] / (wmax * ceil), 0.9,
                                   True, detail))
    # Issue 15 item 2: JPEG end to end against workers x single-core pipeline ceiling, with the
    # shared-memory hand-off; frames (before) in the detail, and the daemon's CPU per byte.
    for workload in s["workloads"]:
        for journal in (True, False):
            shm = _e2e(res, workload, s["jpeg"], journal, wmax, "shm")
            frames = _e2e(res, workload, s["jpeg"], journal, wmax, "frames")
            pipe = pipeline_ceiling(res, workload, s["jpeg"])
            if shm and pipe:
                detail = f"shm {shm['img_per_s']:.0f} img/s vs {wmax} x {pipe:.0f}"
                if frames:
                    detail += f"; frames {frames['img_per_s']:.0f} img/s = " \
                              f"{frames['img_per_s'] / (wmax * pipe):.2f}; daemon CPU ns/byte " \
                              f"{frames['daemon_cpu_ns_per_byte']:.3f} -> " \
                              f"{shm['daemon_cpu_ns_per_byte']:.3f}"
                out.append(_target(f"end-to-end shm / (workers x pipeline ceiling), journal "
                                   f"{'on' if journal else 'off'}, {workload} {s['jpeg']}",
                                   shm["img_per_s"] / (wmax * pipe), 0.7, True, detail))
    base, fast = (encode_ceiling(res, "each256", c) for c in (s["png_pil"], s["png_fast"]))
    if base and fast:
        c = res["ceiling"]["each256"]["cases"]
        size = c[s["png_fast"]]["size_ratio"] / c[s["png_pil"]]["size_ratio"]
        out.append(_target(f"fast PNG {s['png_fast']} speed / libpng at PIL settings",
                           fast / base, 4.0, True))
        out.append(_target(f"fast PNG {s['png_fast']} size / PIL-settings size", size, 1.10, False))
        pil = res.get("python", {}).get("pil_1proc_default", {})
        if "img_per_cpu_s" in pil:
            out.append(_target(f"fast PNG {s['png_fast']} speed / PIL itself (level 6, CPU time)",
                               fast / pil["img_per_cpu_s"], 4.0, True))
    fl = res.get("flood")
    if fl:
        out.append(_target("peak RSS - memory budget, 8-client flood (MB)", fl["over_budget_mb"],
                           64.0, False, f"VmHWM {fl['peak_rss_mb']:.0f} MB, budget "
                           f"{fl['memory_budget_mb']:.0f} MB, idle {fl['idle_rss_mb']:.0f} MB"))
    for workload in s["workloads"]:
        for case in (s["png_pil"], s["png_fast"], s["jpeg"]):
            on, off = _e2e(res, workload, case, True, wmax), _e2e(res, workload, case, False, wmax)
            if on and off and off["img_per_s"] > 0:
                out.append(_target(f"journal cost (1 - on/off), {workload} {case}",
                                   1 - on["img_per_s"] / off["img_per_s"], 0.10, False))
            one = _e2e(res, workload, case, True, 1)
            if on and one and wmax > 1 and one["img_per_s"] > 0:
                out.append(_target(f"scaling 1 -> {wmax} workers / linear, journal on, "
                                   f"{workload} {case}", on["img_per_s"] / (wmax * one["img_per_s"]),
                                   0.8, True))
    return out


def _relative(cases, base_case):
    """{case: (speed ratio, size ratio)} against base_case."""
    base = cases.get(base_case)
    if not base:
        return {}
    return {c: (v["img_per_s_cpu"] / base["img_per_s_cpu"], v["size_ratio"] / base["size_ratio"])
            for c, v in cases.items()}


def _fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def table(res) -> str:
    m, lines = res["machine"], []
    lines.append(f"machine: {m['cores']} cores ({m['cpu']}), load average at start "
                 f"{m['load_start']}, at end {m.get('load_end')}")
    lines.append("\n== single-core ceilings (in-process, one thread; img/s counts tensor images) ==")
    lines.append(f"{'workload':9} {'case':22} {'enc img/s':>9} {'wall':>6} {'ms/file':>7} "
                 f"{'size':>5} {'render ms/img':>13} {'enc+write ms/file cpu/wall':>26} "
                 f"{'pipeline img/s cpu/wall':>23}")
    for wl, w in res["ceiling"].items():
        per_img = w["render"]["cpu_ms_median"] / w["images_per_request"]
        for case, c in w["cases"].items():
            wr = c.get("write", {})
            write = f"{_fmt(wr.get('ms_per_file_cpu'))} / {_fmt(wr.get('ms_per_file_wall'))}"
            pipe = f"{_fmt(pipeline_ceiling(res, wl, case), '.0f')} / " \
                   f"{_fmt(pipeline_ceiling(res, wl, case, wall=True), '.0f')}"
            lines.append(f"{wl:9} {case:22} {c['img_per_s_cpu']:9.0f} {c['img_per_s_wall']:6.0f} "
                         f"{c['ms_per_file_cpu']:7.2f} {c['size_ratio']:5.2f} {per_img:13.3f} "
                         f"{write:>26} {pipe:>23}")
        lines.append(f"{'':9} memcpy of the tensor: {w['memcpy']['warm_ms_median']:.2f} ms warm, "
                     f"{w['memcpy']['fresh_ms_median']:.2f} ms into fresh pages")
    if res.get("sweep"):
        lines.append("\n== PNG sweep: speed x / size x relative to " + res["settings"]["png_pil"] +
                     " on the same content (one thread, CPU time) ==")
        names = list(res["sweep"])
        lines.append(f"{'case':22} " + " ".join(f"{n:>16}" for n in names))
        rel = {n: _relative(res["sweep"][n], res["settings"]["png_pil"]) for n in names}
        first = res["sweep"][names[0]]
        for case in sorted(first, key=lambda k: -first[k]["img_per_s_cpu"]):
            cells = [rel[n].get(case) for n in names]
            lines.append(f"{case:22} " + " ".join(
                f"{'-':>16}" if c is None else f"{c[0]:6.2f} / {c[1]:6.3f}" for c in cells))
        for n in names:
            ok = [(c, v) for c, v in rel[n].items() if v[1] <= 1.10]
            if ok:
                best = max(ok, key=lambda cv: cv[1][0])
                lines.append(f"fastest within +10 % size on {n}: {best[0]} "
                             f"(x{best[1][0]:.2f} speed, x{best[1][1]:.3f} size)")
    if res["e2e"]:
        lines.append("\n== end to end (2 bench_load processes x 2 jobs in flight) ==")
        lines.append(f"{'workload':9} {'case':19} {'via':6} {'jnl':3} {'w':>2} {'img/s':>7} "
                     f"{'/w*enc':>7} {'/w*pipe':>7} {'dmn cores':>9} {'img/dmn-cpu-s':>13} "
                     f"{'/pipe':>5} {'ns/byte':>7} {'done ms':>8} load")
        for r in res["e2e"]:
            enc = encode_ceiling(res, r["workload"], r["case"])
            pipe = pipeline_ceiling(res, r["workload"], r["case"])
            lines.append(
                f"{r['workload']:9} {r['case']:19} {r.get('transport', 'frames'):6} "
                f"{'on' if r['journal'] else 'off':3} "
                f"{r['workers']:2} {r['img_per_s']:7.0f} "
                f"{_fmt(enc and r['img_per_s'] / (r['workers'] * enc)):>7} "
                f"{_fmt(pipe and r['img_per_s'] / (r['workers'] * pipe)):>7} "
                f"{r['daemon_cores']:9.2f} {r['img_per_daemon_cpu_s']:13.0f} "
                f"{_fmt(pipe and r['img_per_daemon_cpu_s'] / pipe):>5} "
                f"{_fmt(r.get('daemon_cpu_ns_per_byte'), '.3f'):>7} "
                f"{r['done_ms_median']:8.0f} {r['load_before'][0]}")
    for own, st in res.get("stall_cpp", {}).items():
        lines.append(f"\nC++ client save_image ({own}): median {st['save_image_ms']['median']:.2f} ms "
                     f"(max {st['save_image_ms']['max']:.2f}); memcpy warm "
                     f"{st['memcpy_warm_ms']['median']:.2f} ms, fresh {st['memcpy_fresh_ms']['median']:.2f} ms;"
                     f" outcomes {st['outcomes']}")
    py = res.get("stall_python")
    if py:
        lines.append(f"Python client: {py}")
    if res.get("flood"):
        lines.append(f"\nflood: {res['flood']}")
    if res.get("python"):
        lines.append("\n== Python today ==")
        for k, v in res["python"].items():
            lines.append(f"{k}: {v}")
    lines.append("\n== targets (issue 6) ==")
    for t in res.get("targets", []):
        met = {True: "MET", False: "NOT MET", None: "n/a"}[t["met"]]
        lines.append(f"{met:7} {t['target']}: {_fmt(t['measured'], '.3f')} "
                     f"(target {t['direction']} {t['limit']}) {t['detail']}")
    return "\n".join(lines)
