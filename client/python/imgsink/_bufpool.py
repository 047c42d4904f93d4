"""BufferPool: reused memory for the private copies of the default (copying) mode.

A copy into fresh memory costs far more than the memcpy itself: the kernel hands out and zeroes
new pages on first touch, every call (4-5x a memcpy for a 50 MB batch).  Training loops save
tensors of the same few sizes again and again, so a buffer is taken back when its request no
longer needs it (the daemon replied: it has all the bytes) and reused for the next copy of that
size.

A buffer that is never given back (the connection dropped, the client closed) is simply
garbage-collected: giving back is an optimization, giving back too early would be a bug.

Bound: at most ``max_free_bytes`` of idle buffers are kept (the largest size's oldest go first); the ones in
use are bounded by the client's ``max_pending_bytes``.

Thread-safety: take/give may be called from any thread.
"""

from __future__ import annotations

import threading
from typing import Dict, List

import numpy as np

__all__ = ["BufferPool"]


class BufferPool:
    def __init__(self, max_free_bytes: int = 512 << 20) -> None:
        self._lock = threading.Lock()
        self._free: Dict[int, List[np.ndarray]] = {}  # size -> idle buffers, oldest first
        self._free_bytes = 0
        self._max_free = max_free_bytes

    def take(self, nbytes: int) -> np.ndarray:
        """Returns a 1-D uint8 buffer of exactly ``nbytes`` bytes (contents undefined)."""
        with self._lock:
            bucket = self._free.get(nbytes)
            if bucket:
                self._free_bytes -= nbytes
                return bucket.pop()  # the most recently used: its pages are warm
        return np.empty(nbytes, dtype=np.uint8)

    def give(self, buf: np.ndarray) -> None:
        """Takes ``buf`` back.  REQUIRES: nothing reads or writes it any more."""
        n = int(buf.nbytes)
        if n > self._max_free:
            return
        with self._lock:
            self._free.setdefault(n, []).append(buf)
            self._free_bytes += n
            while self._free_bytes > self._max_free:  # drop the oldest of the largest size
                size = max(k for k, v in self._free.items() if v)
                self._free[size].pop(0)
                self._free_bytes -= size

    def idle_bytes(self) -> int:
        with self._lock:
            return self._free_bytes
