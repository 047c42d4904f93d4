"""Client flow against a fake daemon: job states, flush, errors, budgets, threads, fork
(flow control: test_client_credits.py)."""

from __future__ import annotations

import concurrent.futures
import os
import time

import numpy as np
import pytest
import torch

import imgsink
from fake_daemon import FakeDaemon, done, reply


def _manual(req):
    return []  # the test answers by hand


@pytest.fixture
def manual(endpoint):
    daemon = FakeDaemon(endpoint, handler=_manual)
    yield daemon
    daemon.stop()


def test_save_sends_the_tensor_and_the_mapped_options(fake, endpoint):
    t = torch.rand(2, 3, 40, 50)
    with imgsink.Client(endpoint) as c:
        job = c.save_image(t, "./runs//a.png", nrow=1, padding=3, normalize=True,
                           value_range=(0, 1), pad_value=1, compress_level=1,
                           metadata={"step": 10})
        assert job.result(10) is None
        assert job.done() and job.accepted() and job.sent() and job.job_id == 1001
    (req,) = fake.received
    h = req.header
    # The path as written, with the working directory it is relative to (PROTOCOL.md "Paths").
    assert (h["dtype"], h["shape"], h["layout"], h["path"], h["cwd"], h["mode"]) == \
        ("float32", [2, 3, 40, 50], "NCHW", "./runs//a.png", os.getcwd(), "grid")
    assert (h["nrow"], h["padding"], h["normalize"], h["value_range"], h["pad_value"]) == \
        (1, 3, True, [0.0, 1.0], 1.0)
    assert (h["png_level"], h["meta"], h["policy"], h["block_timeout_ms"]) == \
        (1, {"step": "10"}, "block", 30000)
    assert req.payload == t.numpy().tobytes()


def test_each_save_carries_the_working_directory_of_its_call(fake, endpoint, tmp_path,
                                                             monkeypatch):
    sub = tmp_path / "sub"
    sub.mkdir()
    with imgsink.Client(endpoint) as c:
        monkeypatch.chdir(tmp_path)
        c.save_image(torch.rand(3, 4, 4), "a.png").result(10)
        monkeypatch.chdir(sub)
        c.save_image(torch.rand(3, 4, 4), "../a.png").result(10)
        c.save_images(torch.rand(2, 3, 4, 4), "s/{index}.png").result(10)
        c.save_image(torch.rand(3, 4, 4), tmp_path / "abs.png").result(10)
    got = [(r.header["path"], r.header["cwd"]) for r in fake.received]
    assert got == [("a.png", str(tmp_path)), ("../a.png", str(sub)), ("s/{index}.png", str(sub)),
                   (str(tmp_path / "abs.png"), None)]


def test_save_images_uses_each_mode(fake, endpoint):
    batch = np.random.rand(3, 1, 8, 8).astype(np.float16)
    with imgsink.Client(endpoint, policy="drop") as c:
        c.save_images(batch, "d/{index:03d}.jpg", quality=90, keep_gray=True).result(10)
    h = fake.received[0].header
    assert (h["mode"], h["path"], h["dtype"], h["jpeg_quality"], h["keep_gray"],
            h["policy"]) == ("each", "d/{index:03d}.jpg", "float16", 90, True, "drop")
    assert fake.received[0].payload == batch.tobytes()


def test_job_states_follow_reply_and_done(manual, endpoint):
    c = imgsink.Client(endpoint, copy=False)  # zero-copy: sent() waits for the reply
    job = c.save_image(torch.rand(3, 64, 64), "x.png")
    (req,) = manual.wait_for(1)
    assert not job.sent() and not job.accepted() and not job.done()
    assert not c.flush(timeout=0.05)
    manual.send(req, reply(req, job=55))
    assert job.wait_accepted(10) and job.job_id == 55
    assert job.sent() and not job.done()
    manual.send(req, done(req))
    assert job.result(10) is None
    assert c.flush(timeout=10)
    c.close()


