"""imgsinkd with an s3:// output against s3rver on loopback: single and multipart uploads read
back byte for byte (equal to the local sink's files), the manifest as objects, and the faults:
the store stopped and restarted, a proxy answering 500/503 or dropping connections, kill -9
mid-upload (multipart too).  Every acknowledged job's object must exist with the right bytes
and no multipart upload may be left open."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import bin_path
from s3_helpers import FaultProxy, S3Server, local_files, s3_env

BUCKET = "imgs"
SMALL_PART = ["--s3-multipart-threshold", "5M", "--s3-part-size", "5M"]


def start_daemon(workdir: Path, url: str, prefix: str, extra=(), workers=2):
    from daemon_process import DaemonProcess
    bin_path("imgsinkd")
    d = DaemonProcess(workdir, ["--output", f"s3://{BUCKET}/{prefix}", "--s3-manifest-flush-ms",
                                "100", "--retry-max-delay-ms", "300", "--write-tries", "100000",
                                *extra], workers=workers, env=s3_env(url))
    return d.start()


def stop(d):
    """Stops the daemon, printing its log (shown when the test fails)."""
    print(d.log()[-20000:])
    if d.proc is not None:
        d.stop()


def noise(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(3, h, w), dtype=np.uint8)


def wait_for(cond, timeout=120.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise TimeoutError(what)


def check_bucket_equals_local(s3: S3Server, prefix: str, out: Path, paths=None):
    """Every local file (or each of `paths`) has its object under `prefix` with equal bytes."""
    local = local_files(out)
    keys = s3.list(BUCKET, prefix + "/")
    images = {k[len(prefix) + 1:]: n for k, n in keys.items() if "/.imgsink/" not in k}
    wanted = sorted(paths) if paths is not None else sorted(local)
    missing = [p for p in wanted if p not in images]
    assert not missing, f"no object for {missing[:5]} (of {len(wanted)})"
    for p in wanted:
        assert s3.get(BUCKET, f"{prefix}/{p}") == local[p], p
    return keys


def manifest_paths(s3: S3Server, prefix: str):
    paths = []
    for key in s3.list(BUCKET, f"{prefix}/.imgsink/manifest/"):
        for line in s3.get(BUCKET, key).decode().splitlines():
            paths.append(json.loads(line)["path"])
    return paths


def test_single_and_multipart_uploads_read_back(s3, short_tmp):
    d = start_daemon(short_tmp / "d", s3.url, "run1", SMALL_PART)
    try:
        c = d.client
        jobs = [c.save_images(noise(32, 48, i)[None].repeat(4, 0), f"step{i}/img_{{index}}.png")
                for i in range(5)]
        jobs.append(c.save_image(noise(1900, 1900, 99), "big/noise.png", png_level=0))  # ~10.8 MB
        jobs.append(c.save_image(noise(64, 64, 7), "q/a b+c.jpg"))  # a key that needs escaping
        for j in jobs:
            j.result(120)
        counters = d.wait_idle()
        assert counters["s3_multipart_uploads"] >= 1
        assert counters["s3_backlog_requests"] == 0
        keys = check_bucket_equals_local(s3, "run1", d.out)
        assert len(local_files(d.out)) == 5 * 4 + 2
        assert keys["run1/big/noise.png"] > 10 << 20  # went up in 3 parts of <= 5 MiB
        wait_for(lambda: sorted(manifest_paths(s3, "run1")) == sorted(local_files(d.out)),
                 30, "manifest objects list every file")
        assert s3.open_uploads(BUCKET) == []
    finally:
        stop(d)


def test_store_down_keeps_jobs_journaled_then_uploads_them(s3, short_tmp):
    d = start_daemon(short_tmp / "d", s3.url, "down", ["--s3-tries", "2"])
    try:
        s3.stop()
        jobs = [d.client.save_image(noise(40, 40, i), f"img_{i}.png") for i in range(12)]
        for j in jobs:
            assert j.wait_accepted(30)  # acknowledged: journaled
        c = wait_for(lambda: (lambda c: c if c["retrying"] > 0 else None)(d.status()), 30,
                     "jobs waiting for the store")
        assert c["written"] == 0
        time.sleep(1.0)
        s3.start()
        for j in jobs:
            j.result(120)
        check_bucket_equals_local(s3, "down", d.out)
        assert len(local_files(d.out)) == 12
        assert d.status()["s3_request_failures"] > 0
    finally:
        stop(d)


def test_proxy_errors_and_dropped_connections_are_retried(s3, short_tmp):
    proxy = FaultProxy(s3.port, p500=0.15, p503=0.15, pdrop=0.1, seed=13)
    d = start_daemon(short_tmp / "d", proxy.url, "proxy", SMALL_PART + ["--s3-tries", "3"])
    try:
        jobs = [d.client.save_image(noise(48, 48, i), f"p/img_{i}.png") for i in range(40)]
        jobs.append(d.client.save_image(noise(1900, 1900, 5), "p/big.png", png_level=0))
        for j in jobs:
            j.result(300)
        check_bucket_equals_local(s3, "proxy", d.out)
        c = d.wait_idle()
        assert c["s3_retries"] > 0
        assert proxy.counts["500"] + proxy.counts["503"] + proxy.counts["dropped"] > 0
        wait_for(lambda: len(manifest_paths(s3, "proxy")) >= 41, 60, "manifest")
        assert sorted(set(manifest_paths(s3, "proxy"))) == sorted(local_files(d.out))
        assert s3.open_uploads(BUCKET) == []
        print(f"\nS3 fault proxy figures: {proxy.counts}, client retries {c['s3_retries']}, "
              f"jobs {len(jobs)} all confirmed")
    finally:
        stop(d)
        proxy.close()


def test_kill9_mid_upload_loses_no_acknowledged_job_and_leaves_no_open_upload(s3, short_tmp):
    """Rounds of: save small and multipart images through a proxy that slows parts, kill -9
    once a multipart upload is under way, restart.  Figures are printed for the closing note."""
    work = short_tmp / "d"
    acknowledged = set()
    kills = 0
    open_at_kill = 0  # multipart uploads the kills left open on the server
    aborted = 0       # ... that a restart aborted
    for rnd in range(5):
        proxy = FaultProxy(s3.port, part_delay=0.4, seed=rnd)
        d = start_daemon(work, proxy.url, "kill", SMALL_PART + ["--s3-connections", "2"])
        aborted += d.status()["s3_multipart_aborted"]  # Recover runs before the socket opens
        jobs = {}
        for i in range(6):
            path = f"r{rnd}/small_{i}.png"
            jobs[path] = d.client.save_image(noise(40, 40, 100 * rnd + i), path)
        for i in range(2):
            path = f"r{rnd}/big_{i}.png"
            jobs[path] = d.client.save_image(noise(1900, 1900, 1000 * rnd + i), path, png_level=0)
        for path, j in jobs.items():
            if j.wait_accepted(60):
                acknowledged.add(path)
        wait_for(lambda: proxy.counts["parts"] >= 1, 60, "a part on its way")
        d.kill()
        kills += 1
        open_at_kill += len(s3.open_uploads(BUCKET))
        proxy.close()
    # The last start: straight to the store.  Replay uploads what the kills interrupted and
    # Recover aborts the uploads they left open.
    d = start_daemon(work, s3.url, "kill")
    try:
        # The socket answers before the replayed jobs are submitted: wait for the objects, then
        # for the daemon to be idle.
        wait_for(lambda: all(f"kill/{p}" in s3.list(BUCKET, "kill/") for p in acknowledged),
                 300, "the acknowledged jobs' objects")
        d.wait_idle(120)
        check_bucket_equals_local(s3, "kill", d.out, acknowledged)
        lost = [p for p in acknowledged if f"kill/{p}" not in s3.list(BUCKET, "kill/")]
        assert s3.open_uploads(BUCKET) == []
        aborted += d.status()["s3_multipart_aborted"]
        print(f"\nS3 kill -9 figures: kills={kills} acknowledged={len(acknowledged)} "
              f"lost={len(lost)} multipart uploads open after the kills={open_at_kill}, "
              f"aborted at restart={aborted}")
        assert not lost
        assert open_at_kill > 0, "no kill came mid-multipart: the test did not test that"
        # Each open upload was aborted by a restart (a create still on its way at the kill
        # may add one after the count was taken).
        assert aborted >= open_at_kill
    finally:
        stop(d)


def test_upload_copies_are_charged_to_the_memory_budget(s3, short_tmp):
    """A save of 16 files waits on a stalled store: the daemon's memory charge (memory_bytes,
    what credit is granted against) covers the rendered images and every encoded file the
    upload holds, and the backlog shows on the S3 output's own row (sink 1)."""
    proxy = FaultProxy(s3.port)
    proxy.release.clear()  # every PUT waits
    d = start_daemon(short_tmp / "d", proxy.url, "mem", workers=1)
    try:
        batch = np.stack([noise(64, 64, s) for s in range(16)])  # noise: PNG ~ raw size
        job = d.client.save_images(batch, "m/img_{index}.png")
        # Each encoded file is a little over its encode room (zlib and chunk framing), so the
        # first batch ends after 15 files (14 copies within the room, the 15th the encoder's
        # buffer), and the 16th waits for the second.
        wait_for(lambda: (lambda c: c if c["s3_backlog_requests"] >= 8 else None)(d.status()),
                 30, "the batch's uploads in flight")
        time.sleep(0.5)
        c = d.status()
        rendered = 16 * 64 * 64 * 3
        encode_room = 64 * 64 * 3 + 64  # one image's encoding (a filter byte per row)
        assert c["memory_bytes"] >= rendered + encode_room + 15 * encode_room, c
        # The charge covers the rendered images and every body in flight.
        assert c["s3_in_flight_bytes"] > 14 * 64 * 64 * 3
        assert c["memory_bytes"] >= rendered + c["s3_in_flight_bytes"], c
        print(f"\nstalled store: memory_bytes {c['memory_bytes']}, rendered {rendered}, "
              f"in flight {c['s3_in_flight_bytes']} bytes in {c['s3_backlog_requests']} requests")
        assert c["sink.1.s3_backlog_requests"] == c["s3_backlog_requests"] >= 8
        assert c["sink.1.s3_in_flight_bytes"] == c["s3_in_flight_bytes"]
        assert "sink.0.s3_backlog_requests" not in c  # the local --output-root has none
        proxy.release.set()
        job.result(60)
        c = d.wait_idle()
        assert c["sink.1.s3_backlog_requests"] == 0 and c["sink.1.s3_objects"] >= 16
        check_bucket_equals_local(s3, "mem", d.out)
    finally:
        proxy.release.set()
        stop(d)
        proxy.close()


