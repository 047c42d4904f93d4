"""A bare pyzmq sender for daemon tests: sends hand-made frames and reads the daemon's answers.

Deliberately independent of both clients, so malformed and hostile messages can be sent."""
from __future__ import annotations

import itertools
from typing import Any, Dict, List, Optional

import msgpack
import zmq

_ids = itertools.count(1)

SAVE_DEFAULTS: Dict[str, Any] = {
    "format": None, "mode": "grid", "nrow": 8, "padding": 2, "pad_value": 0.0,
    "normalize": False, "value_range": None, "scale_each": False, "keep_gray": False,
    "png_level": 1, "png_bits": 8, "png_filter": "paeth", "png_strategy": "rle",
    "jpeg_quality": 75, "jpeg_subsampling": "420", "policy": "block",
    "block_timeout_ms": 30000, "meta": {},
}


def save_header(dtype: str, shape, layout: str, path: str, **options) -> Dict[str, Any]:
    h: Dict[str, Any] = {"v": 1, "kind": "save", "id": next(_ids), "dtype": dtype,
                         "shape": list(shape), "layout": layout, "path": path}
    h.update(SAVE_DEFAULTS)
    for k, v in options.items():
        if k not in SAVE_DEFAULTS and k != "cwd":  # cwd: absent unless given
            raise KeyError(k)
        h[k] = v
    return h


class RawSender:
    def __init__(self, endpoint: str, routing_id: Optional[bytes] = None):
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if routing_id is not None:
            self.sock.setsockopt(zmq.ROUTING_ID, routing_id)
        self.done_events: List[Dict[str, Any]] = []  # done events credit() read past
        self.sock.connect(endpoint)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawSender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send_frames(self, frames: List[bytes]) -> None:
        self.sock.send_multipart(frames)

    def recv(self, timeout: float = 10.0) -> Dict[str, Any]:
        if not self.sock.poll(int(timeout * 1000)):
            raise TimeoutError("no message from the daemon")
        return msgpack.unpackb(self.sock.recv(), raw=False)

    def credit(self, nbytes: int, policy: str = "block", timeout_ms: int = 30000,
               timeout: float = 60.0) -> Dict[str, Any]:
        """Asks for credit (PROTOCOL.md, Flow control); returns the reply."""
        rid = next(_ids)
        self.send_frames([msgpack.packb({"v": 1, "kind": "credit", "id": rid, "bytes": nbytes,
                                         "policy": policy, "timeout_ms": timeout_ms})])
        reply = self.recv(timeout)
        while reply["kind"] == "done":  # an earlier job's end may come first; keep it
            self.done_events.append(reply)
            reply = self.recv(timeout)
        assert reply["kind"] == "reply" and reply["id"] == rid, reply
        return reply

    def send_save(self, header: Dict[str, Any], payload: bytes) -> None:
        """Gets credit for the payload, then sends the save (without waiting for its reply)."""
        granted = self.credit(max(len(payload), 1))
        assert granted["ok"], granted
        self.send_frames([msgpack.packb(header, use_bin_type=True), payload])

    def save(self, header: Dict[str, Any], payload: bytes, timeout: float = 30.0) -> Dict[str, Any]:
        """Sends a save; returns the reply, or the done event if the reply was ok."""
        self.send_save(header, payload)
        reply = self.recv(timeout)
        assert reply["kind"] == "reply" and reply["id"] == header["id"], reply
        if not reply["ok"]:
            return reply
        done = self.recv(timeout)
        assert done["kind"] == "done" and done["id"] == header["id"], done
        return done

    def status(self) -> Optional[dict]:
        self.send_frames([msgpack.packb({"v": 1, "kind": "status", "id": next(_ids)})])
        return self.recv()["counters"]
