"""Endpoint lists, and which endpoint a save goes to.

A client may name several daemons: ``"ipc:///run/imgsink/imgsinkd.sock,tcp://node2:5555"`` or a
list of endpoints.  Each save goes to one of the *connected* endpoints, chosen by the
``endpoint_policy``: ``"spread"`` (the fewest pending tensor bytes; ties round robin) or
``"failover"`` (the first in list order).

Thread-safety: pure functions.
"""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence, Tuple

__all__ = ["ENDPOINT_POLICIES", "parse_endpoints", "choose"]

ENDPOINT_POLICIES = ("spread", "failover")
# ZeroMQ's "transport://address"; libzmq checks the address itself when connecting.
_ENDPOINT_FORM = re.compile(r"[a-z][a-z0-9+]*://\S+")


def parse_endpoints(value: Any) -> Tuple[str, ...]:
    """Returns the endpoints of ``value``: a str of comma-separated endpoints, or a list/tuple
    of str (each one endpoint).  Whitespace around items is trimmed.  Raises TypeError for
    another type, ValueError (naming the item) for an empty item, one not of the form
    transport://address, a duplicate, or no item."""
    if isinstance(value, str):
        items, shown = value.split(","), repr(value)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise TypeError(f"endpoint {i + 1} must be a str, got {type(item).__name__}")
        items, shown = list(value), repr(list(value))
    else:
        raise TypeError("endpoint must be a str (endpoints separated by commas) or a list of "
                        f"str, got {type(value).__name__}")
    if not items:
        raise ValueError("endpoint: the list of endpoints is empty")
    out = []
    for i, item in enumerate(items):
        item = item.strip()
        if not item:
            raise ValueError(f"endpoint {i + 1} of {len(items)} in {shown} is empty")
        if not _ENDPOINT_FORM.fullmatch(item):
            raise ValueError(f"endpoint {item!r} in {shown} is not transport://address "
                             "(e.g. ipc:///run/imgsink/imgsinkd.sock, tcp://host:5555)")
        if item in out:
            raise ValueError(f"endpoint {item!r} is listed twice in {shown}")
        out.append(item)
    return tuple(out)


def choose(policy: str, connected: Sequence[bool], load: Sequence[int],
           next_turn: int) -> Optional[int]:
    """Returns the index of the endpoint a save goes to, or None if none is connected.
    ``connected[i]``: endpoint i has a connection; ``load[i]``: its pending tensor bytes;
    ``next_turn``: the round-robin position (the caller sets it past the chosen index).
    spread: the connected endpoint with the least load, ties broken by the first at or after
    ``next_turn`` (cyclically); failover: the first connected endpoint."""
    n = len(connected)
    best: Optional[int] = None
    for k in range(n):
        i = k if policy == "failover" else (next_turn + k) % n
        if not connected[i]:
            continue
        if policy == "failover":
            return i
        if best is None or load[i] < load[best]:
            best = i
    return best
