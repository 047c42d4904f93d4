"""Client flow control against a fake daemon (PROTOCOL.md, "Flow control (credits)"): a credit
request before each save, refusals, daemons that predate credits, the no_credit resend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import imgsink
from fake_daemon import FakeDaemon, answer_ok, predates_credits, reply


def test_each_save_asks_for_its_credit_first(fake, endpoint):
    with imgsink.Client(endpoint, timeout=7) as c:
        sizes = [(3, 10, 10), (1, 20, 30), (2, 3, 40, 40)]
        jobs = [c.save_image(torch.rand(s), f"c/{i}.png", policy=p)
                for i, (s, p) in enumerate(zip(sizes, ["block", "drop", "error"]))]
        assert c.flush(10) and all(j.exception() is None for j in jobs)
    credits = [(r.header["bytes"], r.header["policy"], r.header["timeout_ms"])
               for r in fake.credits]
    assert credits == [(4 * int(np.prod(s)), p, 7000)
                       for s, p in zip(sizes, ["block", "drop", "error"])]
    for save in fake.received:  # every save comes after a credit request covering it
        position = fake.order.index(("save", save.header["id"]))
        assert sum(1 for kind, _ in fake.order[:position] if kind == "credit") >= \
            1 + [r.header["id"] for r in fake.received].index(save.header["id"])


@pytest.mark.parametrize("code,cls", [("busy", imgsink.Busy), ("too_large",
                                                                imgsink.ImgsinkError)])
def test_credit_refusal_fails_the_job_without_sending_it(endpoint, code, cls):
    daemon = FakeDaemon(endpoint, credit_handler=lambda req: [
        reply(req, ok=False, code=code, message="no room")])
    try:
        with imgsink.Client(endpoint) as c:
            job = c.save_image(torch.rand(3, 8, 8), "x.png", policy="drop")
            with pytest.raises(cls) as e:
                job.result(10)
            assert e.value.code == code and job.sent()
            # the budget is free again: the next save goes through the same steps
            assert isinstance(c.save_image(torch.rand(3, 8, 8), "y.png").exception(10), cls)
        assert daemon.received == [] and len(daemon.credits) == 2
    finally:
        daemon.stop()


def test_daemon_without_credits_gets_plain_saves(endpoint):
    daemon = FakeDaemon(endpoint, credit_handler=predates_credits)
    try:
        with imgsink.Client(endpoint) as c:
            jobs = [c.save_image(torch.rand(3, 8, 8), f"{i}.png") for i in range(5)]
            assert c.flush(10) and all(j.exception() is None for j in jobs)
            asked = len(daemon.credits)  # the first asks go out before the first answer
            assert 1 <= asked <= 5
            jobs = [c.save_image(torch.rand(3, 8, 8), f"{i}.png") for i in range(5, 10)]
            assert c.flush(10) and all(j.exception() is None for j in jobs)
        assert len(daemon.received) == 10 and len(daemon.credits) == asked
    finally:
        daemon.stop()


def test_no_credit_refusal_asks_again_and_resends_once(endpoint):
    refusals = {"left": 1}

    def handler(req):
        if req.header["kind"] == "save" and refusals["left"]:
            refusals["left"] -= 1
            return [reply(req, ok=False, code="no_credit", message="credit taken back")]
        return answer_ok(req)

    daemon = FakeDaemon(endpoint, handler=handler)
    try:
        a = np.random.rand(3, 100, 100).astype(np.float32)
        with imgsink.Client(endpoint) as c:
            assert c.save_image(a, "again.png").result(10) is None
            refusals["left"] = 2
            with pytest.raises(imgsink.ImgsinkError) as e:
                c.save_image(a, "twice.png").result(10)
            assert e.value.code == "no_credit"
        paths = [r.header["path"] for r in daemon.received]
        assert paths == ["again.png", "again.png", "twice.png", "twice.png"]
        assert all(r.payload == a.tobytes() for r in daemon.received)
        assert len(daemon.credits) == 4
    finally:
        daemon.stop()
