"""WakePipe: how callers wake a Connection's I/O thread out of its poll.

The I/O thread polls the read end next to its sockets; a caller that queued work writes one
byte.  Wakes are coalesced: after one byte, further wakes write nothing until the thread has
drained the pipe (``force`` writes anyway, for events that must not rely on a wake in flight).

Thread-safety: ``wake`` and ``close`` from any thread; ``fileno`` and ``drain`` from the I/O
thread.  The flags are guarded by ``lock``, the owning Connection's ``_cond``, and the write
happens under it too, so that ``close`` cannot close the fd (and the process reuse it)
meanwhile.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["WakePipe"]


def _gil_holding_write():
    """Returns libc's write() called without releasing the GIL, or None.  A caller that wakes
    the I/O thread with os.write releases the GIL inside the syscall, and the woken thread
    usually takes it and runs its whole loop before the caller may return; holding the GIL
    over the (non-blocking, microsecond) write lets the caller return first."""
    try:
        import ctypes

        write = ctypes.PyDLL(None).write
        write.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
        write.restype = ctypes.c_ssize_t
        return write
    except Exception:  # no ctypes or no libc symbol: os.write works too, only slower
        return None


_write_holding_gil = _gil_holding_write()


class WakePipe:
    """A non-blocking self-pipe with a coalescing flag.  See the module comment."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self._rfd, self._wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        # Guarded by _lock:
        self._pending = False  # a byte is in the pipe (or the thread is draining it)
        self._closed = False

    def fileno(self) -> int:
        """The read end, for the I/O thread's poller."""
        return self._rfd

    def wake(self, force: bool = False) -> None:
        with self._lock:
            if self._closed or (self._pending and not force):
                return
            self._pending = True
            if _write_holding_gil is not None:
                _write_holding_gil(self._wfd, b"x", 1)  # -1 (pipe full) is fine, as below
                return
            try:
                os.write(self._wfd, b"x")
            except (BlockingIOError, OSError):
                pass  # the pipe is full: the thread will wake anyway

    def drain(self) -> None:
        """Empties the pipe.  REQUIRES: the I/O thread, which handles the queued work next."""
        # Read first, then clear the flag: a caller that saw the flag set relies on this
        # thread handling its request after the clear (the loop's work comes next).
        try:
            while os.read(self._rfd, 4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            self._pending = False

    def close(self) -> None:
        """Closes both ends; later wakes do nothing.  REQUIRES: the I/O thread has ended."""
        with self._lock:
            self._closed = True
            os.close(self._rfd)
            os.close(self._wfd)
