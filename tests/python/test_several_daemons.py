"""One client, two real imgsinkd daemons: spread, failover, and unsent saves that move."""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
import pytest
import torch

import imgsink
from conftest import real_daemon, imgsinkd_path
from client_helpers import closing_client, wait_until
from fake_daemon import FakeDaemon
from matrix import read_image, torchvision_png


@pytest.fixture
def pair():
    if imgsinkd_path() is None:
        pytest.skip("imgsinkd is not built (set IMGSINK_BIN_DIR to the build's bin dir)")
    roots = [tempfile.mkdtemp(prefix="imgsink-d-", dir="/tmp") for _ in range(2)]
    daemons = []
    try:
        for root in roots:
            daemons.append(real_daemon(root))
        yield daemons
    finally:
        for d in daemons:
            d.stop()
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)


def _image(i):
    return torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(i))


def _written_where_reported(daemons, jobs, tag):
    """Asserts each job's file is in the output root of the daemon ``job.endpoint`` names and
    in no other, with torchvision's pixels.  Returns how many files each daemon wrote."""
    counts = []
    for d in daemons:
        mine = [i for i, j in enumerate(jobs) if j.endpoint == d.endpoint]
        for i in range(len(jobs)):
            path = os.path.join(d.out, tag, f"{i}.png")
            assert os.path.exists(path) == (i in mine), (path, jobs[i].endpoint)
            if i in mine:
                assert np.array_equal(read_image(path), torchvision_png(_image(i)))
        counts.append(len(mine))
    return counts


def test_spread_writes_equal_shares_in_each_daemons_root(pair):
    endpoints = [d.endpoint for d in pair]
    with closing_client(endpoints) as c:
        for e in endpoints:
            c.stats(endpoint=e)  # both connected before the burst
        jobs = [c.save_image(_image(i), f"spread/{i}.png") for i in range(24)]
        assert c.flush(120) and all(j.exception() is None for j in jobs)
    a, b = _written_where_reported(pair, jobs, "spread")
    assert a + b == 24 and 8 <= a <= 16, (a, b)


def test_failover_moves_on_when_the_first_daemon_is_killed(pair):
    endpoints = [d.endpoint for d in pair]
    with closing_client(endpoints, endpoint_policy="failover") as c:
        for e in reversed(endpoints):
            c.stats(endpoint=e)
        jobs = [c.save_image(_image(i), f"fo/{i}.png") for i in range(5)]
        assert c.flush(120) and all(j.exception() is None for j in jobs)
        assert {j.endpoint for j in jobs} == {endpoints[0]}
        pair[0].proc.kill()
        pair[0].proc.wait()
        wait_until(lambda: not c._conn._links[0].connected, timeout=20.0)
        jobs += [c.save_image(_image(i), f"fo/{i}.png") for i in range(5, 10)]
        assert c.flush(120) and all(j.exception() is None for j in jobs)
    assert _written_where_reported(pair, jobs, "fo") == [5, 5]
    assert {j.endpoint for j in jobs[5:]} == {endpoints[1]}


def test_save_waiting_for_credit_moves_to_the_other_daemon(pair, short_tmp):
    """The first endpoint withholds credit (a fake daemon), then goes away: the save, still the
    caller's memory, is written by the real daemon."""
    first = f"ipc://{short_tmp}/stingy.sock"
    stingy = FakeDaemon(first, credit_handler=lambda req: [])
    try:
        with closing_client([first, pair[0].endpoint], endpoint_policy="failover") as c:
            c.stats(endpoint=first)
            c.stats(endpoint=pair[0].endpoint)
            job = c.save_image(_image(0), "moved/0.png")
            with stingy.arrived:
                assert stingy.arrived.wait_for(lambda: len(stingy.credits) == 1, 10)
            assert job.endpoint == first and not job.done()
            stingy.stop()
            assert job.result(60) is None
        assert job.endpoint == pair[0].endpoint
        assert [r.header["kind"] for r in stingy.received] == ["status"]  # no save
        assert np.array_equal(read_image(os.path.join(pair[0].out, "moved", "0.png")),
                              torchvision_png(_image(0)))
    finally:
        if not stingy._stop.is_set():
            stingy.stop()
