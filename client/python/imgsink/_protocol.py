"""The wire protocol of proto/PROTOCOL.md, version 1: vocabulary and canonical encoding.

Messages are plain dicts whose keys follow the canonical order of PROTOCOL.md, every key
present (defaults filled in).  ``encode_*`` writes the canonical form, byte-identical to the C++
codec (``proto/src/codec.cc``): keys in table order, optional save keys omitted when at their
default, the shortest integer encodings, ``pad_value``/``value_range`` as float64, ``meta`` keys
in byte order, strings as str.  ``decode_*`` (from _decoder.py) treat
their input as untrusted and report failures as ``ProtocolError`` with the protocol's code.

Thread-safety: every function is pure and safe from any thread.
"""

from __future__ import annotations

import math
import posixpath
from typing import Any, Dict, Mapping, Optional

import msgpack

__all__ = [
    "VERSION", "DTYPES", "DTYPE_SIZES", "LAYOUTS", "FORMAT_TABLE", "FORMATS", "MODES", "PNG_FILTERS",
    "PNG_STRATEGIES", "JPEG_SUBSAMPLINGS", "POLICIES", "QUANTIZE_RULES", "ERROR_CODES", "SAVE_DEFAULTS",
    "ProtocolError", "save_request", "status_request", "credit_request", "encode_client",
    "decode_client",
    "encode_server", "decode_server", "infer_format",
]

VERSION = 1

DTYPE_SIZES: Dict[str, int] = {
    "uint8": 1, "uint16": 2, "float16": 2, "bfloat16": 2, "float32": 4, "float64": 8,
}
DTYPES = tuple(DTYPE_SIZES)
LAYOUT_RANKS: Dict[str, int] = {"HW": 2, "CHW": 3, "NCHW": 4, "HWC": 3, "NHWC": 4}
LAYOUTS = tuple(LAYOUT_RANKS)
# PROTOCOL.md "Formats": a copy of proto's kFormatTable (imgsink/proto/formats.h), checked
# against the "formats" section of proto/vectors/vectors.json by tests/python/test_protocol.py.
FORMAT_TABLE: Dict[str, Dict[str, Any]] = {
    "png": {"aliases": (), "extensions": (".png", ".apng"), "alpha": True,
            "max_bit_depth": 16, "max_dimension": 2**31 - 1},
    "jpeg": {"aliases": ("jpg",), "extensions": (".jpg", ".jpeg", ".jpe", ".jfif"),
             "alpha": False, "max_bit_depth": 8, "max_dimension": 65500},
    "webp": {"aliases": (), "extensions": (".webp",), "alpha": True,
             "max_bit_depth": 8, "max_dimension": 16383},
}
FORMATS = tuple(FORMAT_TABLE)
FORMAT_ALIASES = {**{n: n for n in FORMAT_TABLE},
                  **{a: n for n, f in FORMAT_TABLE.items() for a in f["aliases"]}}
_EXTENSION_FORMATS = {e: n for n, f in FORMAT_TABLE.items() for e in f["extensions"]}
MODES = ("grid", "each")
PNG_FILTERS = ("all", "none", "sub", "up", "avg", "paeth")
PNG_STRATEGIES = ("default", "filtered", "huffman", "rle")
JPEG_SUBSAMPLINGS = ("444", "422", "420")
POLICIES = ("block", "drop", "error")
QUANTIZE_RULES = ("save_image", "tensorboard")
ERROR_CODES = (
    "bad_message", "unsupported_version", "bad_request", "bad_dtype", "bad_shape",
    "size_mismatch", "too_large", "bad_path", "bad_format", "bad_option", "encode_failed",
    "write_failed", "busy", "shutting_down", "internal", "timeout", "disconnected",
    "journal_failed", "no_credit",
)

