"""Decoding header frames of proto/PROTOCOL.md, version 1, as the C++ codec does.

Input is untrusted: sizes are bounded before unpacking (msgpack unpack limits, nesting depth),
trailing bytes, duplicated/unknown keys and wrong types are refused, and every failure is a
``ProtocolError`` carrying the code of the first failed step of PROTOCOL.md's "Decoder checks"
(mirroring proto/src/codec.cc and codec_server.cc, so both sides answer the same vector the same
way).  Thread-safety: pure functions.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Tuple

import msgpack

from ._protocol import (DTYPE_SIZES, DTYPES, ERROR_CODES, FORMAT_ALIASES, JPEG_SUBSAMPLINGS,
                        LAYOUT_RANKS, LAYOUTS, MAX_HEADER_BYTES, MAX_META_ENTRIES, MAX_RANK,
                        MAX_STRING_BYTES, MODES, PNG_FILTERS, PNG_STRATEGIES, POLICIES, QUANTIZE_RULES,
                        SAVE_DEFAULTS, VERSION, ProtocolError, _CREDIT_KEYS, _DONE_KEYS,
                        _INT32_MAX, _REPLY_KEYS, _REQUIRED_SAVE_KEYS, _UINT32_MAX, _UINT64_MAX,
                        _canonical_save, credit_request, status_request)

__all__ = ["decode_client", "decode_server"]

_MAX_DEPTH = 2          # the header map and one level inside it
_MAX_KIND_BYTES = 64
_MAX_CODE_BYTES = 64


class _Pairs(list):
    """A decoded msgpack map, kept as its (key, value) pairs in wire order."""


def _unpack_map(data: bytes) -> "_Pairs":
    """Returns the pairs of the one msgpack map in ``data`` (nested maps stay _Pairs).
    Raises ProtocolError: too_large over 64 KiB, bad_message for anything but one map within
    the unpack limits."""
    data = bytes(data)
    if len(data) > MAX_HEADER_BYTES:
        raise ProtocolError("too_large", f"header frame of {len(data)} bytes is over the "
                                         f"limit of {MAX_HEADER_BYTES}")
    if not data:
        raise ProtocolError("bad_message", "empty header frame")
    n = MAX_HEADER_BYTES
    try:
        obj = msgpack.unpackb(
            data, raw=False, unicode_errors="surrogateescape", strict_map_key=False,
            use_list=True, object_pairs_hook=_Pairs, max_str_len=n, max_bin_len=n,
            max_array_len=n, max_map_len=n // 2, max_ext_len=n)
    except msgpack.ExtraData as e:
        raise ProtocolError("bad_message", f"{len(e.extra)} trailing bytes after the header "
                                           "map") from None
    except Exception as e:  # malformed, truncated, over a limit, too deep for the unpacker
        raise ProtocolError("bad_message", f"header is not msgpack within limits: {e}") \
            from None
    if not isinstance(obj, _Pairs):
        raise ProtocolError("bad_message", "header is not a msgpack map")
    if _depth(obj) > _MAX_DEPTH:
        raise ProtocolError("bad_message", f"containers nest deeper than {_MAX_DEPTH}")
    return obj


def _depth(obj: Any) -> int:
    if isinstance(obj, _Pairs):
        return 1 + max((max(_depth(k), _depth(v)) for k, v in obj), default=0)
    if isinstance(obj, list):
        return 1 + max((_depth(x) for x in obj), default=0)
    return 0


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _utf8_len(s: str) -> int:
    return len(s.encode("utf-8", "surrogateescape"))


def _find(pairs: "_Pairs", key: str) -> Tuple[bool, Any]:
    for k, v in pairs:
        if k == key and isinstance(k, str):
            return True, v
    return False, None


class _Reader:
    """Reads typed values; raises ProtocolError naming the key, with the request id."""

    def __init__(self, request_id: int) -> None:
        self.rid = request_id

    def fail(self, code: str, key: str, what: str) -> ProtocolError:
        return ProtocolError(code, f"key '{key}': {what}", self.rid)

    def uint64(self, key: str, x: Any) -> int:
        if not _is_int(x) or x < 0:
            raise self.fail("bad_request", key, "must be a non-negative integer")
        return x

    def int_range(self, key: str, x: Any, lo: int, hi: int, code: str) -> int:
        if not _is_int(x):
            raise self.fail("bad_request", key, "must be an integer")
        if not lo <= x <= hi:
            raise self.fail(code, key, f"{x} is outside {lo}..{hi}")
        return x

    def finite(self, key: str, x: Any) -> float:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise self.fail("bad_request", key, "must be a number")
        if not math.isfinite(float(x)):
            raise self.fail("bad_option", key, "must be finite")
        return float(x)

    def boolean(self, key: str, x: Any) -> bool:
        if not isinstance(x, bool):
            raise self.fail("bad_request", key, "must be a bool")
        return x

    def string(self, key: str, x: Any, max_bytes: int, too_long: str) -> str:
        if not isinstance(x, str):
            raise self.fail("bad_request", key, "must be a str")
        if _utf8_len(x) > max_bytes:
            raise self.fail(too_long, key, f"longer than {max_bytes} bytes")
        return x

    def enum(self, key: str, x: Any, names, code: str) -> str:
        x = self.string(key, x, MAX_STRING_BYTES, code)
        if x not in names:
            raise self.fail(code, key, "unknown value")
        return x


def _check_version_and_kind(pairs: "_Pairs", r: _Reader) -> str:
    found, v = _find(pairs, "v")
    if not found:
        raise r.fail("bad_request", "v", "missing")
    if not _is_int(v):
        raise r.fail("bad_request", "v", "must be an integer")
    if v != VERSION:
        raise ProtocolError("unsupported_version", f"protocol version {v} is not spoken here "
                            f"(this is {VERSION})", r.rid)
    found, kind = _find(pairs, "kind")
    if not found:
        raise r.fail("bad_request", "kind", "missing")
    return r.string("kind", kind, _MAX_KIND_BYTES, "bad_request")


def _read_fields(pairs: "_Pairs", order, read, r: _Reader) -> Dict[str, Any]:
    """Reads every entry in wire order with ``read(key, value)``; returns the values by key."""
    got: Dict[str, Any] = {}
    for key, value in pairs:
        if not isinstance(key, str):
            raise ProtocolError("bad_request", "header keys must be strings", r.rid)
        if key not in order:
            raise r.fail("bad_request", key, "unknown key")
        if key in got:
            raise r.fail("bad_request", key, "duplicate key")
        got[key] = read(key, value)
    return got


def decode_client(data: bytes) -> Dict[str, Any]:
    """Decodes a client header frame into its complete canonical dict (defaults filled in,
    ``jpg`` read as ``jpeg``, numbers as their canonical types).

    Raises ProtocolError with the code of the first failed check of PROTOCOL.md's "Decoder
    checks"; its request_id is the header's id when readable, else 0."""
    pairs = _unpack_map(data)
    found, rid = _find(pairs, "id")
    r = _Reader(rid if found and _is_int(rid) and 0 <= rid <= _UINT64_MAX else 0)
    kind = _check_version_and_kind(pairs, r)
    if kind == "status":
        got = _read_fields(pairs, ("v", "kind", "id"),
                           lambda k, x: r.uint64(k, x) if k == "id" else x, r)
        if "id" not in got:
            raise r.fail("bad_request", "id", "missing")
        return status_request(got["id"])
    if kind == "credit":
        return _decode_credit(pairs, r)
    if kind != "save":
        raise r.fail("bad_request", "kind", "unknown value")
    order = ("v", "kind", "id") + tuple(SAVE_DEFAULTS)
    got = _read_fields(pairs, order, lambda k, x: _read_save_value(k, x, r), r)
    for key in ("id",) + _REQUIRED_SAVE_KEYS:
        if key not in got:
            raise r.fail("bad_request", key, "missing")
    rank = LAYOUT_RANKS[got["layout"]]
    if len(got["shape"]) != rank:
        raise r.fail("bad_shape", "shape", f"{len(got['shape'])} dims for layout "
                                           f"{got['layout']}")
    nbytes = DTYPE_SIZES[got["dtype"]]
    for d in got["shape"]:
        nbytes *= d
        if nbytes > (1 << 63) - 1:
            raise r.fail("bad_shape", "shape", "tensor byte size overflows int64")
    fields = {k: got.get(k, default) for k, default in SAVE_DEFAULTS.items()}
    msg = {"v": VERSION, "kind": "save", "id": got["id"], **fields}
    return _canonical_save(msg)