@pytest.mark.parametrize("where", ["reply", "done"])
@pytest.mark.parametrize("code,cls", [("bad_path", imgsink.ImgsinkError),
                                      ("busy", imgsink.Busy),
                                      ("write_failed", imgsink.ImgsinkError)])
def test_daemon_errors_reach_the_job(manual, endpoint, where, code, cls):
    with imgsink.Client(endpoint) as c:
        job = c.save_image(torch.rand(3, 4, 4), "x.png")
        (req,) = manual.wait_for(1)
        if where == "reply":
            manual.send(req, reply(req, ok=False, code=code, message="because"))
        else:
            manual.send(req, reply(req))
            manual.send(req, done(req, ok=False, code=code, message="x.png: because"))
        with pytest.raises(cls) as e:
            job.result(10)
        assert e.value.code == code and "because" in e.value.message
        assert isinstance(job.exception(), cls)
        assert job.accepted() == (where == "done")


def test_garbage_from_the_daemon_is_ignored(manual, endpoint):
    with imgsink.Client(endpoint) as c:
        job = c.save_image(torch.rand(3, 4, 4), "x.png")
        (req,) = manual.wait_for(1)
        manual.send_raw(req, b"\xc1garbage")
        manual.send_raw(req, b"\x81\xa1v\x02")
        manual.send(req, reply(req))
        manual.send(req, done(req))
        assert job.result(10) is None


def test_flush_waits_for_everything_before_it(fake, endpoint):
    with imgsink.Client(endpoint) as c:
        jobs = [c.save_image(torch.rand(3, 30, 30), f"f/{i}.png") for i in range(50)]
        assert c.flush(timeout=30)
        assert all(j.done() and j.exception() is None for j in jobs)
        assert c.pending() == 0
    assert len(fake.received) == 50


def test_stats_returns_the_counters(fake, endpoint):
    with imgsink.Client(endpoint) as c:
        assert c.stats() == {"jobs_done": 7, "jobs_failed": 0}


def test_stats_without_a_daemon_times_out_or_finds_no_daemon(endpoint):
    # Two clocks: stats' own wait, and the client's timeout for finding a daemon (after which
    # the request fails with "disconnected").  Whichever ends first decides; equal ones race.
    with imgsink.Client(endpoint, timeout=5) as c:
        with pytest.raises(imgsink.ImgsinkError) as e:
            c.stats(timeout=0.2)
        assert e.value.code == "timeout"
    with imgsink.Client(endpoint, timeout=0.2) as c:
        with pytest.raises(imgsink.ImgsinkError) as e:
            c.stats(timeout=10)
        assert e.value.code == "disconnected"


def test_no_daemon_fails_the_job_with_disconnected(endpoint):
    with imgsink.Client(endpoint, timeout=0.3) as c:
        job = c.save_image(torch.rand(3, 4, 4), "x.png")
        with pytest.raises(imgsink.ImgsinkError) as e:
            job.result(10)
        assert e.value.code == "disconnected" and job.sent() and not job.accepted()


def test_save_that_waited_for_credit_waits_timeout_again_after_a_drop(endpoint):
    # A save queued longer than `timeout` (waiting for credit on a live connection) must not
    # fail the moment that connection drops: like any save with no daemon, it gets `timeout`
    # from then on to find one (a daemon restart).  The C++ client does the same.
    first = FakeDaemon(endpoint, credit_handler=lambda req: [])  # withholds credit
    second = None
    try:
        with imgsink.Client(endpoint, timeout=1.0) as c:
            c.stats()
            job = c.save_image(torch.rand(3, 4, 4), "restart.png")
            with first.arrived:
                assert first.arrived.wait_for(lambda: len(first.credits) == 1, 10)
            time.sleep(1.3)  # past the deadline it was queued with; connected, so it waits
            assert not job.done()
            first.stop()
            time.sleep(0.3)  # the drop is seen; no daemon: the save waits, it does not fail
            assert not job.done(), job.exception(0)
            second = FakeDaemon(endpoint)
            assert job.result(10) is None
        assert [r.header["path"] for r in second.received] == ["restart.png"]
    finally:
        if not first._stop.is_set():
            first.stop()
        if second is not None:
            second.stop()


