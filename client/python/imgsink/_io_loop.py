"""IoLoop: the I/O-thread half of Connection (see _connection.py for the whole picture).

The thread owns the DEALER socket.  Each turn of its loop: poll the socket, the monitor socket
and the wake-up pipe; dispatch what the daemon sent (credit grants, replies, done events);
follow connects and disconnects; ask credit for waiting saves; send ready requests in order;
expire requests that found no daemon in time.  Futures are resolved outside the lock (their
done callbacks take it).

Thread-safety: every method runs on the I/O thread, taking Connection._cond for shared state.
REQUIRES: mixed into Connection, whose __init__ sets the attributes used here.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from typing import Any, Deque, Dict, Optional, Tuple

import zmq
import zmq.utils.monitor

from . import _protocol
from ._errors import ImgsinkError, error_from_code
from ._request import Request, fail, is_save, resolve_status
from ._tensor import bytes_view

__all__ = ["IoLoop"]

log = logging.getLogger("imgsink")

_COPY_THRESHOLD = 64 * 1024  # smaller tensor frames are copied by pyzmq anyway
_HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                     | zmq.EVENT_HANDSHAKE_FAILED_AUTH)


def _routing_id() -> bytes:
    # PROTOCOL.md: 16 random bytes, first byte non-zero (zero is ZeroMQ's generated ids').
    rid = os.urandom(16)
    return bytes([rid[0] | 1]) + rid[1:]


class IoLoop:
    """The I/O thread's methods of Connection."""

    def _run(self) -> None:
        sock = self._ctx.socket(zmq.DEALER)
        monitor = None
        try:
            sock.setsockopt(zmq.ROUTING_ID, _routing_id())
            sock.setsockopt(zmq.IMMEDIATE, 1)
            sock.setsockopt(zmq.SNDHWM, 0)   # bytes are bounded by max_pending_bytes instead
            sock.setsockopt(zmq.RCVHWM, 0)
            sock.setsockopt(zmq.LINGER, self._linger_ms)
            if self._curve is not None:
                sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = self._curve
            monitor = sock.get_monitor_socket(
                zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | _HANDSHAKE_FAILED)
            sock.connect(self.endpoint)
            self._loop(sock, monitor)
        except Exception:  # a bug: fail everything loudly rather than hang callers
            log.exception("imgsink I/O thread failed")
            self._fail_all(ImgsinkError("internal", "the client's I/O thread failed"))
        finally:
            with self._cond:
                self._closing = True
            self._settle_failures()
            self._fail_all(ImgsinkError("disconnected", "the client was closed before the "
                                        "request finished"))
            if monitor is not None:
                sock.disable_monitor()
                monitor.close(linger=0)
            sock.close()

    def _loop(self, sock: zmq.Socket, monitor: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        poller.register(self._rfd, zmq.POLLIN)
        while True:
            want_out, timeout_ms = self._plan()
            self._settle_failures()
            poller.modify(sock, zmq.POLLIN | (zmq.POLLOUT if want_out else 0))
            ready = dict(poller.poll(timeout_ms))
            if self._rfd in ready:
                self._drain_wake_pipe()
            self._receive(sock)          # before monitor events: replies sent before a
            self._watch(monitor)         # disconnect still count
            with self._cond:
                if self._closing:
                    return
            self._ask_credit(sock)
            self._send(sock)
            self._expire()
            self._settle_failures()

    def _plan(self) -> Tuple[bool, Optional[int]]:
        """Returns (whether to poll for POLLOUT, poll timeout in ms or None)."""
        with self._cond:
            if not self._outbox:
                return False, None
            state = self._head_state_locked()  # may drop cancelled or failed heads
            if state == "empty":
                return False, None
            if state == "copying":
                return False, 1  # a CUDA copy in flight: check again soon
            if self._connected:
                asks = self._credits.enabled is not False and any(
                    r.credit == "need" for r in self._saves_locked())
                return state == "ready" or asks, None
            left = min(r.deadline for r in self._outbox) - time.monotonic()
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

    def _head_state_locked(self) -> str:
        """Returns what the outbox's head waits for: "ready", "preparing" (the prepare thread
        renders it; its completion wakes us), "copying" (a CUDA copy: poll), "credit" (a
        grant: its reply wakes us), or "empty".  Drops heads that were cancelled or whose
        rendering failed."""
        while self._outbox:
            req = self._outbox[0]
            if not req.running and req.future.cancelled():
                self._outbox.popleft()
                self._drop_locked(req, None)
                continue
            if req.prepared is not None:
                if not req.prepared.done():
                    return "preparing"
                error = self._take_prepared_locked(req)
                if error is not None:
                    self._outbox.popleft()
                    self._drop_locked(req, error)
                    continue
            if req.event is not None and not req.event.query():
                return "copying"
            if is_save(req) and self._credits.needs_credit(req):
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

    def _ask_credit(self, sock: zmq.Socket) -> None:
        """Sends a credit request for each waiting save that free credit does not cover."""
        with self._cond:
            if not self._connected:
                return
            live = [r for r in self._saves_locked()
                    if r.running or not r.future.cancelled()]
            asks = [(self._next_id_locked(), r)
                    for r in self._credits.plan(live, time.monotonic())]
        for rid, req in asks:
            header = _protocol.encode_client(_protocol.credit_request(
                rid, req.nbytes, req.policy, req.timeout_ms))
            try:
                sock.send(header, zmq.NOBLOCK)
            except zmq.Again:
                return  # the rest stay "need"; POLLOUT will tell
            with self._cond:
                self._credits.asked(rid, req)

    def _send(self, sock: zmq.Socket) -> None:
        while True:
            with self._cond:
                if not self._connected or self._head_state_locked() != "ready":
                    return
                req = self._outbox[0]
                if not req.running:
                    if not req.future.set_running_or_notify_cancel():  # cancelled just now
                        self._outbox.popleft()
                        self._drop_locked(req, None)
                        continue
                    req.running = True
            try:
                self._send_request(sock, req)
            except zmq.Again:
                return  # not writable after all; POLLOUT will tell
            with self._cond:
                self._outbox.popleft()
                self._waiting_reply[req.request_id] = req
                if is_save(req):
                    self._credits.spend(req, time.monotonic())

    def _send_request(self, sock: zmq.Socket, req: Request) -> None:
        if not is_save(req):
            sock.send(req.header, zmq.NOBLOCK)
            return
        sock.send(req.header, zmq.NOBLOCK | zmq.SNDMORE)
        # The rest of a multipart message never meets the high-water mark.  The request keeps
        # ``data`` until the reply: a no_credit refusal sends it again.
        sock.send(req.data, copy=req.nbytes < _COPY_THRESHOLD)

    def _receive(self, sock: zmq.Socket) -> None:
        while True:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
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
            self._dispatch(msg)

    def _dispatch(self, msg: Dict[str, Any]) -> None:
        rid = msg["id"]
        error = None if msg["ok"] else error_from_code(msg["code"], msg["message"])
        with self._cond:
            if msg["kind"] == "reply" and self._credits.is_credit_reply(rid):
                return self._on_credit_reply_locked(rid, msg, error)
            req = self._waiting_reply.pop(rid, None)
            if req is not None and error is not None and error.code == "no_credit" \
                    and not req.resent:
                return self._resend_locked(req)
            if req is not None:
                self._release_locked(req)
                if msg["kind"] == "reply" and msg["ok"] and is_save(req):
                    self._waiting_done[rid] = req.future
            job = self._waiting_done.pop(rid, None) if msg["kind"] == "done" else None
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

    def _on_credit_reply_locked(self, rid: int, msg: Dict[str, Any],
                                error: Optional[ImgsinkError]) -> None:
        if error is None:
            self._credits.granted(rid, msg.get("credit", 0), time.monotonic())
            return
        req = self._credits.refused(rid, error.code, error.message, self._saves_locked())
        if req is None:
            return
        try:
            self._outbox.remove(req)
        except ValueError:
            return  # already gone (cancelled, expired)
        self._drop_locked(req, error)

    def _resend_locked(self, req: Request) -> None:
        """The daemon had less credit for us than we thought (it takes unused credit back):
        forget ours and send ``req`` again, first in line, after a new grant."""
        log.debug("imgsink: no_credit for request %d; asking again", req.request_id)
        req.resent = True
        self._credits.reset(self._saves_locked())
        req.credit = "need"
        self._outbox.appendleft(req)

    def _watch(self, monitor: zmq.Socket) -> None:
        while True:
            try:
                frames = monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            event = zmq.utils.monitor.parse_monitor_message(frames)["event"]
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:  # the pipe exists only from now on
                with self._cond:
                    self._connected = self._ever_connected = True
                    self._handshake_error = ""
            elif event & _HANDSHAKE_FAILED:
                with self._cond:
                    self._handshake_error = (
                        "; the daemon refused our CURVE key" if event ==
                        zmq.EVENT_HANDSHAKE_FAILED_AUTH else "; the ZeroMQ handshake failed "
                        "(CURVE keys on one side only, or wrong server key?)")
            elif event == zmq.EVENT_DISCONNECTED:
                self._on_disconnected()

    def _on_disconnected(self) -> None:
        with self._cond:
            self._connected = False
            self._credits.reset(self._saves_locked())
            lost_replies = list(self._waiting_reply.values())
            lost_done = list(self._waiting_done.values())
            self._waiting_reply.clear()
            self._waiting_done.clear()
            for req in lost_replies:
                self._release_locked(req)
        for req in lost_replies:
            fail(req.future, ImgsinkError(
                "disconnected", f"the connection to {self.endpoint} dropped before the daemon "
                "replied; the request may or may not have reached it (libzmq also drops the "
                "connection of a request over the daemon's --max-request-bytes)"))
        for job in lost_done:
            job._on_failed(ImgsinkError(
                "disconnected", f"the connection to {self.endpoint} dropped before the done "
                f"event of {job.path!r}; the daemon keeps the job, its outcome is unknown here"))

    def _expire(self) -> None:
        """Drops cancelled requests and fails those that found no daemon in time."""
        now = time.monotonic()
        with self._cond:
            keep: Deque[Request] = collections.deque()
            for req in self._outbox:
                if not req.running and req.future.cancelled():
                    self._drop_locked(req, None)
                elif not self._connected and req.deadline <= now:
                    self._drop_locked(req, ImgsinkError(
                        "disconnected", f"no daemon reachable at {self.endpoint} within "
                        f"{self._handoff_timeout:g} s{self._handshake_error}"))
                else:
                    keep.append(req)
            self._outbox = keep

    def _settle_failures(self) -> None:
        # Futures run their done callbacks (which take _cond) when resolved: never under _cond.
        with self._cond:
            failed, self._failed_later = self._failed_later, []
        for future, error in failed:
            fail(future, error)

    def _fail_all(self, error: ImgsinkError) -> None:
        with self._cond:
            reqs = list(self._outbox) + list(self._waiting_reply.values())
            jobs = list(self._waiting_done.values())
            self._outbox.clear()
            self._waiting_reply.clear()
            self._waiting_done.clear()
            for req in reqs:
                self._release_locked(req)
        for req in reqs:
            fail(req.future, error)
        for job in jobs:
            job._on_failed(error)
