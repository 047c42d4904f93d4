"""Connection: one DEALER socket per daemon endpoint, all driven by one background I/O thread.

ZeroMQ sockets are not thread-safe, so only the I/O thread touches the sockets.  Callers (any
thread) append requests to an inbox under a lock and wake the I/O thread through a pipe that
the thread polls next to the sockets.  The thread routes each save of the inbox to one
connected endpoint (``_endpoints.choose``; the inbox holds saves while no endpoint is
connected), asks that daemon for credit (``_credits.CreditBook``, one per endpoint), sends
requests in order once they are ready (rendered, copied off the GPU, covered by credit),
matches replies and done events to requests by request id, and watches connect/disconnect
events.  Per-endpoint state lives in ``_link.Link``.

Why one thread for all endpoints rather than one per endpoint: Python runs one thread at a time
(the GIL), so more I/O threads would not send faster (libzmq's own thread does the transfers);
and with one owner, moving a save that was not sent yet from a dropped endpoint to another one,
and balancing pending bytes between endpoints, are plain updates under one lock.

Memory bound: the bytes of requests no daemon has replied to yet (they pin the callers'
tensors or our copies) are limited by ``max_pending_bytes`` for all endpoints together; a
request that does not fit waits, fails or is dropped by its policy.  One request always fits
when nothing is pending.

Delivery: the sockets use ZMQ_IMMEDIATE, so requests stay with us until a daemon is connected.
Saves that find no daemon within ``handoff_timeout`` fail with ``disconnected``.  When a
connection drops, its saves not handed to libzmq yet (waiting for credit or for their turn) go
back to the inbox and on to another connected endpoint; requests the daemon had not replied to
fail with ``disconnected`` (they may or may not have reached it), and so do accepted jobs whose
done event can no longer arrive (the daemon still runs them).  Sent requests are never resent
elsewhere: their tensor may be the caller's, and a journaled daemon finishes them after a
restart.

This file is the callers' half.  The I/O thread's half is the IoLoop mixin in _io_loop.py,
with what the daemons send in the Replies mixin (_replies.py); which endpoint a save goes to
is the Routing mixin (_routing.py).  The shared-memory hand-off (the arena, the side sockets,
the regions lent to each daemon) is the ShmHandOff mixin in _shm_handoff.py; the pipe that
wakes the I/O thread is WakePipe in _wake_pipe.py.

Order: saves with the same ``key`` (the output path) end in call order: a save whose key has
an earlier save still unfinished is *parked* (it holds its budget, is in no queue, has no
deadline) and goes to the inbox when that earlier save ends, either way.  So the last call's
image is the one left on disk, without the caller waiting.

Thread-safety: the public methods are safe from any thread.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Set, Tuple

import zmq

from . import _lifecycle, _protocol
from ._bufpool import BufferPool
from ._curve import CurveKeys
from ._errors import Busy, ImgsinkError
from ._io_loop import IoLoop
from ._job import Job
from ._link import Link
from ._replies import Replies
from ._request import Request
from ._routing import Routing
from ._shm import Region
from ._shm_handoff import ShmHandOff
from ._wake_pipe import WakePipe

__all__ = ["Connection"]


class Connection(IoLoop, Replies, Routing, ShmHandOff):
    """A process-local connection to one or more daemon endpoints.  See the module comment."""

    def __init__(self, endpoints: Sequence[str], *, max_pending_bytes: int,
                 handoff_timeout: float, endpoint_policy: str = "spread",
                 linger_s: float = 1.0, curve: Optional[CurveKeys] = None,
                 pool: Optional[BufferPool] = None, shared_memory: bool = False,
                 arena_bytes: int = 512 << 20) -> None:
        self._links = [Link(e, i) for i, e in enumerate(endpoints)]
        # Shared-memory hand-off (_shm_handoff.py): one arena for every same-host daemon, so
        # a copy can go into it before the save is routed.  None: no ipc:// endpoint, or off.
        self._open_arena(endpoints, shared_memory, max_pending_bytes, arena_bytes)
        self._endpoint_policy = endpoint_policy
        self._curve = curve
        self._max_pending = max(1, int(max_pending_bytes))
        self._handoff_timeout = handoff_timeout
        self._linger_ms = int(linger_s * 1000)
        self._pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        # Guarded by _cond (and the Links' fields too):
        self._inbox: Deque[Request] = collections.deque()  # saves not routed to an endpoint
        self._turn = 0  # round robin among equally loaded endpoints
        self._unfinished: Set[Future] = set()
        self._pending_bytes = 0
        self._next_id = 1
        self._closing = False
        self._prepare_pool: Optional[ThreadPoolExecutor] = None
        self._failed_later: List[Tuple[Future, ImgsinkError]] = []  # fail outside _cond
        self._last_by_key: Dict[str, Future] = {}  # key -> its latest unfinished save
        self._parked: Dict[Future, Request] = {}   # earlier save -> the save parked on it
        self._pool = pool
        self._wake_pipe = WakePipe(self._cond)
        self._ctx = zmq.Context(io_threads=1)
        self._thread = threading.Thread(target=self._run, name="imgsink-io", daemon=True)
        self._thread.start()

    # -- caller side ----------------------------------------------------------------------

    def next_request_id(self) -> int:
        with self._cond:
            return self._next_id_locked()

    def submit_save(self, job: Job, header: bytes, data: Any, nbytes: int, event: Any,
                    policy: str, block_timeout: float,
                    deferred: Optional[Callable[[], Any]] = None, key: Optional[str] = None,
                    pool_buf: Any = None) -> None:
        """Queues a save request.  Applies ``policy`` when the pending budget is full:
        ``block`` waits up to ``block_timeout`` then raises Busy, ``error`` raises Busy,
        ``drop`` fails ``job`` with Busy (nothing raised).  Raises ImgsinkError if closed.
        ``deferred`` (instead of ``data``) returns ``(pixels, event)``; it runs in this
        connection's prepare thread, and the request waits in order until it has.
        ``key``: saves with the same key end in call order (see the module comment).
        ``pool_buf``: ``data``'s buffer from this connection's pool, given back at the reply."""
        req = Request(job.request_id, header, job, data, nbytes, event, policy=policy,
                      timeout_ms=min(int(block_timeout * 1000), 2**32 - 1), key=key,
                      pool_buf=pool_buf)
        if deferred is not None:
            # Its done callback takes _cond (through _wake): register it outside _cond.
            req.prepared = self._prepare_executor().submit(deferred)
            req.prepared.add_done_callback(lambda _: self._wake_pipe.wake(force=True))
        try:
            dropped = self._admit(req, policy, block_timeout)
        except BaseException:
            if req.prepared is not None:
                req.prepared.cancel()
            raise
        if dropped is not None:
            if req.prepared is not None:
                req.prepared.cancel()
            job._on_failed(dropped)
            return
        self._wake_pipe.wake()

    def submit_status(self, future: Future, request_id: int, endpoint_index: int = 0) -> None:
        """Queues a status request to the endpoint ``endpoint_index``; it waits for that
        endpoint alone."""
        header = _protocol.encode_client(_protocol.status_request(request_id))
        with self._cond:
            self._check_open()
            self._enqueue_locked(Request(request_id, header, future),
                                 self._links[endpoint_index])
        self._wake_pipe.wake()

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
        self._wake_pipe.wake(force=True)
        if threading.current_thread() is not self._thread:
            self._thread.join()
        if self._prepare_pool is not None:
            self._prepare_pool.shutdown(wait=False, cancel_futures=True)
        self._wake_pipe.close()
        if self.arena is not None:
            self.arena.close()
        self._ctx.term()

    def _admit(self, req: Request, policy: str, block_timeout: float) -> Optional[Busy]:
        """Queues ``req`` if the budget lets it in (after waiting, for ``block``).  Returns
        the error to fail it with when ``drop`` dropped it, else None."""
        nbytes = req.nbytes
        with self._cond:
            self._check_open()
            if not self._fits(nbytes):
                if policy == "drop":
                    return Busy("busy", self._busy_text(nbytes))
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
            req.held = nbytes
            self._pending_bytes += nbytes
            earlier = self._last_by_key.get(req.key) if req.key is not None else None
            if req.key is not None:
                self._last_by_key[req.key] = req.future
            if earlier is None or earlier.done():
                self._enqueue_locked(req)
            else:  # its done callback (which takes _cond) has not run yet: it will unpark us
                req.after = earlier
                self._parked[earlier] = req
                self._track_locked(req)
            return None

    def _prepare_executor(self) -> ThreadPoolExecutor:
        with self._cond:
            if self._prepare_pool is None:
                self._prepare_pool = ThreadPoolExecutor(
                    1, thread_name_prefix="imgsink-prepare",
                    initializer=_lifecycle.block_signals_in_this_thread)
            return self._prepare_pool

    # -- helpers under _cond ----------------------------------------------------------------

    def _next_id_locked(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def _check_open(self) -> None:
        if self._closing:
            raise ImgsinkError("disconnected", "the client is closed")

    def _fits(self, nbytes: int) -> bool:
        return self._pending_bytes == 0 or self._pending_bytes + nbytes <= self._max_pending

    def _busy_text(self, nbytes: int) -> str:
        where = "" if any(link.ever_connected for link in self._links) else (
            f"; no daemon has answered at {self._where()} yet -- is imgsinkd running?")
        return (f"client has {self._pending_bytes} bytes pending (limit {self._max_pending}), "
                f"request needs {nbytes}{where}")

    def _where(self) -> str:
        names = [link.endpoint for link in self._links]
        return names[0] if len(names) == 1 else "any of " + ", ".join(names)

    def _enqueue_locked(self, req: Request, link: Optional[Link] = None) -> None:
        """Queues ``req`` for ``link``, or (None) for routing by the I/O thread."""
        req.deadline = time.monotonic() + self._handoff_timeout
        if link is None:
            self._inbox.append(req)
        else:
            self._assign_locked(req, link)
            link.outbox.append(req)
        self._track_locked(req)

    def _track_locked(self, req: Request) -> None:
        self._unfinished.add(req.future)
        req.future.add_done_callback(lambda _, req=req: self._on_ended(req))

    def _on_ended(self, req: Request) -> None:
        with self._cond:
            self._unfinished.discard(req.future)
            if req.counted:
                req.link.load -= req.nbytes
                req.counted = False
            unparked = self._unpark_after_locked(req)
        if unparked:
            self._wake_pipe.wake(force=True)

    def _unpark_after_locked(self, req: Request) -> bool:
        """``req`` ended: the save parked on it may go (or, if ``req`` itself ended while
        parked, waits for ``req``'s own predecessor instead).  Returns True iff one went to
        the inbox."""
        if req.key is not None and self._last_by_key.get(req.key) is req.future:
            del self._last_by_key[req.key]
        nxt = self._parked.pop(req.future, None)
        if req.after is not None:  # ended while parked (cancelled, or the client closed)
            if self._parked.get(req.after) is req:
                del self._parked[req.after]
            self._release_locked(req)
            if nxt is not None and not req.after.done():
                nxt.after = req.after
                self._parked[req.after] = nxt
                return False
        if nxt is None:
            return False
        nxt.after = None
        nxt.deadline = time.monotonic() + self._handoff_timeout
        self._inbox.append(nxt)
        return True

    def _drop_locked(self, req: Request, error: Optional[ImgsinkError]) -> None:
        """Ends an unsent request: frees its budget and credit; fails it later (``error``)."""
        if req.link is not None:
            req.link.credits.release(req)
        self._recycle_locked(req)
        self._release_locked(req)
        if error is not None:
            self._failed_later.append((req.future, error))

    def _recycle_locked(self, req: Request) -> None:
        """Gives ``req``'s pooled copy back.  REQUIRES: nothing will read it any more: the
        request was never handed to libzmq, or the daemon replied (it has every byte)."""
        if req.shm:
            return  # lent: back at the done event or refusal (_shm_handoff.py)
        if isinstance(req.pool_buf, Region):
            req.pool_buf.arena.give(req.pool_buf)
        elif req.pool_buf is not None and self._pool is not None:
            self._pool.give(req.pool_buf)
        req.pool_buf = None

    def _release_locked(self, req: Request) -> None:
        # The request stays reachable from its future (a done callback): keep no pixels.
        req.data = req.prepared = None
        if req.held:
            self._pending_bytes -= req.held
            req.held = 0
            self._cond.notify_all()