def test_requests_wait_for_a_daemon_that_starts_late(endpoint):
    with imgsink.Client(endpoint, timeout=30) as c:
        job = c.save_image(torch.rand(3, 4, 4), "x.png")
        time.sleep(0.3)
        daemon = FakeDaemon(endpoint)
        try:
            assert job.result(20) is None
        finally:
            daemon.stop()


def test_daemon_going_away_fails_unanswered_jobs(endpoint):
    daemon = FakeDaemon(endpoint, handler=lambda req: [reply(req)])  # accepts, never done
    with imgsink.Client(endpoint, timeout=5) as c:
        job = c.save_image(torch.rand(3, 4, 4), "x.png")
        assert job.wait_accepted(10)
        daemon.stop()
        with pytest.raises(imgsink.ImgsinkError) as e:
            job.result(10)
        assert e.value.code == "disconnected" and "done event" in e.value.message


def test_client_budget_policies(manual, endpoint):
    big = torch.rand(3, 100, 100)  # 120000 bytes
    c = imgsink.Client(endpoint, max_pending_bytes=150_000, timeout=0.3)
    first = c.save_image(big, "1.png")
    with pytest.raises(imgsink.Busy):
        c.save_image(big, "2.png", policy="error")
    dropped = c.save_image(big, "3.png", policy="drop")
    assert isinstance(dropped.exception(0), imgsink.Busy)
    t0 = time.monotonic()
    with pytest.raises(imgsink.Busy, match="waiting"):
        c.save_image(big, "4.png")  # block: waits `timeout` then gives up
    assert time.monotonic() - t0 >= 0.25
    # An answer frees the budget and unblocks a waiting caller.
    (req,) = manual.wait_for(1)
    waiter = concurrent.futures.ThreadPoolExecutor(1).submit(
        lambda: imgsink.Client.save_image(c, big, "5.png"))
    time.sleep(0.1)
    assert not waiter.done()
    manual.send(req, reply(req))
    fifth = waiter.result(10)
    assert first.wait_accepted(10)
    assert len(manual.wait_for(2)) == 2 and fifth.request_id != first.request_id
    c.close(timeout=0)
    assert isinstance(fifth.exception(1), imgsink.ImgsinkError)  # closed before it finished


def test_cancel_before_sending(endpoint):
    c = imgsink.Client(endpoint, timeout=30)  # no daemon yet: the job stays in the outbox
    job = c.save_image(torch.rand(3, 4, 4), "x.png")
    assert job.cancel() and job.cancelled()
    daemon = FakeDaemon(endpoint)
    try:
        later = c.save_image(torch.rand(3, 4, 4), "y.png")
        assert later.result(20) is None
        assert [r.header["path"] for r in daemon.received] == ["y.png"]
    finally:
        c.close()
        daemon.stop()


def test_zero_copy_send_reads_the_callers_memory_until_sent(manual, endpoint):
    a = np.random.rand(3, 128, 128).astype(np.float32)  # over pyzmq's copy threshold
    with imgsink.Client(endpoint, copy=False) as c:
        job = c.save_image(a, "z.png")
        (req,) = manual.wait_for(1)
        assert req.payload == a.tobytes()
        assert not job.wait_sent(0.05)  # the bytes may be needed again until the reply
        manual.send(req, reply(req))
        assert job.wait_sent(10)
        manual.send(req, done(req))
        job.result(10)
    with imgsink.Client(endpoint, copy=True) as c:
        job = c.save_image(a, "z.png")
        assert job.sent()  # a private copy: the caller may write at once
        expected = a.tobytes()
        a[:] = 0
        (_, req) = manual.wait_for(2)
        assert req.payload == expected
        manual.send(req, reply(req))
        manual.send(req, done(req))
        job.result(10)