def _decode_credit(pairs: "_Pairs", r: _Reader) -> Dict[str, Any]:
    def read(key: str, x: Any) -> Any:
        if key in ("v", "kind"):
            return x
        if key == "id":
            return r.uint64(key, x)
        if key == "bytes":
            value = r.uint64(key, x)
            if value == 0:
                raise r.fail("bad_option", key, "must be at least 1")
            return value
        if key == "policy":
            return r.enum(key, x, POLICIES, "bad_option")
        return r.int_range(key, x, 0, _UINT32_MAX, "bad_option")  # timeout_ms

    got = _read_fields(pairs, _CREDIT_KEYS, read, r)
    for key in _CREDIT_KEYS:
        if key not in got:
            raise r.fail("bad_request", key, "missing")
    return credit_request(got["id"], got["bytes"], got["policy"], got["timeout_ms"])


def _read_save_value(key: str, x: Any, r: _Reader) -> Any:
    if key in ("v", "kind"):
        return x  # checked before the fields are read
    if key == "id":
        return r.uint64(key, x)
    if key == "dtype":
        return r.enum(key, x, DTYPES, "bad_dtype")
    if key == "shape":
        if not isinstance(x, list):
            raise r.fail("bad_request", key, "must be an array")
        if len(x) > MAX_RANK:
            raise r.fail("bad_shape", key, f"more than {MAX_RANK} dims")
        return [r.int_range(key, d, 1, (1 << 63) - 1, "bad_shape") for d in x]
    if key == "layout":
        return r.enum(key, x, LAYOUTS, "bad_shape")
    if key == "path":
        return r.string(key, x, MAX_STRING_BYTES, "bad_path")
    if key == "cwd":
        cwd = r.string(key, x, MAX_STRING_BYTES, "bad_path")
        if not cwd.startswith("/"):
            raise r.fail("bad_path", key, "must be an absolute path (starting with '/')")
        if "\0" in cwd:
            raise r.fail("bad_path", key, "contains a NUL byte")
        return cwd
    if key == "format":
        return None if x is None else FORMAT_ALIASES[r.enum(key, x, FORMAT_ALIASES,
                                                             "bad_format")]
    if key in ("mode", "png_filter", "png_strategy", "jpeg_subsampling", "policy"):
        names = {"mode": MODES, "png_filter": PNG_FILTERS, "png_strategy": PNG_STRATEGIES,
                 "jpeg_subsampling": JPEG_SUBSAMPLINGS, "policy": POLICIES}[key]
        return r.enum(key, x, names, "bad_option")
    if key in _INT_RANGES:
        lo, hi = _INT_RANGES[key]
        value = r.int_range(key, x, lo, hi, "bad_option")
        if key == "png_bits" and value not in (8, 16):
            raise r.fail("bad_option", key, "must be 8 or 16")
        return value
    if key == "pad_value":
        return r.finite(key, x)
    if key == "value_range":
        if x is None:
            return None
        if not isinstance(x, list):
            raise r.fail("bad_request", key, "must be nil or an array")
        if len(x) != 2:
            raise r.fail("bad_option", key, "must have 2 entries")
        return [r.finite(key, x[0]), r.finite(key, x[1])]
    if key in ("normalize", "scale_each", "keep_gray", "webp_lossless"):
        return r.boolean(key, x)
    if key == "meta":
        if not isinstance(x, _Pairs):
            raise r.fail("bad_request", key, "must be a map")
        if len(x) > MAX_META_ENTRIES:
            raise r.fail("bad_option", key, f"more than {MAX_META_ENTRIES} entries")
        meta: Dict[str, str] = {}
        for k, v in x:
            k = r.string(key, k, MAX_STRING_BYTES, "bad_option")
            v = r.string(key, v, MAX_STRING_BYTES, "bad_option")
            if k in meta:
                raise r.fail("bad_request", key, "duplicate entry")
            meta[k] = v
        return meta
    if key == "quantize":
        return r.enum(key, x, QUANTIZE_RULES, "bad_option")
    if key == "tb":
        return _read_tb(x, r)
    if key == "shm":
        if not isinstance(x, list) or len(x) != 2:
            raise r.fail("bad_request", key, "must be an array of 2 unsigned integers")
        return [r.uint64(key, x[0]), r.uint64(key, x[1])]
    raise AssertionError(key)


