"""Helpers shared by the client tests that run several daemons."""
from __future__ import annotations

import contextlib
import time

import imgsink


@contextlib.contextmanager
def closing_client(*args, **kwargs):
    """A Client whose close() on the way out waits 5 s at most: a failed test must not hang
    on a job that never ends."""
    c = imgsink.Client(*args, **kwargs)
    try:
        yield c
    finally:
        c.close(timeout=5)


def wait_until(cond, timeout: float = 10.0, interval: float = 0.01) -> None:
    """Polls cond() until it is true; raises AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)