# Decoder limits (PROTOCOL.md, "Limits").
MAX_HEADER_BYTES = 64 * 1024
MAX_RANK = 4
MAX_STRING_BYTES = 4096
MAX_META_ENTRIES = 64
_UINT64_MAX = (1 << 64) - 1
_UINT32_MAX = (1 << 32) - 1
_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1

# The save keys after v/kind/id, in canonical order, with their defaults (None: required).
SAVE_DEFAULTS: Dict[str, Any] = {
    "dtype": None,
    "shape": None,
    "layout": None,
    "path": None,
    "cwd": None,
    "format": None,
    "mode": "grid",
    "nrow": 8,
    "padding": 2,
    "pad_value": 0.0,
    "normalize": False,
    "value_range": None,
    "scale_each": False,
    "keep_gray": False,
    "png_level": 1,
    "png_bits": 8,
    "png_filter": "paeth",
    "png_strategy": "rle",
    "jpeg_quality": 75,
    "jpeg_subsampling": "420",
    "webp_lossless": False,
    "webp_quality": 80,
    "policy": "block",
    "block_timeout_ms": 30000,
    "meta": {},
    "quantize": "save_image",
    "tb": None,  # {"tag": str, "step": int, "wall_time": float}: an image summary
    "shm": None,  # [segment token, offset]: the tensor is in shared memory (with_shm)
}
_REQUIRED_SAVE_KEYS = ("dtype", "shape", "layout", "path")
_REPLY_KEYS = ("v", "kind", "id", "ok", "job", "counters", "credit", "code", "message")
_CREDIT_KEYS = ("v", "kind", "id", "bytes", "policy", "timeout_ms")
_DONE_KEYS = ("v", "kind", "id", "job", "ok", "code", "message")


class ProtocolError(Exception):
    """A frame that does not follow PROTOCOL.md.  ``code`` is the protocol error code;
    ``request_id`` is the header's ``id`` when it could be read, else 0."""

    def __init__(self, code: str, message: str, request_id: int = 0) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id


def infer_format(path: str) -> Optional[str]:
    """Returns the format PIL would infer from ``path``'s extension (a FORMAT_TABLE name), else
    None.  Paths are protocol paths ('/'-separated) on every platform."""
    return _EXTENSION_FORMATS.get(posixpath.splitext(path)[1].lower())


# ----------------------------------------------------------------------------------------------
# Building and encoding client messages.


def save_request(request_id: int, **fields: Any) -> Dict[str, Any]:
    """Returns a complete save header (canonical key order, defaults filled in).

    REQUIRES: ``fields`` holds dtype, shape, layout, path and only keys of SAVE_DEFAULTS.
    Values are converted to their canonical Python types (float for pad_value/value_range,
    int for integers, sorted str->str meta) but not range-checked: that is the caller's job.
    """
    unknown = set(fields) - set(SAVE_DEFAULTS)
    if unknown:
        raise KeyError(f"unknown save keys: {sorted(unknown)}")
    msg: Dict[str, Any] = {"v": VERSION, "kind": "save", "id": int(request_id)}
    for key, default in SAVE_DEFAULTS.items():
        if key in fields:
            msg[key] = fields[key]
        elif key in _REQUIRED_SAVE_KEYS:
            raise KeyError(f"missing required save key {key!r}")
        else:
            msg[key] = default
    return _canonical_save(msg)


def status_request(request_id: int) -> Dict[str, Any]:
    return {"v": VERSION, "kind": "status", "id": int(request_id)}


def credit_request(request_id: int, nbytes: int, policy: str, timeout_ms: int) -> Dict[str, Any]:
    """A request for ``nbytes`` of credit (PROTOCOL.md, "Flow control (credits)")."""
    return {"v": VERSION, "kind": "credit", "id": int(request_id), "bytes": int(nbytes),
            "policy": policy, "timeout_ms": int(timeout_ms)}