_TB_KEYS = ("tag", "step", "wall_time")


def _read_tb(x: Any, r: _Reader) -> Dict[str, Any]:
    """The "tb" map (PROTOCOL.md "TensorBoard"), as the C++ codec reads it."""
    if x is None:
        return None
    if not isinstance(x, _Pairs):
        raise r.fail("bad_request", "tb", "must be nil or a map")

    def read(key: str, v: Any) -> Any:
        if key == "tag":
            tag = r.string(key, v, MAX_STRING_BYTES, "bad_option")
            if not tag:
                raise r.fail("bad_option", key, "must not be empty")
            return tag
        if key == "step":
            return r.int_range(key, v, -(1 << 63), (1 << 63) - 1, "bad_option")
        wall = r.finite(key, v)
        if wall < 0:
            raise r.fail("bad_option", key, "must be >= 0")
        return wall

    got = _read_fields(x, _TB_KEYS, read, r)
    for key in _TB_KEYS:
        if key not in got:
            raise r.fail("bad_request", key, "missing")
    return {k: got[k] for k in _TB_KEYS}


_INT_RANGES = {
    "nrow": (1, _INT32_MAX), "padding": (0, _INT32_MAX), "png_level": (0, 9),
    "png_bits": (8, 16), "jpeg_quality": (1, 100), "webp_quality": (0, 100),
    "block_timeout_ms": (0, _UINT32_MAX),
}


