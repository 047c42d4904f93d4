"""Shared-memory hand-off for same-host daemons (PROTOCOL.md "Shared-memory hand-off").

The client's private copy of a tensor (the default ``copy=True`` mode) goes into an *arena*: one
sealed memfd per client, mapped here read-write.  Each daemon reached over ``ipc://`` gets the
memfd once, on the side socket ``<ipc socket file>.shm`` (SCM_RIGHTS), and answers with a token;
a save then sends its header with ``shm = [token, offset]`` and an empty tensor frame, and the
daemon renders straight from the arena.  So the tensor is copied once on our side (into the
arena, what the copy mode always paid) and never through the socket.

Where no side socket answers (tcp://, a daemon with ``--shm off`` or older, another host), the
arena's bytes go in the tensor frame as before: nothing else changes.

A region stays lent to the daemon from its save until the save's done event or refusal (the
daemon reads it while rendering, after its reply when the journal is off), or until the side
connection ends (the daemon is gone).  A region whose outcome is unknown (the ZeroMQ connection
dropped while the daemon lives on) is only reused after that daemon's side connection ends.

No names, no cleanup: a memfd is freed by the kernel when the last fd and mapping of it are
gone, whichever process is killed first.

Thread-safety: Arena.take/give from any thread; hello from the I/O thread.
"""

from __future__ import annotations

import bisect
import fcntl
import mmap
import os
import socket
import struct
import threading
from typing import List, Optional, Tuple

import numpy as np

__all__ = ["Arena", "Region", "side_socket_path", "hello"]

_MAGIC = b"ISHM"
_VERSION = 1
_REPLY = struct.Struct("<4sBBxxQQ")  # magic, version, status, token, segment size
_ALIGN = 4096  # regions start on page boundaries: page-aligned reads for the daemon's render


def side_socket_path(endpoint: str) -> Optional[str]:
    """The daemon's side socket for ``endpoint`` (its ipc:// socket file + ".shm"), or None for
    endpoints that have none (tcp://, abstract ipc://@name)."""
    if not endpoint.startswith("ipc://"):
        return None
    path = endpoint[len("ipc://"):]
    if not path or path.startswith("@"):
        return None
    return path + ".shm"


class Region:
    """``nbytes`` bytes at ``offset`` of an Arena; ``view`` is a 1-D uint8 numpy view."""

    __slots__ = ("arena", "offset", "size", "view")

    def __init__(self, arena: "Arena", offset: int, size: int, view: np.ndarray) -> None:
        self.arena, self.offset, self.size, self.view = arena, offset, size, view

    @property
    def nbytes(self) -> int:
        return int(self.view.nbytes)


class Arena:
    """A sealed memfd of ``size`` bytes and a first-fit allocator over it."""

    def __init__(self, size: int) -> None:
        self.size = max(_ALIGN, (int(size) + _ALIGN - 1) // _ALIGN * _ALIGN)
        self.fd = os.memfd_create("imgsink-shm", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(self.fd, self.size)
            # The daemon maps the whole segment: a shrink would make its reads fault.
            fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS,
                        fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
            self._map = mmap.mmap(self.fd, self.size, mmap.MAP_SHARED,
                                  mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(self.fd)
            raise
        self._base = np.frombuffer(self._map, dtype=np.uint8)
        self._lock = threading.Lock()
        self._free: List[Tuple[int, int]] = [(0, self.size)]  # (offset, size), by offset
        self.pid = os.getpid()

    def take(self, nbytes: int) -> Optional[Region]:
        """Returns a region of exactly ``nbytes`` bytes, or None when the arena has no room."""
        need = max(_ALIGN, (int(nbytes) + _ALIGN - 1) // _ALIGN * _ALIGN)
        with self._lock:
            for i, (off, size) in enumerate(self._free):
                if size >= need:
                    if size == need:
                        del self._free[i]
                    else:
                        self._free[i] = (off + need, size - need)
                    return Region(self, off, need, self._base[off:off + int(nbytes)])
        return None

    def give(self, region: Region) -> None:
        """Takes ``region`` back.  REQUIRES: no one (here or in a daemon) reads it any more."""
        with self._lock:
            i = bisect.bisect(self._free, (region.offset, 0))
            self._free.insert(i, (region.offset, region.size))
            # Merge with the neighbours so large tensors keep finding room.
            if i + 1 < len(self._free) and region.offset + region.size == self._free[i + 1][0]:
                self._free[i] = (region.offset, region.size + self._free[i + 1][1])
                del self._free[i + 1]
            if i > 0 and self._free[i - 1][0] + self._free[i - 1][1] == self._free[i][0]:
                self._free[i - 1] = (self._free[i - 1][0], self._free[i - 1][1] + self._free[i][1])
                del self._free[i]

    def free_bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._free)

    def close(self) -> None:
        """Closes the memfd (the mapping lives on until the views are collected)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def hello(path: str, fd: int, timeout: float = 1.0) -> Tuple[socket.socket, int]:
    """Registers the memfd ``fd`` with the daemon listening on side socket ``path``.  Returns
    the connection (keep it open while the daemon may use the segment) and the token.  Raises
    OSError when there is no side socket or it refuses (the reason in the message)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        socket.send_fds(sock, [_MAGIC + bytes([_VERSION, 0, 0, 0])], [fd])
        reply = sock.recv(_REPLY.size + 1024)
        if len(reply) < _REPLY.size:
            raise OSError(f"no valid shared-memory reply from {path}")
        magic, version, status, token, _ = _REPLY.unpack_from(reply)
        if magic != _MAGIC or version != _VERSION:
            raise OSError(f"no valid shared-memory reply from {path}")
        if status != 0:
            raise OSError("the daemon refused the shared-memory segment: "
                          + reply[_REPLY.size:].decode("utf-8", "replace"))
        sock.setblocking(False)
        return sock, token
    except BaseException:
        sock.close()
        raise
