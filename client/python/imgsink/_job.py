"""Job: the future of one save request.

A ``Job`` is a ``concurrent.futures.Future`` whose result is ``None`` once the daemon reports
every output file written (its "done" event), and whose exception is an ``ImgsinkError`` when
the daemon refused the request, the job failed, or the client could not deliver it.  On top of
the Future API it tells the two earlier milestones of a request:

* ``sent()``: the client no longer reads the caller's tensor memory: the daemon has answered
  the request (until then the client may have to send the bytes again, see "Flow control" in
  PROTOCOL.md), or the job ended.  Mutating the tensor in place before that point may change
  what is written.
* ``accepted()``: the daemon replied that it took responsibility for the job.

Thread-safety: every method is safe from any thread.  The ``_on_*`` methods belong to the
client's I/O thread.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Optional

from ._errors import ImgsinkError

__all__ = ["Job"]


class Job(Future):
    """The outcome of one ``save_image``/``save_images`` call.

    ``result(timeout=None)`` returns None on success and raises the job's ``ImgsinkError`` on
    failure (``concurrent.futures.TimeoutError`` if ``timeout`` runs out first).
    ``cancel()`` succeeds only while the request has not left the client.
    ``endpoint``: the endpoint of the daemon the job was routed to (with several endpoints it
    changes when a save not yet sent fails over to another daemon); None while it waits for
    any daemon to connect, or if it was refused or dropped in the client before routing.
    """

    def __init__(self, path: str, request_id: int) -> None:
        super().__init__()
        self.path = path
        self.request_id = request_id
        self._job_id: Optional[int] = None
        self.endpoint: Optional[str] = None  # set by the client's I/O thread
        self.files = 1  # output files it covers (save_images: one per image)
        self._replied = threading.Event()   # the daemon replied, or the job ended without one
        self._handed = threading.Event()    # the daemon answered, or the job ended

    def __repr__(self) -> str:
        state = "done" if self.done() else ("accepted" if self.accepted() else "pending")
        return f"<imgsink.Job {self.path!r} request={self.request_id} {state}>"

    @property
    def job_id(self) -> Optional[int]:
        """The daemon's id of the job once accepted, else None."""
        return self._job_id

    def accepted(self) -> bool:
        """Returns True iff the daemon replied that it took the job (it may still fail later)."""
        return self._job_id is not None

    def wait_accepted(self, timeout: Optional[float] = None) -> bool:
        """Waits for the daemon's reply.  Returns True iff the job was accepted; False if it was
        refused or failed before a reply (see ``exception()``).
        Raises concurrent.futures.TimeoutError if ``timeout`` seconds pass first."""
        if not self._replied.wait(timeout):
            raise FutureTimeout(f"no reply for {self.path!r} within {timeout} s")
        return self.accepted()

    def sent(self) -> bool:
        """Returns True iff the client is done reading the caller's tensor memory (the daemon
        has the bytes, or the job ended without them)."""
        return self._handed.is_set()

    def wait_sent(self, timeout: Optional[float] = None) -> bool:
        """Waits until ``sent()``; returns False if ``timeout`` seconds passed first."""
        return self._handed.wait(timeout)

    # -- transitions, called by the client -------------------------------------------------

    def _on_private_buffer(self) -> None:
        """The payload is the client's own copy: the caller's memory is free at once."""
        self._handed.set()

    def _on_accepted(self, job_id: int) -> None:
        self._job_id = job_id
        self._handed.set()
        self._replied.set()

    def _on_done(self) -> None:
        self._replied.set()
        self._handed.set()
        try:
            self.set_result(None)
        except InvalidStateError:  # cancelled meanwhile
            pass

    def _on_failed(self, error: ImgsinkError) -> None:
        self._replied.set()
        self._handed.set()
        try:
            self.set_exception(error)
        except InvalidStateError:
            pass