def decode_server(data: bytes) -> Dict[str, Any]:
    """Decodes a daemon frame (reply or done) into a dict of exactly the keys present, in
    canonical order.  An error code this client does not know becomes ``internal`` with the
    name kept in the message, as in the C++ decoder.  Raises ProtocolError."""
    pairs = _unpack_map(data)
    r = _Reader(0)
    kind = _check_version_and_kind(pairs, r)
    if kind not in ("reply", "done"):
        raise r.fail("bad_request", "kind", "unknown value")
    order = _REPLY_KEYS if kind == "reply" else _DONE_KEYS
    got = _read_fields(pairs, order, lambda k, x: _read_server_value(k, x, r), r)
    required = ("v", "kind", "id", "ok") + (("job",) if kind == "done" else ())
    for key in order:
        if key in required and key not in got:
            raise r.fail("bad_request", key, "missing")
    ok = got["ok"]
    for key in ("code", "message"):
        if (key in got) == ok:
            raise r.fail("bad_request", key, "only allowed when ok is false" if ok
                         else "missing")
    if kind == "reply":
        present = [k for k in ("job", "counters", "credit") if k in got]
        if ok and len(present) != 1:
            raise ProtocolError("bad_request", "an ok reply has exactly one of 'job', "
                                               "'counters' and 'credit'")
        if not ok and present:
            raise r.fail("bad_request", present[0], "only allowed when ok")
    if not ok:
        if got["code"] == "ok":
            raise r.fail("bad_request", "code", "'ok' in a refusal")
        if got["code"] not in ERROR_CODES:
            got["message"] = f"unknown error code '{got['code']}': {got['message']}"
            got["code"] = "internal"
    return {k: got[k] for k in order if k in got}


def _read_server_value(key: str, x: Any, r: _Reader) -> Any:
    if key in ("v", "kind"):
        return x
    if key in ("id", "job"):
        return r.uint64(key, x)
    if key == "credit":
        value = r.uint64(key, x)
        if value == 0:
            raise r.fail("bad_option", key, "must be at least 1")
        return value
    if key == "ok":
        return r.boolean(key, x)
    if key == "code":
        return r.string(key, x, _MAX_CODE_BYTES, "bad_request")
    if key == "message":
        return r.string(key, x, MAX_HEADER_BYTES, "bad_option")
    if key == "counters":
        if not isinstance(x, _Pairs):
            raise r.fail("bad_request", key, "must be a map")
        counters: Dict[str, int] = {}
        for k, v in x:
            k = r.string(key, k, MAX_STRING_BYTES, "bad_option")
            v = r.uint64(key, v)
            if k in counters:
                raise r.fail("bad_request", key, "duplicate entry")
            counters[k] = v
        return counters
    raise AssertionError(key)
