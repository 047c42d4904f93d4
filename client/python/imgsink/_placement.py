"""Placement: whether a Client's saves go to a daemon or are written in this process.

A Client with ``fallback`` writes in this process (as torchvision does) while no daemon
listens, and -- with ``autostart`` -- first tries to start the per-user daemon (_autostart.py).
An auto-started daemon runs with ``--paths caller``: it resolves each save's relative path
against the working directory the client sends with it, so processes working in any directory
share it and every file lands where torchvision would put it.

Thread-safety: ``local()`` may be called from any thread.  After ``os.fork()`` the child calls
``after_fork()`` before anything else touches it.
"""

from __future__ import annotations

import threading
import time
from typing import Optional, Sequence

from . import _autostart, _fallback

__all__ = ["Placement"]

# How often a client writing in-process (or relying on an auto-started daemon, which exits
# when idle) looks for a daemon again, in seconds.
_REPROBE_S = 5.0


class Placement:
    def __init__(self, endpoints: Sequence[str], fallback: bool, autostart: bool) -> None:
        self._endpoints = tuple(endpoints)
        self._fallback = fallback
        self._autostart = autostart and _autostart.wanted(self._endpoints)
        self._lock = threading.Lock()
        self._local = False  # no daemon was reachable at the last probe (and fallback is on)
        # Guarded by _lock.  None: probe at the next save; inf: never (no fallback, no autostart).
        self._probe_at: Optional[float] = \
            None if fallback or self._autostart else float("inf")

    def after_fork(self) -> None:
        self._lock = threading.Lock()  # the parent's may have been held by another thread

    def local(self) -> bool:
        """Returns True iff the next save is written in this process: ``fallback`` is on and
        no daemon listened at the last probe (probes at most every _REPROBE_S seconds)."""
        now = time.monotonic()
        if self._probe_at is None or now >= self._probe_at:
            self._probe(now)
        endpoint = ",".join(self._endpoints)
        if self._local:
            _fallback.say_once(
                "no-daemon", "imgsink: no imgsinkd listens at %s: writing images in this "
                "process the way torchvision.utils.save_image does (training waits for each "
                "image) until one does.  Start imgsinkd to stop waiting; IMGSINK_FALLBACK=0 "
                "makes saves wait for a daemon instead.", endpoint)
            return True
        return False

    def _probe(self, now: float) -> None:
        with self._lock:
            if self._probe_at is not None and now < self._probe_at:
                return
            up = _fallback.reachable(self._endpoints)
            if not up and self._autostart:
                up = self._autostart = _autostart.start(self._endpoints[0])  # once, if failed
            self._local = not up and self._fallback
            # An auto-started daemon exits when idle: probe again now and then to start another.
            self._probe_at = now + _REPROBE_S if self._local or self._autostart else float("inf")
