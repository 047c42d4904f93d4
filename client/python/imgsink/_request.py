"""Request: one request on its way through a Connection, and how requests end.

Thread-safety: a _Request's fields belong to the Connection's lock (or its I/O thread).
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Dict, Optional

from ._errors import ImgsinkError
from ._job import Job

__all__ = ["Request", "fail", "resolve_status", "is_save"]


@dataclass
class Request:
    request_id: int
    header: bytes
    future: Future                 # Job for a save; a plain Future (-> counters) for status
    data: Any = None               # tensor frame (1-D uint8 numpy view); None for status
    nbytes: int = 0                # tensor frame size: what the save costs in credit
    event: Any = None              # CUDA event to complete before reading ``data``
    prepared: Optional[Future] = None  # -> (pixels, event), from the prepare thread
    policy: str = "block"          # for the credit request
    timeout_ms: int = 30000        # for the credit request
    held: int = 0                  # bytes counted against max_pending_bytes, until the reply
    deadline: float = 0.0          # fail with ``disconnected`` if not handed by then
    running: bool = False          # the future left PENDING (can no longer be cancelled)
    credit: str = "need"           # CreditBook state: need, asked, covered, spent
    resent: bool = False           # already sent again after a no_credit refusal
    link: Any = None               # the Link it is routed to (None: not routed yet)
    counted: bool = False          # its nbytes are in ``link.load`` (until its future ends)
    key: Optional[str] = None      # saves with one key (output path) finish in call order
    after: Optional[Future] = None  # parked until this earlier save with our key has ended
    pool_buf: Any = None           # our pooled copy of the pixels: back to the pool at reply
    shm: bool = False              # sent as a shared-memory region (pool_buf, an _shm.Region):
                                   # lent to the daemon until the done event or a refusal


def is_save(req: Request) -> bool:
    return isinstance(req.future, Job)


def fail(future: Future, error: ImgsinkError) -> None:
    """Ends ``future`` with ``error`` unless it already ended.  REQUIRES: not under the
    Connection's lock (done callbacks take it)."""
    if isinstance(future, Job):
        future._on_failed(error)
        return
    try:
        future.set_exception(error)
    except Exception:  # already resolved or cancelled
        pass


def resolve_status(future: Future, msg: Dict[str, Any], error: Optional[ImgsinkError]) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(dict(msg.get("counters", {})))
    except Exception:  # the caller gave up (cancelled)
        pass
