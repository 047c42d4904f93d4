"""Routing: which endpoint each save of a Connection goes to (see _connection.py for the whole
picture).

Saves wait in the Connection's inbox until an endpoint is connected; the I/O thread then moves
each to the outbox of one connected ``Link``, chosen by the endpoint policy
(``_endpoints.choose``: "spread" balances ``Link.load``, "failover" takes the first).  When a
connection drops, its saves not handed to libzmq yet go back to the front of the inbox.

Invariant: ``Link.load`` is the sum of ``nbytes`` of the saves routed to it whose futures have
not ended (``Request.counted``; Connection._on_ended takes a save out when it ends).

Thread-safety: every method runs under Connection._cond; ``_route_locked`` and
``_unroute_locked`` on the I/O thread, ``_assign_locked`` on any thread.
REQUIRES: mixed into Connection, whose __init__ sets the attributes used here.
"""

from __future__ import annotations

import collections
import time

from ._endpoints import choose
from ._link import Link
from ._request import Request, is_save

__all__ = ["Routing"]


class Routing:
    """The routing methods of Connection."""

    def _route_locked(self) -> None:
        """Moves the inbox's saves to connected endpoints (none connected: they stay)."""
        connected = [link.connected for link in self._links]
        if not any(connected):
            return
        while self._inbox:
            req = self._inbox.popleft()
            if not req.running and req.future.cancelled():
                self._drop_locked(req, None)
                continue
            i = choose(self._endpoint_policy, connected, [lk.load for lk in self._links],
                       self._turn)
            assert i is not None
            self._turn = (i + 1) % len(self._links)
            self._assign_locked(req, self._links[i])
            self._links[i].outbox.append(req)

    def _assign_locked(self, req: Request, link: Link) -> None:
        """Routes ``req`` to ``link`` (the caller appends it to the outbox); a save counts in
        ``link.load`` unless it has ended already."""
        req.link = link
        if is_save(req):
            req.future.endpoint = link.endpoint
            if not req.future.done():  # else its _on_ended ran already: nothing to count
                link.load += req.nbytes
                req.counted = True

    def _unroute_locked(self, link: Link) -> None:
        """``link`` dropped: its unsent saves go back to the inbox, first in line and in
        order; they ask for credit again wherever they go next, and have ``handoff_timeout``
        from now to find a daemon (one queued longer, waiting for credit, would otherwise fail
        at once instead of waiting for a restart)."""
        moved = link.saves()
        if not moved:
            return
        link.outbox = collections.deque(r for r in link.outbox if not is_save(r))
        deadline = time.monotonic() + self._handoff_timeout
        for req in moved:
            req.deadline = max(req.deadline, deadline)
            if req.counted:
                link.load -= req.nbytes
                req.counted = False
            req.link = req.future.endpoint = None
            req.credit = "need"
            req.resent = False  # a new daemon: its own one resend after a no_credit
        self._inbox.extendleft(reversed(moved))
