"""Several endpoints against fake daemons: parsing, spread, failover, re-routing unsent saves."""

from __future__ import annotations

import concurrent.futures
import os
import time

import numpy as np
import pytest
import torch

import imgsink
from client_helpers import closing_client, wait_until
from fake_daemon import FakeDaemon, reply
from imgsink._endpoints import choose, parse_endpoints


def _connected(client, i):
    return client._conn is not None and client._conn._links[i].connected


@pytest.fixture
def two(short_tmp):
    """Two endpoints; the test starts daemons on them as it needs."""
    return [f"ipc://{short_tmp}/a.sock", f"ipc://{short_tmp}/b.sock"]


@pytest.fixture
def daemons():
    started = []
    yield started
    for d in started:
        if not d._stop.is_set():
            d.stop()


def _start(daemons, endpoint, **kw):
    d = FakeDaemon(endpoint, **kw)
    daemons.append(d)
    return d


def _paths(daemon):
    return [r.header["path"] for r in daemon.received if r.header["kind"] == "save"]


# -- giving endpoints ----------------------------------------------------------------------


def test_endpoint_lists_are_parsed_and_checked():
    assert parse_endpoints("ipc:///a") == ("ipc:///a",)
    assert parse_endpoints(" ipc:///a , tcp://h:1 ") == ("ipc:///a", "tcp://h:1")
    assert parse_endpoints(["ipc:///a", " tcp://h:1"]) == ("ipc:///a", "tcp://h:1")
    assert parse_endpoints(("ipc:///a",)) == ("ipc:///a",)
    for bad, says in [("ipc:///a,,ipc:///b", "endpoint 2 of 3"), ("ipc:///a, ", "endpoint 2"),
                      ("", "endpoint 1 of 1"), ([], "empty"), (["ipc:///a", ""], "endpoint 2"),
                      ("ipc:///a,ipc:///b, ipc:///a", "'ipc:///a' is listed twice"),
                      ("garbage", "'garbage' .* is not transport://address"),
                      ("ipc:///a,localhost:5555", "'localhost:5555'")]:
        with pytest.raises(ValueError, match=says):
            imgsink.Client(bad)
    with pytest.raises(TypeError, match="endpoint 2"):
        imgsink.Client(["ipc:///a", 5])
    with pytest.raises(TypeError):
        imgsink.Client(b"ipc:///a")
    with pytest.raises(ValueError, match="endpoint_policy"):
        imgsink.Client("ipc:///a", endpoint_policy="random")


def test_client_reports_its_endpoints(monkeypatch):
    c = imgsink.Client(" ipc:///a ,ipc:///b")
    assert c.endpoints == ("ipc:///a", "ipc:///b") and c.endpoint == " ipc:///a ,ipc:///b"
    assert imgsink.Client(["ipc:///a", "ipc:///b"]).endpoint == "ipc:///a,ipc:///b"
    one = imgsink.Client("ipc:///a")
    assert one.endpoints == ("ipc:///a",) and one.endpoint == "ipc:///a"
    assert one.endpoint_policy == "spread"
    monkeypatch.setenv("IMGSINK_ENDPOINT", "ipc:///x, ipc:///y")
    assert imgsink.Client().endpoints == ("ipc:///x", "ipc:///y")
    monkeypatch.setenv("IMGSINK_ENDPOINT", "ipc:///x,ipc:///x")
    with pytest.raises(ValueError, match="twice"):
        imgsink.Client()
    with pytest.raises(ValueError, match="not one of"):
        c.stats(endpoint="ipc:///c")


def test_choose_spreads_by_load_and_fails_over_in_order():
    assert choose("spread", [True, True, True], [5, 3, 3], 0) == 1
    assert choose("spread", [True, True, True], [5, 3, 3], 2) == 2  # tie: from the turn on
    assert choose("spread", [True, False, True], [5, 0, 9], 1) == 0
    assert choose("failover", [False, True, True], [0, 9, 0], 2) == 1
    assert choose("spread", [False, False], [0, 0], 0) is None
    assert choose("failover", [False, False], [0, 0], 0) is None


# -- choosing an endpoint --------------------------------------------------------------------