def test_two_daemons_eight_ranks_one_bucket(s3, short_tmp):
    """Two daemons ("nodes") share one bucket and prefix; 8 ranks (4 per node, each its own
    client on its own thread) save 5 images each.  Every image and every manifest entry must be
    in the bucket, the manifests of the two daemons apart (their run ids differ).  Node 0's
    ranks come over ipc, node 1's over CURVE-authenticated tcp (each rank its own key pair)."""
    import threading
    import zmq
    import imgsink
    from daemon_process import free_port
    server_pub, server_sec = zmq.curve_keypair()
    rank_keys = [zmq.curve_keypair() for _ in range(4)]
    allowed = short_tmp / "allowed"
    allowed.mkdir()
    (short_tmp / "server.key").write_bytes(server_sec + b"\n")
    for i, (pub, _) in enumerate(rank_keys):
        (allowed / f"rank{4 + i}.pub").write_bytes(pub + b"\n")
    tcp = f"tcp://127.0.0.1:{free_port()}"
    curve_args = ["--listen", tcp, "--curve-secret-key", str(short_tmp / "server.key"),
                  "--curve-allowed-keys", str(allowed)]
    nodes = [start_daemon(short_tmp / "n0", s3.url, "shared"),
             start_daemon(short_tmp / "n1", s3.url, "shared", curve_args)]
    try:
        errors = []

        def client_of(rank):
            if rank < 4:
                return imgsink.Client(nodes[0].endpoint, timeout=60)
            pub, sec = rank_keys[rank - 4]
            return imgsink.Client(tcp, timeout=60, curve=(server_pub, pub, sec))

        def rank_main(rank):
            try:
                with client_of(rank) as c:
                    jobs = [c.save_image(noise(24, 24, 10 * rank + i), f"r{rank}/img_{i}.png")
                            for i in range(5)]
                    for j in jobs:
                        j.result(120)
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append(f"rank {rank}: {e!r}")

        threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        want = {f"r{r}/img_{i}.png" for r in range(8) for i in range(5)}
        counters = [n.wait_idle() for n in nodes]
        # Node 1 took its 20 saves over tcp (its ipc socket only answered the test's status
        # requests); a key not allowed would have been refused, failing its rank above.
        assert counters[1]["accepted"] == 20 and counters[0]["accepted"] == 20
        keys = s3.list(BUCKET, "shared/")
        assert {k[len("shared/"):] for k in keys if "/.imgsink/" not in k} == want
        for r in range(8):
            node = nodes[r // 4]
            for i in range(5):
                p = f"r{r}/img_{i}.png"
                assert s3.get(BUCKET, f"shared/{p}") == (node.out / p).read_bytes(), p
        wait_for(lambda: sorted(manifest_paths(s3, "shared")) == sorted(want), 30, "manifests")
        runs = {k.split("/")[-1].rsplit("-", 1)[0]
                for k in s3.list(BUCKET, "shared/.imgsink/manifest/")}
        assert len(runs) == 2, runs
    finally:
        for n in nodes:
            stop(n)
