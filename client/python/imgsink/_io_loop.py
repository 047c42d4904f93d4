"""IoLoop: the I/O-thread half of Connection (see _connection.py for the whole picture).

The thread owns the DEALER sockets, one per endpoint (``Link``).  Each turn of its loop: poll
the sockets, their monitor sockets and the wake-up pipe; dispatch what the daemons sent (credit
grants, replies, done events); follow connects and disconnects (moving a dropped endpoint's
unsent saves back to the inbox); route the inbox's saves to connected endpoints; per endpoint,
ask credit for waiting saves and send ready requests in order; expire requests that found no
daemon in time.  Futures are resolved outside the lock (their done callbacks take it).

Thread-safety: every method runs on the I/O thread, taking Connection._cond for shared state.
REQUIRES: mixed into Connection, whose __init__ sets the attributes used here.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from typing import Any, Deque, Dict, List, Optional, Tuple

import zmq
import zmq.utils.monitor

from . import _lifecycle, _protocol
from ._errors import ImgsinkError, error_from_code
from ._link import HANDSHAKE_FAILED, Link
from ._request import Request, fail, is_save, resolve_status
from ._shm import Region, hello, side_socket_path
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
        poller.register(self._rfd, zmq.POLLIN)
        self._poller = poller  # side sockets of the shared-memory hand-off come and go
        while True:
            want_out, timeout_ms = self._plan()
            self._settle_failures()
            for link, out in zip(self._links, want_out):
                poller.modify(link.sock, zmq.POLLIN | (zmq.POLLOUT if out else 0))
            ready = dict(poller.poll(timeout_ms))
            if self._rfd in ready:
                self._drain_wake_pipe()
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

    def _drain_wake_pipe(self) -> None:
        # Read first, then clear the flag: a caller that saw the flag set relies on this
        # thread handling its request after the clear (the loop's work comes next).
        try:
            while os.read(self._rfd, 4096):
                pass
        except BlockingIOError:
            pass
        with self._cond:
            self._wake_pending = False

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
                req.shm = shm
                if shm:
                    link.shm_lent.add(req.pool_buf)
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
        region = req.pool_buf
        if isinstance(region, Region) and link.shm_token is not None:
            # The bytes are in the arena the daemon mapped: only the header travels.
            sock.send(_protocol.with_shm(req.header, link.shm_token, region.offset),
                      zmq.NOBLOCK | zmq.SNDMORE)
            sock.send(b"", zmq.NOBLOCK)
            return True
        sock.send(req.header, zmq.NOBLOCK | zmq.SNDMORE)
        # The rest of a multipart message never meets the high-water mark.  The request keeps
        # ``data`` until the reply: a no_credit refusal sends it again.
        # Once the process exits, pyzmq's zero-copy collector may be stopped by its atexit
        # handler at any moment: copy from then on (see _lifecycle.py).
        sock.send(req.data, copy=req.nbytes < _COPY_THRESHOLD or _lifecycle.exiting())
        return False

    def _receive(self, link: Link) -> None:
        while True:
            try:
                frames = link.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) != 1:
                log.warning("imgsink: ignoring a daemon message of %d frames", len(frames))
                continue
            try:
                msg = _protocol.decode_server(frames[0])
            except _protocol.ProtocolError as e:
                log.warning("imgsink: ignoring a malformed daemon message: %s", e)
                continue
            self._dispatch(link, msg)

    def _dispatch(self, link: Link, msg: Dict[str, Any]) -> None:
        rid = msg["id"]
        error = None if msg["ok"] else error_from_code(msg["code"], msg["message"])
        with self._cond:
            if msg["kind"] == "reply" and link.credits.is_credit_reply(rid):
                return self._on_credit_reply_locked(link, rid, msg, error)
            req = link.waiting_reply.pop(rid, None)
            if req is not None and error is not None and error.code == "no_credit" \
                    and not req.resent:
                return self._resend_locked(link, req)
            if req is not None:
                if req.shm and error is not None:  # refused: the daemon holds no view of it
                    self._give_lent_locked(link, req)
                self._recycle_locked(req)
                self._release_locked(req)
                if msg["kind"] == "reply" and msg["ok"] and is_save(req):
                    link.waiting_done[rid] = req
            done = link.waiting_done.pop(rid, None) if msg["kind"] == "done" else None
            if done is not None and done.shm:
                self._give_lent_locked(link, done)
            job = None if done is None else done.future
        if req is None and job is None:
            if rid == 0 and error is not None:
                log.warning("imgsink: the daemon could not read a request: %s", error)
            else:
                log.debug("imgsink: ignoring a %s for unknown request %d", msg["kind"], rid)
            return
        if req is not None and not is_save(req):
            resolve_status(req.future, msg, error)
            return
        target = job if job is not None else req.future
        if error is not None:
            target._on_failed(error)
        elif msg["kind"] == "done":
            target._on_done()
        else:
            target._on_accepted(int(msg.get("job", 0)))

    def _on_credit_reply_locked(self, link: Link, rid: int, msg: Dict[str, Any],
                                error: Optional[ImgsinkError]) -> None:
        if error is None:
            link.credits.granted(rid, msg.get("credit", 0), time.monotonic())
            return
        req = link.credits.refused(rid, error.code, error.message, link.saves())
        if req is None:
            return
        try:
            link.outbox.remove(req)
        except ValueError:
            return  # already gone (cancelled, expired)
        self._drop_locked(req, error)

    def _resend_locked(self, link: Link, req: Request) -> None:
        """The daemon had less credit for us than we thought (it takes unused credit back):
        forget ours and send ``req`` again, first in line, after a new grant."""
        log.debug("imgsink: no_credit for request %d; asking again", req.request_id)
        req.resent = True
        link.credits.reset(link.saves())
        req.credit = "need"
        link.outbox.appendleft(req)

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

    def _shm_hello(self, link: Link) -> None:
        """Registers our arena with the daemon of ``link`` when it has a side socket (same
        host, ipc://, --shm on); else the frames carry the bytes.  A side connection still
        open from before this ZeroMQ connection (same daemon) is kept."""
        path = side_socket_path(link.endpoint)
        if link.shm_sock is not None:
            self._shm_check(link)  # a restarted daemon: the old side connection has ended
        if self.arena is None or path is None or link.shm_sock is not None:
            return
        try:
            sock, token = hello(path, self.arena.fd)
        except OSError as e:
            log.debug("imgsink: no shared-memory hand-off with %s: %s", link.endpoint, e)
            return
        with self._cond:
            link.shm_sock, link.shm_token = sock, token
        self._poller.register(sock.fileno(), zmq.POLLIN)

    def _shm_check(self, link: Link) -> None:
        """The side socket is readable: the daemon closed it (it exited or was killed).  Its
        regions come back (no process reads them any more); saves use the frames until the
        next connection's hello."""
        try:
            if link.shm_sock.recv(64):
                return  # the protocol sends nothing more; ignore
        except BlockingIOError:
            return
        except OSError:
            pass
        self._poller.unregister(link.shm_sock.fileno())
        link.shm_sock.close()
        with self._cond:
            link.shm_sock = link.shm_token = None
            lent, link.shm_lent = link.shm_lent, set()
            for region in lent:
                region.arena.give(region)

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
