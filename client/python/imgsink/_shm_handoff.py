"""ShmHandOff: a Connection's use of the shared-memory hand-off (_shm.py; PROTOCOL.md
"Shared-memory hand-off").

One arena per Connection, shared by every same-host daemon, so a save's copy can go into it
before the save is routed (_client.py takes the region).  Per endpoint (``Link``): a side
connection to ``<ipc socket file>.shm``, opened by a hello (the memfd over SCM_RIGHTS) each time
the ZeroMQ handshake succeeds, and the daemon's token for our arena while it stays open.

Region bookkeeping: a save whose copy is a region goes as a header alone (``shm = [token,
offset]``) when its link has a token, else in the tensor frame.  A region sent as a header is
*lent* (``Link.shm_lent``) until the save's done event or refusal, or until the side connection
ends (the daemon is gone); any other region goes back to the arena at the reply like any pooled
copy (Connection._recycle_locked).

Thread-safety: the side sockets belong to the I/O thread, like the DEALER sockets:
``_shm_hello``, ``_shm_check`` and ``_send_shm`` run there only.  ``_open_arena`` runs in
Connection.__init__ before the thread starts, and ``forget_shm_in_child`` in a forked child,
where the thread does not exist.  ``Link``'s shm fields are guarded by Connection._cond.
REQUIRES: mixed into Connection, whose __init__ sets the attributes used here.
"""

from __future__ import annotations

import logging
from typing import Optional, Sequence

import zmq

from . import _protocol
from ._link import Link
from ._request import Request
from ._shm import Arena, Region, hello, side_socket_path

__all__ = ["ShmHandOff"]

log = logging.getLogger("imgsink")


class ShmHandOff:
    """The shared-memory methods of Connection."""

    arena: Optional[Arena]

    def _open_arena(self, endpoints: Sequence[str], shared_memory: bool,
                    max_pending_bytes: int, arena_bytes: int) -> None:
        """Sets ``arena``: None when there is no ipc:// endpoint, the hand-off is off, or the
        kernel offers no memfd."""
        self.arena = None
        if shared_memory and any(side_socket_path(e) for e in endpoints):
            try:
                self.arena = Arena(min(int(max_pending_bytes), int(arena_bytes)))
            except OSError as e:  # no memfd (old kernel, seccomp): the frames serve
                log.debug("imgsink: no shared-memory arena: %s", e)

    def forget_shm_in_child(self) -> None:
        """In a forked child: closes this process's copies of the parent's side connections
        and memfd (the parent's stay open), so only the parent's own life decides when the
        daemons drop its arena."""
        for link in self._links:
            if link.shm_sock is not None:
                link.shm_sock.close()
                link.shm_sock = None
        if self.arena is not None:
            self.arena.close()

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

    def _send_shm(self, link: Link, req: Request) -> bool:
        """Sends the save ``req`` as a header alone when its bytes are in a region of the
        arena the daemon of ``link`` mapped.  Returns True iff it did; False: nothing sent.
        Raises zmq.Again when the socket is not writable (nothing sent either)."""
        region = req.pool_buf
        if not isinstance(region, Region) or link.shm_token is None:
            return False
        link.sock.send(_protocol.with_shm(req.header, link.shm_token, region.offset),
                       zmq.NOBLOCK | zmq.SNDMORE)
        link.sock.send(b"", zmq.NOBLOCK)  # never meets the high-water mark (a later part)
        return True

    def _lend_locked(self, link: Link, req: Request, shm: bool) -> None:
        """``req`` went to ``link``, as a region iff ``shm``: the region stays lent to that
        daemon until ``_give_lent_locked`` or the side connection ends."""
        req.shm = shm
        if shm:
            link.shm_lent.add(req.pool_buf)

    def _give_lent_locked(self, link: Link, req: Request) -> None:
        """The daemon no longer reads ``req``'s region (done event, refusal): back to the
        arena, unless it went back already (the side connection ended meanwhile)."""
        region, req.shm = req.pool_buf, False
        req.pool_buf = None
        if region is not None and region in link.shm_lent:
            link.shm_lent.discard(region)
            region.arena.give(region)
