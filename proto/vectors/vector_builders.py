"""Builds and self-checks the wire vectors of vectors.json (see README.md here); the cases
themselves are in make_vectors.py, which imports this.

Every valid vector is cross-checked here against an independent reading of PROTOCOL.md:
  * canonical: the bytes are msgpack.packb of the message without the optional save keys that
    hold their default (message keys in table order, ints packed shortest, floats as float64),
    and the message's keys must be exactly the table's;
  * non-canonical: normalize(msgpack.unpackb(bytes)) must equal the message, where normalize
    fills defaults and converts ints to floats as PROTOCOL.md says.
Error vectors are built by hand from raw bytes (``raw_map``, ``Raw``) so that each carries
exactly one defect.
"""
import math
import struct

import msgpack

# PROTOCOL.md "Header": every save key in canonical order with its default (None: required).
SAVE_KEYS = [
    ("v", None), ("kind", None), ("id", None), ("dtype", None), ("shape", None),
    ("layout", None), ("path", None), ("cwd", "NIL"), ("format", "NIL"), ("mode", "grid"), ("nrow", 8),
    ("padding", 2), ("pad_value", 0.0), ("normalize", False), ("value_range", "NIL"),
    ("scale_each", False), ("keep_gray", False), ("png_level", 1), ("png_bits", 8),
    ("png_filter", "paeth"), ("png_strategy", "rle"), ("jpeg_quality", 75),
    ("jpeg_subsampling", "420"), ("webp_lossless", False), ("webp_quality", 80),
    ("policy", "block"), ("block_timeout_ms", 30000), ("meta", {}),
    ("quantize", "save_image"), ("tb", "NIL"), ("shm", "NIL"),
]
REQUIRED_SAVE_KEYS = ["v", "kind", "id", "dtype", "shape", "layout", "path"]
STATUS_KEYS = ["v", "kind", "id"]
# PROTOCOL.md "Flow control (credits)": every key required, canonical order.
CREDIT_KEYS = ["v", "kind", "id", "bytes", "policy", "timeout_ms"]
# PROTOCOL.md "Reply" / "Done event" tables, canonical order.
REPLY_KEYS = ["v", "kind", "id", "ok", "job", "counters", "credit", "code", "message"]
DONE_KEYS = ["v", "kind", "id", "job", "ok", "code", "message"]


class Raw:
    """Bytes spliced into a frame as they are (to write non-shortest or odd encodings)."""

    def __init__(self, data):
        self.data = bytes(data)


def pack(value):
    return value.data if isinstance(value, Raw) else msgpack.packb(value)


def raw_map(pairs):
    """A msgpack map from (key, value) pairs in the given order; duplicates allowed."""
    n = len(pairs)
    head = bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n)
    return head + b"".join(pack(k) + pack(v) for k, v in pairs)


def save(**overrides):
    """A canonical save message: the defaults of SAVE_KEYS with `overrides` applied."""
    base = {"v": 1, "kind": "save", "id": 1, "dtype": "float32", "shape": [4, 3, 32, 32],
            "layout": "NCHW", "path": "samples/step_000100.png"}
    msg = {}
    for key, default in SAVE_KEYS:
        if key in overrides:
            msg[key] = overrides[key]
        elif key in base:
            msg[key] = base[key]
        else:
            msg[key] = None if default == "NIL" else default
    assert set(overrides) <= set(msg), set(overrides) - set(msg)
    if isinstance(msg["meta"], dict):
        msg["meta"] = dict(sorted(msg["meta"].items(), key=lambda kv: kv[0].encode()))
    return msg


def minimal_pairs(**changes):
    """(key, value) pairs of a minimal save (required keys only) with `changes` applied:
    a value of DROP removes the key, a new key is appended."""
    pairs = [("v", 1), ("kind", "save"), ("id", 1), ("dtype", "float32"),
             ("shape", [4, 3, 32, 32]), ("layout", "NCHW"), ("path", "samples/step_000100.png")]
    out = []
    for k, v in pairs:
        if k in changes:
            if changes[k] is not DROP:
                out.append((k, changes[k]))
        else:
            out.append((k, v))
    out += [(k, v) for k, v in changes.items() if k not in dict(pairs)]
    return out


