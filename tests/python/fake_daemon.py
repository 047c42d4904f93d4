"""A stand-in for imgsinkd: a ZeroMQ ROUTER in a thread that records requests and answers
them the way a test tells it to.  It speaks PROTOCOL.md through imgsink._protocol."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import zmq

from imgsink import _protocol


@dataclass
class Received:
    identity: bytes
    header: Dict[str, Any]
    payload: Optional[bytes]


def reply(req: Received, ok: bool = True, job: int = 0, code: str = "", message: str = "",
          counters: Optional[Dict[str, int]] = None) -> Dict[str, Any]:
    msg: Dict[str, Any] = {"v": 1, "kind": "reply", "id": req.header["id"], "ok": ok}
    if ok and req.header["kind"] == "save":
        msg["job"] = job or req.header["id"] + 1000
    if ok and req.header["kind"] == "status":
        msg["counters"] = counters or {}
    if not ok:
        msg.update(code=code, message=message)
    return msg


def done(req: Received, ok: bool = True, code: str = "", message: str = "") -> Dict[str, Any]:
    msg: Dict[str, Any] = {"v": 1, "kind": "done", "id": req.header["id"],
                           "job": req.header["id"] + 1000, "ok": ok}
    if not ok:
        msg.update(code=code, message=message)
    return msg


def grant(req: Received) -> List[Dict[str, Any]]:
    """The default answer to a credit request: all of it, at once."""
    return [{"v": 1, "kind": "reply", "id": req.header["id"], "ok": True,
             "credit": req.header["bytes"]}]


def predates_credits(req: Received) -> List[Dict[str, Any]]:
    """How a daemon from before "Flow control (credits)" answers a credit request."""
    return [reply(req, ok=False, code="bad_request", message="key 'kind': unknown value")]


def answer_ok(req: Received) -> List[Dict[str, Any]]:
    """The default behaviour: accept and finish every save; answer status with counters."""
    if req.header["kind"] == "status":
        return [reply(req, counters={"jobs_done": 7, "jobs_failed": 0})]
    return [reply(req), done(req)]


class FakeDaemon:
    """Binds ``endpoint`` and serves until ``stop()``.  ``handler(req)`` returns the messages to
    send right away for save and status requests, ``credit_handler(req)`` for credit requests;
    ``send(req, msg)`` sends one later (from any thread).  ``received`` lists the save and
    status requests, ``credits`` the credit requests.  Saves are not checked against credit."""

    def __init__(self, endpoint: str,
                 handler: Callable[[Received], List[Dict[str, Any]]] = answer_ok,
                 credit_handler: Callable[[Received], List[Dict[str, Any]]] = grant) -> None:
        self.endpoint = endpoint
        self.handler = handler
        self.credit_handler = credit_handler
        self.received: List[Received] = []
        self.credits: List[Received] = []
        self.order: List[tuple] = []  # (kind, id) of every request, in arrival order
        self.arrived = threading.Condition()
        self._outgoing: "queue.Queue[tuple]" = queue.Queue()
        self._stop = threading.Event()
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(endpoint)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def send(self, req: Received, msg: Dict[str, Any]) -> None:
        self._outgoing.put((req.identity, _protocol.encode_server(msg)))

    def send_raw(self, req: Received, frame: bytes) -> None:
        self._outgoing.put((req.identity, frame))

    def wait_for(self, n: int, timeout: float = 10.0) -> List[Received]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.received) >= n, timeout):
                raise AssertionError(f"fake daemon got {len(self.received)} requests, "
                                     f"expected {n}")
            return list(self.received)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close(linger=0)
        self._ctx.term()

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        while not self._stop.is_set():
            while True:
                try:
                    identity, frame = self._outgoing.get_nowait()
                except queue.Empty:
                    break
                self._sock.send_multipart([identity, frame])
            if not poller.poll(10):
                continue
            frames = self._sock.recv_multipart()
            header = _protocol.decode_client(frames[1])
            req = Received(frames[0], header, frames[2] if len(frames) > 2 else None)
            is_credit = header["kind"] == "credit"
            with self.arrived:
                (self.credits if is_credit else self.received).append(req)
                self.order.append((header["kind"], header["id"]))
                self.arrived.notify_all()
            for msg in (self.credit_handler if is_credit else self.handler)(req):
                self._sock.send_multipart([req.identity, _protocol.encode_server(msg)])