def test_spread_gives_equal_daemons_equal_shares(two, daemons):
    a, b = _start(daemons, two[0]), _start(daemons, two[1])
    with closing_client(two) as c:
        assert c.stats(endpoint=two[0]) and c.stats(endpoint=two[1])  # both connected
        jobs = [c.save_image(torch.rand(3, 8, 8), f"s/{i}.png") for i in range(40)]
        assert c.flush(20) and all(j.exception() is None for j in jobs)
    got_a, got_b = _paths(a), _paths(b)
    assert sorted(got_a + got_b) == sorted(j.path for j in jobs)
    assert 15 <= len(got_a) <= 25, (len(got_a), len(got_b))
    for j in jobs:
        assert j.endpoint == (two[0] if j.path in got_a else two[1])


def test_spread_sends_to_the_daemon_with_fewest_pending_bytes(two, daemons):
    a = _start(daemons, two[0], handler=lambda req: [reply(req)])  # accepts, never done
    b = _start(daemons, two[1])
    with closing_client(two) as c:  # its close() waits 5 s at most for the job that never ends
        c.stats(endpoint=two[0]), c.stats(endpoint=two[1])
        big = c.save_image(torch.rand(3, 64, 64), "big.png")  # 49152 bytes stay on one daemon
        assert big.wait_accepted(10)
        small = [c.save_image(torch.rand(3, 8, 8), f"small/{i}.png") for i in range(20)]
        _, late = concurrent.futures.wait(small, 10)
        assert not late and all(j.exception() is None for j in small)
        held = big.endpoint
        assert {j.endpoint for j in small} == set(two) - {held}  # 20 * 768 < 49152
    assert len(_paths(a)) + len(_paths(b)) == 21


def test_failover_sends_to_the_first_until_it_goes_away(two, daemons):
    a, b = _start(daemons, two[0]), _start(daemons, two[1])
    with closing_client(two, endpoint_policy="failover") as c:
        c.stats(endpoint=two[1])  # the second is connected too, and still gets nothing
        wait_until(lambda: _connected(c, 0))
        first = [c.save_image(torch.rand(3, 8, 8), f"a/{i}.png") for i in range(10)]
        assert c.flush(10) and all(j.exception() is None and j.endpoint == two[0]
                                   for j in first)
        a.stop()
        wait_until(lambda: not _connected(c, 0))
        later = [c.save_image(torch.rand(3, 8, 8), f"b/{i}.png") for i in range(10)]
        assert c.flush(10) and all(j.exception() is None and j.endpoint == two[1]
                                   for j in later)
    assert _paths(a) == [f"a/{i}.png" for i in range(10)]
    assert _paths(b) == [f"b/{i}.png" for i in range(10)]


def test_saves_wait_for_the_first_daemon_to_connect(two, daemons):
    with closing_client(two, timeout=30) as c:
        jobs = [c.save_image(torch.rand(3, 4, 4), f"w/{i}.png") for i in range(3)]
        time.sleep(0.2)
        assert not any(j.done() for j in jobs) and all(j.endpoint is None for j in jobs)
        b = _start(daemons, two[1])
        assert all(j.result(20) is None and j.endpoint == two[1] for j in jobs)
    assert _paths(b) == [f"w/{i}.png" for i in range(3)]


def test_no_daemon_at_any_endpoint_fails_with_disconnected(two):
    with closing_client(two, timeout=0.3) as c:
        job = c.save_image(torch.rand(3, 4, 4), "x.png")
        with pytest.raises(imgsink.ImgsinkError) as e:
            job.result(10)
    assert e.value.code == "disconnected" and job.endpoint is None
    assert f"any of {two[0]}, {two[1]}" in e.value.message


# -- failover of unsent work -----------------------------------------------------------------


