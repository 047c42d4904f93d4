"""CreditBook: the client's side of PROTOCOL.md's "Flow control (credits)".

Before a save's tensor bytes may cross the wire the daemon must have granted at least that many
bytes of credit to this client.  The book mirrors the daemon's view of our credit and decides,
for the saves waiting in the outbox (in order), which are covered by credit already granted and
which need a ``credit`` request of their own (one per save, for exactly its size, with its
policy and timeout; the daemon grants all or nothing, in the order the requests arrived).

Per-save state (``req.credit``): "need" (nothing asked yet), "asked" (a credit request is out),
"covered" (enough granted credit is reserved for it), "spent" (sent; the daemon consumed it).

Daemons older than credits answer a ``credit`` request with ``bad_request`` (unknown kind); the
book then turns credits off and every save is covered.

Thread-safety: none; the owner (Connection) calls it under its lock.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

__all__ = ["CreditBook", "STALE_CREDIT_S"]

# The daemon takes back credit unused for credit_ttl (default 30 s).  We forget ours sooner and
# ask again rather than send a save the daemon would refuse with no_credit.
STALE_CREDIT_S = 10.0


class CreditBook:
    def __init__(self) -> None:
        self.enabled: Optional[bool] = None  # None: not known yet whether the daemon has credits
        self._credit = 0      # granted, not yet spent (our mirror of the daemon's ledger)
        self._reserved = 0    # part of _credit promised to "covered" saves
        self._asks: Dict[int, Any] = {}  # credit request id -> the save it is for
        self._touched = 0.0   # last grant or spend

    def needs_credit(self, req: Any) -> bool:
        """Returns True iff ``req`` (a save) may not be sent yet for lack of credit."""
        return self.enabled is not False and req.credit != "covered"

    def plan(self, saves: Iterable[Any], now: float) -> List[Any]:
        """Covers saves (in order) from free credit; returns those that need a credit request
        now (the caller sends them and calls ``asked``)."""
        if self.enabled is False:
            return []
        if self._credit and now - self._touched > STALE_CREDIT_S:
            saves = list(saves)
            self._forget(saves, ("covered",))
        to_ask = []
        for req in saves:
            if req.credit != "need":
                continue
            if self._credit - self._reserved >= req.nbytes:
                req.credit = "covered"
                self._reserved += req.nbytes
            else:
                to_ask.append(req)
        return to_ask

    def asked(self, request_id: int, req: Any) -> None:
        req.credit = "asked"
        self._asks[request_id] = req

    def is_credit_reply(self, request_id: int) -> bool:
        return request_id in self._asks

    def granted(self, request_id: int, amount: int, now: float) -> None:
        """A credit reply granted ``amount`` bytes."""
        self.enabled = True
        req = self._asks.pop(request_id, None)
        self._credit += amount
        self._touched = now
        if req is not None and req.credit == "asked":
            req.credit = "covered"
            self._reserved += req.nbytes

    def refused(self, request_id: int, code: str, message: str, saves: Iterable[Any]) -> Any:
        """A credit request was refused.  Returns the save to fail, or None when the save is
        gone or the refusal only says that the daemon predates credits (then credits are off
        and every save is covered)."""
        req = self._asks.pop(request_id, None)
        if code == "bad_request" and "kind" in message and self.enabled is not True:
            self.enabled = False
            for other in saves:
                other.credit = "covered"
            return None
        if req is None or req.credit != "asked":
            return None
        req.credit = "need"
        return req

    def spend(self, req: Any, now: float) -> None:
        """``req`` was sent: the daemon takes its size from our credit."""
        if self.enabled is not False and req.credit == "covered":
            self._credit -= req.nbytes
            self._reserved -= req.nbytes
            self._touched = now
        req.credit = "spent"

    def release(self, req: Any) -> None:
        """``req`` leaves the outbox unsent: its reservation becomes free credit again."""
        if req.credit == "covered" and self.enabled is not False:
            self._reserved -= req.nbytes
        req.credit = "need"

    def reset(self, saves: Iterable[Any]) -> None:
        """Our mirror is wrong (no_credit) or void (disconnected): forget all credit and asks;
        waiting saves will ask again."""
        self._asks.clear()
        self._forget(saves, ("covered", "asked"))

    def _forget(self, saves: Iterable[Any], states) -> None:
        self._credit = self._reserved = 0
        for req in saves:
            if req.credit in states:
                req.credit = "need"
