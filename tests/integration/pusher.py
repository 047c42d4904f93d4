"""A client process for durability and backpressure tests, speaking the wire protocol directly.

Pushes uint8 CHW images whose pixels follow from (name, seq), so any file can be checked later,
and logs each outcome as one JSON line: {"seq", "event": "acked"|"done"|"refused"|"lost", ...}.
"acked" is written only after the daemon's ok reply: the daemon promised that job."""
from __future__ import annotations

import argparse
import itertools
import json
import os
import time

import msgpack
import numpy as np
import zmq

SAVE_KEYS = {"format": None, "mode": "grid", "nrow": 8, "padding": 2, "pad_value": 0.0,
             "normalize": False, "value_range": None, "scale_each": False, "keep_gray": False,
             "png_level": 1, "png_bits": 8, "png_filter": "sub", "png_strategy": "rle",
             "jpeg_quality": 75, "jpeg_subsampling": "420", "policy": "block",
             "block_timeout_ms": 30000, "meta": {}}


def pixels(name: str, seq: int, shape) -> np.ndarray:
    """The deterministic content of job `seq` of pusher `name` (C, H, W uint8)."""
    base = (sum(name.encode()) * 31 + seq * 7) % 256
    return ((np.arange(np.prod(shape), dtype=np.int64).reshape(shape) * 3 + base) % 256).astype(np.uint8)


def routing_id(name: str) -> bytes:
    return b"P" + name.encode()[:15].ljust(15, b"_")


class Pusher:
    def __init__(self, endpoint: str, name: str, log_path: str, policy: str, curve=None):
        self.name, self.policy = name, policy
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve:  # (server public, client public, client secret), Z85
            self.sock.curve_serverkey, self.sock.curve_publickey, self.sock.curve_secretkey = \
                (k.encode() for k in curve)
        self.sock.setsockopt(zmq.ROUTING_ID, routing_id(name))
        self.sock.connect(endpoint)
        self.log = open(log_path, "a", buffering=1)
        self.ids = itertools.count(int(time.time() * 1000) % 10**9 * 1000)

    def note(self, **event) -> None:
        self.log.write(json.dumps(event) + "\n")

    def wait_for(self, rid: int, timeout: float):
        """The reply to `rid`; done events seen meanwhile are logged."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000)):
                return None
            m = msgpack.unpackb(self.sock.recv(), raw=False)
            if m.get("kind") == "done":
                self.note(event="done", id=m["id"], ok=m["ok"], code=m.get("code"))
            elif m.get("id") == rid:
                return m

    def push(self, seq: int, shape, path: str, reply_timeout: float, block_ms: int,
             png_level: int = 1) -> None:
        data = pixels(self.name, seq, shape).tobytes()
        rid = next(self.ids)
        self.sock.send(msgpack.packb({"v": 1, "kind": "credit", "id": rid, "bytes": len(data),
                                      "policy": self.policy, "timeout_ms": block_ms}))
        t0 = time.monotonic()
        credit = self.wait_for(rid, reply_timeout + block_ms / 1000)
        waited = time.monotonic() - t0
        if credit is None:
            return self.note(seq=seq, event="lost", stage="credit")
        if not credit["ok"]:
            return self.note(seq=seq, event="refused", code=credit["code"], waited=waited)
        rid = next(self.ids)
        header = {"v": 1, "kind": "save", "id": rid, "dtype": "uint8", "shape": list(shape),
                  "layout": "CHW", "path": path, **SAVE_KEYS}
        header["png_level"] = png_level
        header["meta"] = getattr(self, "meta", {})
        self.sock.send_multipart([msgpack.packb(header), data])
        reply = self.wait_for(rid, reply_timeout)
        if reply is None:
            return self.note(seq=seq, event="lost", stage="save", id=rid)
        if reply["ok"]:
            self.note(seq=seq, event="acked", id=rid, path=path, waited=waited)
        else:
            self.note(seq=seq, event="refused", code=reply["code"], id=rid)

    def drain_done(self, seconds: float) -> None:
        self.wait_for(-1, seconds)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--count", type=int, default=10**9)
    ap.add_argument("--shape", default="3,32,32")
    ap.add_argument("--policy", default="block")
    ap.add_argument("--block-ms", type=int, default=2000)
    ap.add_argument("--reply-timeout", type=float, default=2.0)
    ap.add_argument("--interval", type=float, default=0.0)
    ap.add_argument("--png-level", type=int, default=1)
    ap.add_argument("--curve", default="", help="SERVERPUB,CLIENTPUB,CLIENTSECRET (Z85)")
    ap.add_argument("--meta", default="", help="KEY=VALUE,... for every job")
    ap.add_argument("--stop-file", default="")
    ap.add_argument("--linger", type=float, default=0.0, help="seconds to collect done events")
    a = ap.parse_args()
    shape = tuple(int(x) for x in a.shape.split(","))
    p = Pusher(a.endpoint, a.name, a.log, a.policy, a.curve.split(",") if a.curve else None)
    p.meta = dict(kv.split("=", 1) for kv in a.meta.split(",")) if a.meta else {}
    for seq in range(a.count):
        if a.stop_file and os.path.exists(a.stop_file):
            break
        p.push(seq, shape, f"{a.name}/{seq:06d}.png", a.reply_timeout, a.block_ms, a.png_level)
        if a.interval:
            time.sleep(a.interval)
    p.drain_done(a.linger)


if __name__ == "__main__":
    main()