@pytest.mark.parametrize("endpoint_policy", ["failover", "spread"])
def test_save_waiting_for_credit_moves_to_another_daemon(two, daemons, endpoint_policy):
    a = _start(daemons, two[0], credit_handler=lambda req: [])  # withholds credit
    with closing_client(two, endpoint_policy=endpoint_policy, copy=False) as c:
        c.stats(endpoint=two[0])
        data = np.random.rand(3, 100, 100).astype(np.float32)  # zero-copy: the caller's memory
        job = c.save_image(data, "moved.png")
        with a.arrived:
            assert a.arrived.wait_for(lambda: len(a.credits) == 1, 10)
        assert job.endpoint == two[0] and not job.sent()
        b = _start(daemons, two[1])
        wait_until(lambda: _connected(c, 1))
        assert not job.wait_sent(0.2)  # still waiting on the first daemon's credit
        a.stop()
        assert job.result(10) is None
        assert job.endpoint == two[1]
    assert _paths(a) == [] and _paths(b) == ["moved.png"]
    assert len(b.credits) == 1 and b.received[0].payload == data.tobytes()


def test_sent_save_is_not_resent_when_its_daemon_goes_away(two, daemons):
    a = _start(daemons, two[0], handler=lambda req: [reply(req)])  # accepts, never done
    b = _start(daemons, two[1])
    with closing_client(two, endpoint_policy="failover") as c:
        c.stats(endpoint=two[1])
        wait_until(lambda: _connected(c, 0))
        job = c.save_image(torch.rand(3, 4, 4), "sent.png")
        assert job.wait_accepted(10) and job.endpoint == two[0]
        a.stop()
        with pytest.raises(imgsink.ImgsinkError) as e:
            job.result(10)
        assert e.value.code == "disconnected" and two[0] in e.value.message
        assert job.endpoint == two[0]
        assert c.save_image(torch.rand(3, 4, 4), "next.png").result(10) is None
    assert _paths(b) == ["next.png"]


# -- the rest of the client with several endpoints ----------------------------------------------


def test_stats_asks_the_named_endpoint(two, daemons):
    _start(daemons, two[0])
    # The stats wait (0.3 s) well below the client's timeout (5 s), after which a request that
    # found no connection ends `disconnected`: with equal clocks the two raced under load.
    with closing_client(two, timeout=5) as c:
        assert c.stats()["jobs_done"] == 7  # the first by default
        with pytest.raises(imgsink.ImgsinkError) as e:
            c.stats(timeout=0.3, endpoint=f" {two[1]}")  # nobody there
        assert e.value.code == "timeout" and two[1] in e.value.message


def test_job_refused_in_the_client_has_no_endpoint(two, daemons):
    _start(daemons, two[0], handler=lambda req: [])  # never answers: the budget stays used
    with closing_client(two, max_pending_bytes=1000, timeout=5) as c:
        first = c.save_image(torch.rand(3, 10, 10), "1.png")
        dropped = c.save_image(torch.rand(3, 10, 10), "2.png", policy="drop")
        assert isinstance(dropped.exception(1), imgsink.Busy) and dropped.endpoint is None
        wait_until(lambda: first.endpoint == two[0])


def test_curve_keys_are_not_used_for_ipc_endpoints(two, daemons):
    import zmq
    pub, sec = zmq.curve_keypair()
    a, b = _start(daemons, two[0]), _start(daemons, two[1])
    with closing_client(two, curve=(pub, pub, sec), timeout=5) as c:
        c.stats(endpoint=two[1])
        jobs = [c.save_image(torch.rand(3, 4, 4), f"{i}.png") for i in range(4)]
        assert c.flush(10) and all(j.exception() is None for j in jobs)
    assert len(_paths(a)) + len(_paths(b)) == 4


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads
def test_fork_child_opens_its_own_connections_to_every_endpoint(two, daemons):
    a, b = _start(daemons, two[0]), _start(daemons, two[1])
    c = imgsink.Client(two)
    c.stats(endpoint=two[0]), c.stats(endpoint=two[1])
    assert c.save_image(torch.rand(3, 4, 4), "parent.png").result(10) is None
    parent = {r.identity for d in (a, b) for r in d.received}  # both links: stats went to each
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            c.stats(endpoint=two[0]), c.stats(endpoint=two[1])
            jobs = [c.save_image(torch.rand(3, 4, 4), f"child/{i}.png") for i in range(6)]
            ok = c.flush(10) and all(j.exception() is None for j in jobs)
            code = 0 if ok and {j.endpoint for j in jobs} == set(two) else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    child = {r.identity for d in (a, b) for r in d.received
             if r.header.get("path", "").startswith("child/")}
    assert len(parent) == 2 and len(child) == 2 and not parent & child
    c.close()
