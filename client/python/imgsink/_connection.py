"""Connection: one DEALER socket to the daemon, driven by one background I/O thread.

ZeroMQ sockets are not thread-safe, so only the I/O thread touches the socket.  Callers (any
thread) append requests to an outbox under a lock and wake the I/O thread through a pipe that
the thread polls next to the socket.  The thread hands requests to the socket, matches replies
and done events to jobs by request id, and watches connect/disconnect events.

Memory bound: the bytes of requests the daemon has not replied to yet (they pin the callers'
tensors or our copies) are limited by ``max_pending_bytes``; a request that does not fit waits,
fails or is dropped by its policy.  One request always fits when nothing is pending.

Delivery: the socket uses ZMQ_IMMEDIATE, so requests stay in our outbox until a daemon is
connected.  Requests that find no daemon within ``handoff_timeout`` fail with ``disconnected``.
When the connection drops, requests the daemon had not replied to fail with ``disconnected``
(they may or may not have reached it), and so do accepted jobs whose done event can no longer
arrive (the daemon still runs them).

Thread-safety: ``submit``, ``flush``, ``close`` and ``status`` are safe from any thread.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from typing import Any, Deque, Dict, Optional, Set

import zmq
import zmq.utils.monitor

from . import _protocol
from ._errors import Busy, ImgsinkError, error_from_code
from ._job import Job

__all__ = ["Connection"]

log = logging.getLogger("imgsink")

_COPY_THRESHOLD = 64 * 1024  # smaller tensor frames are copied by pyzmq anyway


@dataclass
class _Request:
    request_id: int
    header: bytes
    future: Future                 # Job for save, plain Future (-> counters) for status
    data: Any = None               # tensor frame (numpy uint8 view) or None for status
    nbytes: int = 0
    event: Any = None              # CUDA event to complete before reading ``data``
    deadline: float = 0.0          # fail with ``disconnected`` if not handed by then
    running: bool = False          # the future left PENDING (can no longer be cancelled)


class Connection:
    """A process-local connection to one daemon endpoint.  See the module comment."""

    def __init__(self, endpoint: str, *, max_pending_bytes: int, handoff_timeout: float,
                 linger_s: float = 1.0) -> None:
        self.endpoint = endpoint
        self._max_pending = max(1, int(max_pending_bytes))
        self._handoff_timeout = handoff_timeout
        self._linger_ms = int(linger_s * 1000)
        self._pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        # Guarded by _cond:
        self._outbox: Deque[_Request] = collections.deque()
        self._waiting_reply: Dict[int, _Request] = {}   # handed, no reply yet
        self._waiting_done: Dict[int, Job] = {}         # accepted, no done event yet
        self._unfinished: Set[Future] = set()
        self._pending_bytes = 0
        self._next_id = 1
        self._wake_pending = False
        self._closing = False
        self._connected = False
        self._ever_connected = False
        self._rfd, self._wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._ctx = zmq.Context(io_threads=1)
        self._thread = threading.Thread(target=self._run, name="imgsink-io", daemon=True)
        self._thread.start()

    # -- caller side ----------------------------------------------------------------------

    def next_request_id(self) -> int:
        with self._cond:
            rid = self._next_id
            self._next_id += 1
            return rid

    def submit_save(self, job: Job, header: bytes, data: Any, nbytes: int, event: Any,
                    policy: str, block_timeout: float) -> None:
        """Queues a save request.  Applies ``policy`` when the pending budget is full:
        ``block`` waits up to ``block_timeout`` then raises Busy, ``error`` raises Busy,
        ``drop`` fails ``job`` with Busy (nothing raised).  Raises ImgsinkError if closed."""
        req = _Request(job.request_id, header, job, data, nbytes, event)
        with self._cond:
            self._check_open()
            if not self._fits(nbytes):
                if policy == "drop":
                    job._on_failed(Busy("busy", self._busy_text(nbytes)))
                    return
                if policy == "error":
                    raise Busy("busy", self._busy_text(nbytes))
                deadline = time.monotonic() + block_timeout
                while not self._fits(nbytes):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Busy("busy", self._busy_text(nbytes) + f" after waiting "
                                   f"{block_timeout:g} s")
                    self._cond.wait(left)
                    self._check_open()
            self._pending_bytes += nbytes
            self._enqueue_locked(req)
        self._wake()

    def submit_status(self, future: Future, request_id: int) -> None:
        header = _protocol.encode_client(_protocol.status_request(request_id))
        with self._cond:
            self._check_open()
            self._enqueue_locked(_Request(request_id, header, future))
        self._wake()

    def flush(self, timeout: Optional[float]) -> bool:
        """Waits for every request submitted before the call to finish (either way).
        Returns True iff they all did within ``timeout`` seconds."""
        with self._cond:
            snapshot = list(self._unfinished)
        if not snapshot:
            return True
        _, not_done = futures_wait(snapshot, timeout)
        return not not_done

    def pending(self) -> int:
        """Returns the number of unfinished requests."""
        with self._cond:
            return len(self._unfinished)

    def close(self) -> None:
        """Stops the I/O thread; unfinished requests fail with ``disconnected``.  Idempotent.
        In a forked child it only forgets the parent's resources."""
        if os.getpid() != self._pid:
            return  # the thread and the socket live in the parent
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        self._wake(force=True)
        if threading.current_thread() is not self._thread:
            self._thread.join()
        os.close(self._rfd)
        os.close(self._wfd)
        self._ctx.term()

    # -- helpers under _cond ----------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closing:
            raise ImgsinkError("disconnected", "the client is closed")

    def _fits(self, nbytes: int) -> bool:
        return self._pending_bytes == 0 or self._pending_bytes + nbytes <= self._max_pending

    def _busy_text(self, nbytes: int) -> str:
        where = "" if self._ever_connected else (f"; no daemon has answered at "
                                                 f"{self.endpoint} yet -- is imgsinkd running?")
        return (f"client has {self._pending_bytes} bytes pending (limit {self._max_pending}), "
                f"request needs {nbytes}{where}")

    def _enqueue_locked(self, req: _Request) -> None:
        req.deadline = time.monotonic() + self._handoff_timeout
        self._outbox.append(req)
        self._unfinished.add(req.future)
        req.future.add_done_callback(self._forget)

    def _forget(self, future: Future) -> None:
        with self._cond:
            self._unfinished.discard(future)

    def _wake(self, force: bool = False) -> None:
        with self._cond:
            if self._wake_pending and not force:
                return
            self._wake_pending = True
        try:
            os.write(self._wfd, b"x")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (the thread will wake) or closed (shutting down)

    # -- I/O thread -------------------------------------------------------------------------

    def _run(self) -> None:
        sock = self._ctx.socket(zmq.DEALER)
        monitor = None
        try:
            sock.setsockopt(zmq.IMMEDIATE, 1)
            sock.setsockopt(zmq.SNDHWM, 0)   # bytes are bounded by max_pending_bytes instead
            sock.setsockopt(zmq.RCVHWM, 0)
            sock.setsockopt(zmq.LINGER, self._linger_ms)
            monitor = sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
            sock.connect(self.endpoint)
            self._loop(sock, monitor)
        except Exception:  # a bug: fail everything loudly rather than hang callers
            log.exception("imgsink I/O thread failed")
            self._fail_all(ImgsinkError("internal", "the client's I/O thread failed"))
        finally:
            with self._cond:
                self._closing = True
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
            poller.modify(sock, zmq.POLLIN | (zmq.POLLOUT if want_out else 0))
            ready = dict(poller.poll(timeout_ms))
            if self._rfd in ready:
                self._drain_wake_pipe()
            self._receive(sock)          # before monitor events: replies sent before a
            self._watch(monitor)         # disconnect still count
            with self._cond:
                if self._closing:
                    return
            self._send(sock)
            self._expire()

    def _plan(self):
        """Returns (whether to poll for POLLOUT, poll timeout in ms or None)."""
        with self._cond:
            if not self._outbox:
                return False, None
            head = self._outbox[0]
            if head.event is not None and not _event_done(head.event):
                return False, 1  # a CUDA copy in flight: check again soon
            if self._connected:
                return True, None
            left = min(r.deadline for r in self._outbox) - time.monotonic()
            return False, max(0, int(left * 1000) + 1)

    def _drain_wake_pipe(self) -> None:
        with self._cond:
            self._wake_pending = False
        try:
            while os.read(self._rfd, 4096):
                pass
        except BlockingIOError:
            pass

    def _send(self, sock: zmq.Socket) -> None:
        while True:
            with self._cond:
                if not self._outbox or not self._connected:
                    return
                req = self._outbox[0]
                if req.event is not None and not _event_done(req.event):
                    return
                if not req.running:
                    if not req.future.set_running_or_notify_cancel():  # cancelled
                        self._outbox.popleft()
                        self._release_locked(req)
                        continue
                    req.running = True
            try:
                tracker = self._send_request(sock, req)
            except zmq.Again:
                return  # not writable after all; POLLOUT will tell
            with self._cond:
                self._outbox.popleft()
                self._waiting_reply[req.request_id] = req
            if isinstance(req.future, Job):
                req.future._on_handed(tracker)
            req.data = None  # the frame holds the buffer while libzmq needs it

    def _send_request(self, sock: zmq.Socket, req: _Request) -> Any:
        if req.data is None:
            sock.send(req.header, zmq.NOBLOCK)
            return None
        sock.send(req.header, zmq.NOBLOCK | zmq.SNDMORE)
        # The rest of a multipart message never meets the high-water mark.
        if req.nbytes < _COPY_THRESHOLD:
            sock.send(req.data, copy=True)
            return None
        return sock.send(zmq.Frame(req.data, copy=False, track=True), copy=False, track=True)

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
            req = self._waiting_reply.pop(rid, None)
            if req is not None:
                self._release_locked(req)
                if msg["kind"] == "reply" and msg["ok"] and isinstance(req.future, Job):
                    self._waiting_done[rid] = req.future
            job = self._waiting_done.pop(rid, None) if msg["kind"] == "done" else None
        if req is None and job is None:
            if rid == 0 and error is not None:
                log.warning("imgsink: the daemon could not read a request: %s", error)
            else:
                log.debug("imgsink: ignoring a %s for unknown request %d", msg["kind"], rid)
            return
        if req is not None and not isinstance(req.future, Job):  # status reply
            _resolve_status(req.future, msg, error)
            return
        target = job if job is not None else req.future
        if error is not None:
            target._on_failed(error)
        elif msg["kind"] == "done":
            target._on_done()
        else:
            target._on_accepted(int(msg.get("job", 0)))

    def _watch(self, monitor: zmq.Socket) -> None:
        while True:
            try:
                frames = monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            event = zmq.utils.monitor.parse_monitor_message(frames)["event"]
            if event == zmq.EVENT_CONNECTED:
                with self._cond:
                    self._connected = self._ever_connected = True
            elif event == zmq.EVENT_DISCONNECTED:
                self._on_disconnected()

    def _on_disconnected(self) -> None:
        with self._cond:
            self._connected = False
            lost_replies = list(self._waiting_reply.values())
            lost_done = list(self._waiting_done.values())
            self._waiting_reply.clear()
            self._waiting_done.clear()
            for req in lost_replies:
                self._release_locked(req)
        for req in lost_replies:
            _fail(req.future, ImgsinkError(
                "disconnected", f"the connection to {self.endpoint} dropped before the daemon "
                "replied; the request may or may not have reached it"))
        for job in lost_done:
            job._on_failed(ImgsinkError(
                "disconnected", f"the connection to {self.endpoint} dropped before the done "
                f"event of {job.path!r}; the daemon keeps the job, its outcome is unknown here"))

    def _expire(self) -> None:
        now = time.monotonic()
        expired = []
        with self._cond:
            keep: Deque[_Request] = collections.deque()
            for req in self._outbox:
                if not req.running and req.future.cancelled():
                    self._release_locked(req)
                elif not self._connected and req.deadline <= now:
                    expired.append(req)
                else:
                    keep.append(req)
            self._outbox = keep
            for req in expired:
                self._release_locked(req)
        for req in expired:
            _fail(req.future, ImgsinkError(
                "disconnected", f"no daemon reachable at {self.endpoint} within "
                f"{self._handoff_timeout:g} s"))

    def _release_locked(self, req: _Request) -> None:
        if req.nbytes:
            self._pending_bytes -= req.nbytes
            req.nbytes = 0
            self._cond.notify_all()

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
            _fail(req.future, error)
        for job in jobs:
            job._on_failed(error)


def _event_done(event: Any) -> bool:
    return bool(event.query())


def _fail(future: Future, error: ImgsinkError) -> None:
    if isinstance(future, Job):
        future._on_failed(error)
        return
    try:
        future.set_exception(error)
    except Exception:  # already resolved or cancelled
        pass


def _resolve_status(future: Future, msg: Dict[str, Any], error: Optional[ImgsinkError]) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(dict(msg.get("counters", {})))
    except Exception:
        pass