def test_many_threads_share_one_client(fake, endpoint):
    c = imgsink.Client(endpoint)
    n_threads, per_thread = 8, 25

    def work(k):
        jobs = []
        for i in range(per_thread):
            t = torch.full((3, 8, 8), float(k * 1000 + i))
            jobs.append(c.save_image(t, f"t{k}/{i}.png"))
        return jobs

    with concurrent.futures.ThreadPoolExecutor(n_threads) as pool:
        jobs = [j for js in pool.map(work, range(n_threads)) for j in js]
    assert c.flush(30)
    assert all(j.exception() is None for j in jobs)
    got = fake.wait_for(n_threads * per_thread)
    assert len({r.header["id"] for r in got}) == n_threads * per_thread
    for r in got:
        k, i = map(int, r.header["path"][1:-4].split("/"))
        assert np.frombuffer(r.payload, np.float32)[0] == k * 1000 + i
    c.close()


def _run_in_child(fn) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if fn() else 3
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads
def test_fork_child_gets_its_own_connection(fake, endpoint, monkeypatch):
    monkeypatch.setenv("IMGSINK_ENDPOINT", endpoint)
    c = imgsink.Client(endpoint)
    c.save_image(torch.rand(3, 4, 4), "parent.png").result(10)
    imgsink.save_image(torch.rand(3, 4, 4), "parent_default.png").result(10)

    def child():
        ok = c.save_image(torch.rand(3, 4, 4), "child.png").result(10) is None
        ok &= imgsink.save_image(torch.rand(3, 4, 4), "child_default.png").result(10) is None
        return ok and c.flush(10) and imgsink.flush(10)

    assert _run_in_child(child) == 0
    c.save_image(torch.rand(3, 4, 4), "parent_after.png").result(10)
    got = {r.header["path"]: r.identity for r in fake.wait_for(5)}
    assert set(got) == {"parent.png", "parent_default.png", "child.png", "child_default.png",
                        "parent_after.png"}
    assert got["child.png"] != got["parent.png"]
    assert got["parent_after.png"] == got["parent.png"]
    c.close()
    imgsink.set_default_client(None)


def test_module_level_functions_use_the_default_client(fake, endpoint, monkeypatch):
    monkeypatch.setenv("IMGSINK_ENDPOINT", endpoint)
    imgsink.set_default_client(None)
    job = imgsink.save_image(torch.rand(3, 4, 4), "m.png")
    jobs = imgsink.save_images(torch.rand(2, 3, 4, 4), "m/{index}.png")
    assert imgsink.flush(10)
    assert job.exception() is None and jobs.exception() is None
    assert imgsink.default_client().endpoint == endpoint
    assert imgsink.stats()["jobs_done"] == 7
    imgsink.default_client().close()
    imgsink.set_default_client(None)


def test_exit_flushes_the_default_client(fake, endpoint, short_tmp):
    """A script that saves and exits without flushing still gets its images sent."""
    import subprocess
    import sys
    script = (
        "import torch, imgsink\n"
        "for i in range(20):\n"
        "    imgsink.save_image(torch.rand(3, 16, 16), f'exit/{i}.png')\n")
    env = dict(os.environ, IMGSINK_ENDPOINT=endpoint,
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    assert len(fake.wait_for(20)) == 20


def test_cuda_tensor_is_prepared_on_the_device(fake, endpoint):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    t = torch.rand(5, 3, 16, 16, device="cuda")
    with imgsink.Client(endpoint) as c:
        c.save_image(t, "g.png", nrow=2).result(10)
    h = fake.received[0].header
    assert (h["dtype"], h["layout"], h["padding"], h["normalize"]) == ("uint8", "HWC", 0,
                                                                       False)
    pixels, event = imgsink.prepare_cuda(t, nrow=2)
    event.synchronize()
    assert fake.received[0].payload == pixels.numpy().tobytes()
