"""Link: a Connection's state for one daemon endpoint.

Each endpoint has its own DEALER socket (so its own routing id, and the daemon its own view of
us), its own outbox of requests routed to it, its own replies and done events to wait for, and
its own credit (PROTOCOL.md: credit belongs to one connection to one daemon).

Thread-safety: ``sock`` and ``monitor`` belong to the I/O thread, and so does ``shm_sock`` (set
under the owning Connection's ``_cond``); every other field is guarded by that ``_cond``.
"""

from __future__ import annotations

import collections
import os
import socket
from typing import Any, Deque, Dict, List, Optional, Set

import zmq

from ._credits import CreditBook
from ._curve import CurveKeys
from ._request import Request, is_save

__all__ = ["Link"]

HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                    | zmq.EVENT_HANDSHAKE_FAILED_AUTH)


def _routing_id() -> bytes:
    # PROTOCOL.md: 16 random bytes, first byte non-zero (zero is ZeroMQ's generated ids').
    rid = os.urandom(16)
    return bytes([rid[0] | 1]) + rid[1:]


class Link:
    def __init__(self, endpoint: str, index: int) -> None:
        self.endpoint = endpoint
        self.index = index
        self.sock: Optional[zmq.Socket] = None
        self.monitor: Optional[zmq.Socket] = None
        self.outbox: Deque[Request] = collections.deque()  # routed here, not yet sent
        self.waiting_reply: Dict[int, Request] = {}        # sent, no reply yet
        self.waiting_done: Dict[int, Request] = {}         # accepted saves, no done event yet
        self.credits = CreditBook()
        self.connected = False
        self.ever_connected = False
        self.handshake_error = ""  # why the last connection attempt failed, for messages
        # Invariant: the tensor bytes of the saves routed here whose jobs have not ended
        # (queued, waiting for credit, or sent and not done): what "spread" balances.
        self.load = 0
        # Shared-memory hand-off (_shm.py): the side connection and the daemon's token for our
        # arena while registered; the regions lent to this daemon (a save sent with ``shm``
        # whose done event or refusal has not come), given back then or when the side
        # connection ends (the daemon is gone).
        self.shm_sock: Optional[socket.socket] = None
        self.shm_token: Optional[int] = None
        self.shm_lent: Set[Any] = set()

    def saves(self) -> List[Request]:
        return [r for r in self.outbox if is_save(r)]

    def open(self, ctx: zmq.Context, curve: Optional[CurveKeys], linger_ms: int) -> None:
        """Creates the socket and its monitor and starts connecting.  CURVE keys apply to
        tcp:// endpoints only: imgsinkd speaks CURVE on its tcp listeners, never on ipc.
        REQUIRES: the I/O thread."""
        sock = self.sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.ROUTING_ID, _routing_id())
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.SNDHWM, 0)   # bytes are bounded by max_pending_bytes instead
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.LINGER, linger_ms)
        if curve is not None and self.endpoint.startswith("tcp://"):
            sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = curve
        self.monitor = sock.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | HANDSHAKE_FAILED)
        sock.connect(self.endpoint)

    def close(self) -> None:
        """Closes the socket (after its linger) and the monitor.  REQUIRES: the I/O thread."""
        if self.shm_sock is not None:
            self.shm_sock.close()
            self.shm_sock = None
            self.shm_token = None
        if self.monitor is not None:
            self.sock.disable_monitor()
            self.monitor.close(linger=0)
            self.monitor = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None