def _canonical_save(msg: Mapping[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"v": int(msg["v"]), "kind": "save", "id": int(msg["id"])}
    for key in SAVE_DEFAULTS:
        value = msg[key]
        if key == "shape":
            value = [int(d) for d in value]
        elif key == "pad_value":
            value = float(value)
        elif key == "value_range":
            value = None if value is None else [float(value[0]), float(value[1])]
        elif key == "meta":
            value = {k: value[k] for k in sorted(value, key=lambda s: s.encode("utf-8"))}
        elif key == "shm":
            value = None if value is None else [int(value[0]), int(value[1])]
        elif key in ("normalize", "scale_each", "keep_gray", "webp_lossless"):
            value = bool(value)
        elif key == "tb" and value is not None:
            value = {"tag": str(value["tag"]), "step": int(value["step"]),
                     "wall_time": float(value["wall_time"])}
        elif key in ("nrow", "padding", "png_level", "png_bits", "jpeg_quality",
                     "webp_quality", "block_timeout_ms"):
            value = int(value)
        out[key] = value
    return out


def _is_default(key: str, value: Any) -> bool:
    """True iff a canonical save ``value`` of optional ``key`` is its default (then the
    canonical form omits it).  ``pad_value`` -0.0 is not the default 0.0."""
    default = SAVE_DEFAULTS[key]
    if key == "pad_value":
        return value == default and math.copysign(1.0, value) > 0
    return type(value) is type(default) and value == default


def _omit_defaults(msg: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in msg.items()
            if k in ("v", "kind", "id") or k in _REQUIRED_SAVE_KEYS or not _is_default(k, v)}


def _pack(obj: Any) -> bytes:
    # use_bin_type: str stays str, bytes would be bin; floats are always float64.
    return msgpack.packb(obj, use_bin_type=True, use_single_float=False, strict_types=False)


def encode_client(msg: Mapping[str, Any]) -> bytes:
    """Returns the canonical header frame for a client message (a save or status dict as
    returned by save_request/status_request/decode_client)."""
    kind = msg["kind"]
    if kind == "status":
        return _pack({"v": int(msg["v"]), "kind": "status", "id": int(msg["id"])})
    if kind == "credit":
        return _pack(credit_request(msg["id"], msg["bytes"], msg["policy"], msg["timeout_ms"]))
    if kind == "save":
        return _pack(_omit_defaults(_canonical_save(msg)))
    raise ValueError(f"unknown message kind {kind!r}")


def with_shm(header: bytes, segment: int, offset: int) -> bytes:
    """Returns the canonical save ``header`` (from encode_client, without ``shm``) with the key
    ``shm`` = [segment, offset] added: the tensor is at ``offset`` of the shared-memory segment
    the daemon named ``segment`` (PROTOCOL.md "Shared-memory hand-off").  ``shm`` is the last
    key in canonical order, so it is appended and only the map's entry count changes."""
    first = header[0]
    if 0x80 <= first <= 0x8F:
        n, rest = first & 0x0F, header[1:]
    elif first == 0xDE:
        n, rest = int.from_bytes(header[1:3], "big"), header[3:]
    else:
        raise ValueError("not a save header")
    n += 1
    head = bytes([0x80 | n]) if n < 16 else b"\xde" + n.to_bytes(2, "big")
    return head + rest + _pack("shm") + _pack([int(segment), int(offset)])


def encode_server(msg: Mapping[str, Any]) -> bytes:
    """Returns the canonical frame for a daemon message (reply or done dict); keys not
    applicable to the message (see PROTOCOL.md) must be absent."""
    order = _REPLY_KEYS if msg["kind"] == "reply" else _DONE_KEYS
    out = {k: msg[k] for k in order if k in msg}
    if "counters" in out:
        out["counters"] = {k: int(out["counters"][k])
                           for k in sorted(out["counters"], key=lambda s: s.encode("utf-8"))}
    return _pack(out)


# Decoding lives in _decoder.py; re-exported here so the protocol has one import.
from ._decoder import decode_client, decode_server  # noqa: E402