DROP = object()


def credit(**overrides):
    """A canonical credit message (every key is required, so there are no defaults)."""
    msg = {"v": 1, "kind": "credit", "id": 11, "bytes": 49152, "policy": "block",
           "timeout_ms": 30000}
    assert set(overrides) <= set(msg), set(overrides) - set(msg)
    msg.update(overrides)
    return msg


def credit_pairs(**changes):
    """(key, value) pairs of the canonical credit header with `changes` applied (DROP removes a
    key, a new key is appended)."""
    pairs = list(credit().items())
    out = [(k, changes.get(k, v)) for k, v in pairs if changes.get(k, v) is not DROP]
    return out + [(k, v) for k, v in changes.items() if k not in dict(pairs)]


def omit_defaults(msg):
    """The canonical wire map of a save message: optional keys at their default are left out
    (PROTOCOL.md "Canonical form"; pad_value -0.0 is not the default 0.0)."""
    out = {}
    for key, default in SAVE_KEYS:
        value = msg[key]
        if key not in REQUIRED_SAVE_KEYS:
            default = None if default == "NIL" else default
            if key == "pad_value":
                if value == 0.0 and math.copysign(1.0, value) > 0:
                    continue
            elif type(value) is type(default) and value == default:
                continue
        out[key] = value
    return out


def canonical_bytes(message):
    return msgpack.packb(omit_defaults(message) if message["kind"] == "save" else message)


def normalize_save(wire):
    """Independent reading of PROTOCOL.md for a valid save: defaults and float conversion."""
    msg = {}
    for key, default in SAVE_KEYS:
        value = wire.get(key, None if default == "NIL" else default)
        assert value is not None or default == "NIL", f"missing required {key}"
        msg[key] = value
    msg["pad_value"] = float(msg["pad_value"])
    if msg["value_range"] is not None:
        msg["value_range"] = [float(x) for x in msg["value_range"]]
    if msg["format"] == "jpg":
        msg["format"] = "jpeg"
    msg["meta"] = dict(sorted(msg["meta"].items(), key=lambda kv: kv[0].encode()))
    if msg["tb"] is not None:
        msg["tb"] = {"tag": msg["tb"]["tag"], "step": msg["tb"]["step"],
                     "wall_time": float(msg["tb"]["wall_time"])}
    return msg


# The vectors built so far, in call order: the order of vectors.json.
VECTORS = []


def valid(name, direction, message, data=None):
    """A vector whose bytes must decode to `message`; canonical when data is None."""
    canonical = data is None
    if canonical:
        data = canonical_bytes(message)
        keys = list(message)
        if direction == "client":
            table = {"save": [k for k, _ in SAVE_KEYS], "status": STATUS_KEYS,
                     "credit": CREDIT_KEYS}[message["kind"]]
            assert keys == table, (name, keys)
        else:
            table = REPLY_KEYS if message["kind"] == "reply" else DONE_KEYS
            assert keys == [k for k in table if k in message], (name, keys)
            if message["kind"] == "reply" and message["ok"]:  # exactly one answer key
                assert sum(k in message for k in ("job", "counters", "credit")) == 1, name
    else:
        wire = msgpack.unpackb(data, strict_map_key=False)
        if message["kind"] == "save":
            assert normalize_save(wire) == message, (name, normalize_save(wire), message)
        elif message["kind"] == "credit":  # no defaults: the same map, keys in any order
            assert wire == message and sorted(wire) == sorted(CREDIT_KEYS), name
        else:
            assert {k: wire[k] for k in STATUS_KEYS} == message and len(wire) == 3, name
        assert data != canonical_bytes(message), f"{name} is canonical after all"
    VECTORS.append({"name": name, "direction": direction, "hex": data.hex(),
                    "canonical": canonical, "message": message})


def error(name, direction, data, code):
    VECTORS.append({"name": name, "direction": direction, "hex": bytes(data).hex(),
                    "canonical": False, "error": code})
