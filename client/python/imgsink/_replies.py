"""Replies: the I/O thread's handling of what the daemons send (see _connection.py for the
whole picture).

A daemon sends three things on a DEALER socket: replies to requests (a save accepted or
refused, a status request's counters), replies to credit requests (a grant or a refusal), and
done events of accepted saves.  Each is matched to its request by request id, on the ``Link``
it came from: replies against ``waiting_reply`` (or the CreditBook), done events against
``waiting_done``.  A ``no_credit`` refusal (the daemon took unused credit back) sends the save
once more after a new grant; every other outcome ends the request.

Thread-safety: every method runs on the I/O thread (the owner of the sockets), taking
Connection._cond for shared state; futures are resolved outside it (their done callbacks take
it).  REQUIRES: mixed into Connection, whose __init__ sets the attributes used here.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Dict, Optional

import zmq

from . import _protocol
from ._errors import ImgsinkError, error_from_code
from ._link import Link
from ._request import Request, is_save, resolve_status

__all__ = ["Replies"]

log = logging.getLogger("imgsink")


class Replies:
    """The I/O thread's methods of Connection for what the daemons send."""

    def _receive(self, link: Link) -> None:
        while True:
            try:
                frames = link.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) != 1:
                log.warning("imgsink: ignoring a daemon message of %d frames", len(frames))
                continue
            try:
                msg = _protocol.decode_server(frames[0])
            except _protocol.ProtocolError as e:
                log.warning("imgsink: ignoring a malformed daemon message: %s", e)
                continue
            self._dispatch(link, msg)

    def _dispatch(self, link: Link, msg: Dict[str, Any]) -> None:
        rid = msg["id"]
        error = None if msg["ok"] else error_from_code(msg["code"], msg["message"])
        with self._cond:
            if msg["kind"] == "reply" and link.credits.is_credit_reply(rid):
                return self._on_credit_reply_locked(link, rid, msg, error)
            req = link.waiting_reply.pop(rid, None)
            if req is not None and error is not None and error.code == "no_credit" \
                    and not req.resent:
                return self._resend_locked(link, req)
            if req is not None:
                if req.shm and error is not None:  # refused: the daemon holds no view of it
                    self._give_lent_locked(link, req)
                self._recycle_locked(req)
                self._release_locked(req)
                if msg["kind"] == "reply" and msg["ok"] and is_save(req):
                    link.waiting_done[rid] = req
            done = link.waiting_done.pop(rid, None) if msg["kind"] == "done" else None
            if done is not None and done.shm:
                self._give_lent_locked(link, done)
            job = None if done is None else done.future
        if req is None and job is None:
            if rid == 0 and error is not None:
                log.warning("imgsink: the daemon could not read a request: %s", error)
            else:
                log.debug("imgsink: ignoring a %s for unknown request %d", msg["kind"], rid)
            return
        if req is not None and not is_save(req):
            resolve_status(req.future, msg, error)
            return
        target = job if job is not None else req.future
        if error is not None:
            target._on_failed(error)
        elif msg["kind"] == "done":
            target._on_done()
        else:
            target._on_accepted(int(msg.get("job", 0)))

    def _on_credit_reply_locked(self, link: Link, rid: int, msg: Dict[str, Any],
                                error: Optional[ImgsinkError]) -> None:
        if error is None:
            link.credits.granted(rid, msg.get("credit", 0), time.monotonic())
            return
        req = link.credits.refused(rid, error.code, error.message, link.saves())
        if req is None:
            return
        try:
            link.outbox.remove(req)
        except ValueError:
            return  # already gone (cancelled, expired)
        self._drop_locked(req, error)

    def _resend_locked(self, link: Link, req: Request) -> None:
        """The daemon had less credit for us than we thought (it takes unused credit back):
        forget ours and send ``req`` again, first in line, after a new grant."""
        log.debug("imgsink: no_credit for request %d; asking again", req.request_id)
        if req.shm:  # refused: the daemon holds no view of the region, which stays the save's
            link.shm_lent.discard(req.pool_buf)  # (else a side connection ending meanwhile
            req.shm = False                      # would give it back while the save keeps it)
        req.resent = True
        link.credits.reset(link.saves())
        req.credit = "need"
        link.outbox.appendleft(req)
