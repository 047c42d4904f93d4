"""IoLoop: the I/O-thread half of Connection (see _connection.py for the whole picture).

The thread owns the DEALER sockets, one per endpoint (``Link``), and the side sockets of the
shared-memory hand-off.  Each turn of its loop: poll the sockets, their monitor sockets, the
side sockets and the wake-up pipe (_wake_pipe.py); dispatch what the daemons sent (credit
grants, replies, done events: _replies.py); follow connects and disconnects (a connect says
hello on the side socket, _shm_handoff.py; a disconnect moves the endpoint's unsent saves back
to the inbox); route the inbox's saves to connected endpoints; per endpoint, ask credit for
waiting saves and send ready requests in order; expire requests that found no daemon in time.
Futures are resolved outside the lock (their done callbacks take it).

Thread-safety: every method runs on the I/O thread, taking Connection._cond for shared state.
REQUIRES: mixed into Connection, whose __init__ sets the attributes used here.
"""

from __future__ import annotations

import collections
import logging
import time
from typing import Deque, List, Optional, Tuple

import zmq
import zmq.utils.monitor

from . import _lifecycle, _protocol
from ._errors import ImgsinkError
from ._link import HANDSHAKE_FAILED, Link
from ._request import Request, fail, is_save
from ._tensor import bytes_view

__all__ = ["IoLoop"]

log = logging.getLogger("imgsink")

_COPY_THRESHOLD = 64 * 1024  # smaller tensor frames are copied by pyzmq anyway


class IoLoop:
    """The I/O thread's methods of Connection."""

    def _run(self) -> None:
        _lifecycle.block_signals_in_this_thread()
        try:
            for link in self._links:
                link.open(self._ctx, self._curve, self._linger_ms)
            self._loop()
        except Exception:  # a bug: fail everything loudly rather than hang callers
            log.exception("imgsink I/O thread failed")
            self._fail_all(ImgsinkError("internal", "the client's I/O thread failed"))
        finally:
            with self._cond:
                self._closing = True
            self._settle_failures()
            self._fail_all(ImgsinkError("disconnected", "the client was closed before the "
                                        "request finished"))
            for link in self._links:
                link.close()

    def _loop(self) -> None:
        poller = zmq.Poller()
        for link in self._links:
            poller.register(link.sock, zmq.POLLIN)
            poller.register(link.monitor, zmq.POLLIN)
        poller.register(self._wake_pipe.fileno(), zmq.POLLIN)
        self._poller = poller  # side sockets of the shared-memory hand-off come and go
        while True:
            want_out, timeout_ms = self._plan()
            self._settle_failures()
            for link, out in zip(self._links, want_out):
                poller.modify(link.sock, zmq.POLLIN | (zmq.POLLOUT if out else 0))
            ready = dict(poller.poll(timeout_ms))
            if self._wake_pipe.fileno() in ready:
                self._wake_pipe.drain()
            for link in self._links:
                self._receive(link)      # before monitor events: replies sent before a
                self._watch(link)        # disconnect still count
                if link.shm_sock is not None and link.shm_sock.fileno() in ready:
                    self._shm_check(link)
            with self._cond:
                if self._closing:
                    return
                self._route_locked()
            for link in self._links:
                self._ask_credit(link)
                self._send(link)
            self._expire()
            self._settle_failures()

    def _plan(self) -> Tuple[List[bool], Optional[int]]:
        """Returns (per link: whether to poll for POLLOUT, poll timeout in ms or None)."""
        timeouts = []
        with self._cond:
            if self._inbox:  # waits for a connection: a connect event ends the poll
                left = min(r.deadline for r in self._inbox) - time.monotonic()
                connected = any(link.connected for link in self._links)
                timeouts.append(0 if connected else max(0, int(left * 1000) + 1))
            want_out = []
            for link in self._links:
                out, timeout_ms = self._plan_link_locked(link)
                want_out.append(out)
                if timeout_ms is not None:
                    timeouts.append(timeout_ms)
        return want_out, min(timeouts) if timeouts else None

    def _plan_link_locked(self, link: Link) -> Tuple[bool, Optional[int]]:
        if not link.outbox:
            return False, None
        state = self._head_state_locked(link)  # may drop cancelled or failed heads
        if state == "empty":
            return False, None
        if state == "copying":
            return False, 1  # a CUDA copy in flight: check again soon
        if link.connected:
            asks = link.credits.enabled is not False and any(
                r.credit == "need" for r in link.saves())
            return state == "ready" or asks, None
        left = min(r.deadline for r in link.outbox) - time.monotonic()
        return False, max(0, int(left * 1000) + 1)

    def _head_state_locked(self, link: Link) -> str:
        """Returns what ``link``'s outbox head waits for: "ready", "preparing" (the prepare thread
        renders it; its completion wakes us), "copying" (a CUDA copy: poll), "credit" (a
        grant: its reply wakes us), or "empty".  Drops heads that were cancelled or whose
        rendering failed."""
        while link.outbox:
            req = link.outbox[0]
            if not req.running and req.future.cancelled():
                link.outbox.popleft()
                self._drop_locked(req, None)
                continue
            if req.prepared is not None:
                if not req.prepared.done():
                    return "preparing"
                error = self._take_prepared_locked(req)
                if error is not None:
                    link.outbox.popleft()
                    self._drop_locked(req, error)
                    continue
            if req.event is not None and not req.event.query():
                return "copying"
            if is_save(req) and link.credits.needs_credit(req):
                return "credit"
            return "ready"
        return "empty"

    def _take_prepared_locked(self, req: Request) -> Optional[ImgsinkError]:
        future, req.prepared = req.prepared, None
        try:
            pixels, req.event = future.result()
            req.data = bytes_view(pixels)
        except Exception as e:  # a device error (out of memory, ...) in the prepare thread
            return ImgsinkError("internal", f"rendering {getattr(req.future, 'path', '')!r} "
                                f"on its device failed: {e!r}")
        if req.data.nbytes != req.nbytes:
            return ImgsinkError("internal", f"rendered {req.data.nbytes} bytes, the header "
                                f"declares {req.nbytes}")
        return None

    def _ask_credit(self, link: Link) -> None:
        """Sends a credit request for each save waiting on ``link`` that free credit does not
        cover."""
        with self._cond:
            if not link.connected:
                return
            live = [r for r in link.saves() if r.running or not r.future.cancelled()]
            asks = [(self._next_id_locked(), r)
                    for r in link.credits.plan(live, time.monotonic())]
        for rid, req in asks:
            header = _protocol.encode_client(_protocol.credit_request(
                rid, req.nbytes, req.policy, req.timeout_ms))
            try:
                link.sock.send(header, zmq.NOBLOCK)
            except zmq.Again:
                return  # the rest stay "need"; POLLOUT will tell
            with self._cond:
                link.credits.asked(rid, req)

    def _send(self, link: Link) -> None:
        while True:
            with self._cond:
                if not link.connected or self._head_state_locked(link) != "ready":
                    return
                req = link.outbox[0]
                if not req.running:
                    if not req.future.set_running_or_notify_cancel():  # cancelled just now
                        link.outbox.popleft()
                        self._drop_locked(req, None)
                        continue
                    req.running = True
            try:
                shm = self._send_request(link, req)
            except zmq.Again:
                return  # not writable after all; POLLOUT will tell
            with self._cond:
                self._lend_locked(link, req, shm)
                link.outbox.popleft()
                link.waiting_reply[req.request_id] = req
                if is_save(req):
                    link.credits.spend(req, time.monotonic())

    def _send_request(self, link: Link, req: Request) -> bool:
        """Sends ``req``; returns True iff its tensor went as a shared-memory region."""
        sock = link.sock
        if not is_save(req):
            sock.send(req.header, zmq.NOBLOCK)
            return False
        if self._send_shm(link, req):  # the bytes are in the daemon's mapping of our arena
            return True
        sock.send(req.header, zmq.NOBLOCK | zmq.SNDMORE)
        # The rest of a multipart message never meets the high-water mark.  The request keeps
        # ``data`` until the reply: a no_credit refusal sends it again.
        # Once the process exits, pyzmq's zero-copy collector may be stopped by its atexit
        # handler at any moment: copy from then on (see _lifecycle.py).
        sock.send(req.data, copy=req.nbytes < _COPY_THRESHOLD or _lifecycle.exiting())
        return False

    def _watch(self, link: Link) -> None:
        while True:
            try:
                frames = link.monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            event = zmq.utils.monitor.parse_monitor_message(frames)["event"]
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:  # the pipe exists only from now on
                self._shm_hello(link)  # before saves go out: they may use it at once
                with self._cond:
                    link.connected = link.ever_connected = True
                    link.handshake_error = ""
            elif event & HANDSHAKE_FAILED:
                with self._cond:
                    link.handshake_error = (
                        "; the daemon refused our CURVE key" if event ==
                        zmq.EVENT_HANDSHAKE_FAILED_AUTH else "; the ZeroMQ handshake failed "
                        "(CURVE keys on one side only, or wrong server key?)")
            elif event == zmq.EVENT_DISCONNECTED:
                self._on_disconnected(link)

    def _on_disconnected(self, link: Link) -> None:
        with self._cond:
            link.connected = False
            link.credits.reset(link.saves())
            self._unroute_locked(link)  # unsent saves: to another endpoint (routed next)
            lost_replies = list(link.waiting_reply.values())
            lost_done = [r.future for r in link.waiting_done.values()]
            link.waiting_reply.clear()
            link.waiting_done.clear()
            for req in lost_replies:
                self._release_locked(req)
        for req in lost_replies:
            fail(req.future, ImgsinkError(
                "disconnected", f"the connection to {link.endpoint} dropped before the daemon "
                "replied; the request may or may not have reached it (libzmq also drops the "
                "connection of a request over the daemon's --max-request-bytes)"))
        for job in lost_done:
            job._on_failed(ImgsinkError(
                "disconnected", f"the connection to {link.endpoint} dropped before the done "
                f"event of {job.path!r}; the daemon keeps the job, its outcome is unknown here"))

    def _expire(self) -> None:
        """Drops cancelled requests and fails those that found no daemon in time: saves in the
        inbox while no endpoint is connected, status requests whose endpoint is not."""
        now = time.monotonic()
        with self._cond:
            connected = any(link.connected for link in self._links)
            why = "".join(f"{link.handshake_error} ({link.endpoint})"
                          if len(self._links) > 1 else link.handshake_error
                          for link in self._links if link.handshake_error)
            self._inbox = self._expire_locked(self._inbox, connected, self._where(), why, now)
            for link in self._links:
                link.outbox = self._expire_locked(link.outbox, link.connected, link.endpoint,
                                                  link.handshake_error, now)

    def _expire_locked(self, queue: Deque[Request], connected: bool, where: str, why: str,
                       now: float) -> Deque[Request]:
        keep: Deque[Request] = collections.deque()
        for req in queue:
            if not req.running and req.future.cancelled():
                self._drop_locked(req, None)
            elif not connected and req.deadline <= now:
                self._drop_locked(req, ImgsinkError(
                    "disconnected", f"no daemon reachable at {where} within "
                    f"{self._handoff_timeout:g} s{why}"))
            else:
                keep.append(req)
        return keep

    def _settle_failures(self) -> None:
        # Futures run their done callbacks (which take _cond) when resolved: never under _cond.
        with self._cond:
            failed, self._failed_later = self._failed_later, []
        for future, error in failed:
            fail(future, error)

    def _fail_all(self, error: ImgsinkError) -> None:
        with self._cond:
            reqs = list(self._inbox)
            jobs = []
            self._inbox.clear()
            for link in self._links:
                reqs += list(link.outbox) + list(link.waiting_reply.values())
                jobs += [r.future for r in link.waiting_done.values()]
                link.outbox.clear()
                link.waiting_reply.clear()
                link.waiting_done.clear()
            reqs += list(self._parked.values())
            self._parked.clear()
            for req in reqs:
                self._release_locked(req)
        for req in reqs:
            fail(req.future, error)
        for job in jobs:
            job._on_failed(error)
