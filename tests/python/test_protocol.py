"""The Python codec against the shared vectors (proto/vectors/vectors.json) and PROTOCOL.md."""

from __future__ import annotations

import json
import os

import msgpack
import pytest

from conftest import SOURCE_DIR
from imgsink import _protocol as proto

VECTORS_PATH = os.path.join(SOURCE_DIR, "proto", "vectors", "vectors.json")


def _load():
    with open(VECTORS_PATH) as f:
        doc = json.load(f)
    assert doc["version"] == 1
    return doc["vectors"], doc["formats"]


VECTORS, FORMATS = _load() if os.path.exists(VECTORS_PATH) else ([], {"table": [],
                                                                        "inference": []})


def test_vectors_exist_and_cover_both_directions():
    assert VECTORS, f"missing {VECTORS_PATH}"
    kinds = {(v["direction"], "error" in v, v["canonical"]) for v in VECTORS}
    assert {("client", False, True), ("client", True, False), ("server", False, True),
            ("server", True, False)} <= kinds


def _decode(v):
    return (proto.decode_client if v["direction"] == "client" else proto.decode_server)(
        bytes.fromhex(v["hex"]))


def _encode(v, msg):
    return (proto.encode_client if v["direction"] == "client" else proto.encode_server)(msg)


@pytest.mark.parametrize("v", [v for v in VECTORS if "message" in v],
                         ids=lambda v: v["name"])
def test_valid_vector_decodes_to_its_message(v):
    got = _decode(v)
    assert got == v["message"]
    assert list(got) == list(v["message"]), "keys must come out in canonical order"
    # float-typed fields stay floats even when the JSON wrote them as integers
    if got.get("kind") == "save":
        assert isinstance(got["pad_value"], float)


@pytest.mark.parametrize("v", [v for v in VECTORS if "message" in v],
                         ids=lambda v: v["name"])
def test_encoder_writes_the_canonical_bytes(v):
    msg = _decode(v)
    encoded = _encode(v, msg)
    if v["canonical"]:
        assert encoded.hex() == v["hex"]
        assert _encode(v, v["message"]).hex() == v["hex"]
    else:
        assert encoded.hex() != v["hex"]
        assert _decode({**v, "hex": encoded.hex()}) == v["message"]


@pytest.mark.parametrize("v", [v for v in VECTORS if "error" in v], ids=lambda v: v["name"])
def test_invalid_vector_fails_with_its_code(v):
    with pytest.raises(proto.ProtocolError) as e:
        _decode(v)
    assert e.value.code == v["error"], e.value.message


def test_refusals_carry_the_request_id_when_readable():
    bad = msgpack.packb({"v": 1, "kind": "save", "id": 77, "dtype": "int7"})
    with pytest.raises(proto.ProtocolError) as e:
        proto.decode_client(bad)
    assert (e.value.code, e.value.request_id) == ("bad_dtype", 77)
    with pytest.raises(proto.ProtocolError) as e:
        proto.decode_client(b"\x93\x01\x02\x03")
    assert e.value.request_id == 0


def test_save_request_is_canonical_for_python_types():
    msg = proto.save_request(300, dtype="uint8", shape=(32, 32), layout="HW", path="g.png",
                             pad_value=-1, value_range=(0, 255), meta={"b": "2", "a": "1",
                                                                       "\u00e9": "3"})
    data = proto.encode_client(msg)
    assert data[:1] == b"\x8a"  # v, kind, id, the 4 required keys, pad_value, value_range, meta
    pairs = msgpack.unpackb(data, object_pairs_hook=list)
    assert [k for k, _ in pairs] == ["v", "kind", "id", "dtype", "shape", "layout", "path",
                                     "pad_value", "value_range", "meta"]
    d = dict(pairs)
    assert d["pad_value"] == -1.0 and isinstance(d["pad_value"], float)
    assert b"\xcb\xbf\xf0\x00\x00\x00\x00\x00\x00" in data  # -1.0 as float64
    assert d["value_range"] == [0.0, 255.0]
    assert [k for k, _ in d["meta"]] == ["a", "b", "\u00e9"]
    assert proto.decode_client(data) == msg
    assert proto.encode_client(proto.status_request(7)) == bytes.fromhex("83a17601a46b696e64"
                                                                         "a6737461747573a26964"
                                                                         "07")


def test_unknown_daemon_error_code_is_kept_as_internal():
    frame = proto.encode_server({"v": 1, "kind": "done", "id": 4, "job": 9, "ok": False,
                                 "code": "quota_exceeded", "message": "over quota"})
    msg = proto.decode_server(frame)
    assert msg["code"] == "internal"
    assert "quota_exceeded" in msg["message"] and "over quota" in msg["message"]


def test_encoder_omits_exactly_the_keys_at_their_default():
    base = dict(dtype="float32", shape=[1, 3, 4, 4], layout="NCHW", path="a.png")
    minimal = proto.encode_client(proto.save_request(1, **base))
    assert minimal[:1] == b"\x87"  # v, kind, id and the 4 required keys
    off_default = {"cwd": "/home/u/run", "format": "png", "mode": "each", "nrow": 7, "padding": 0, "pad_value": 0.5,
                   "normalize": True, "value_range": [0.0, 0.0], "scale_each": True,
                   "keep_gray": True, "png_level": 0, "png_bits": 16, "png_filter": "all",
                   "png_strategy": "default", "jpeg_quality": 95, "jpeg_subsampling": "444",
                   "webp_lossless": True, "webp_quality": 0, "policy": "drop",
                   "block_timeout_ms": 0, "meta": {"step": "1"}, "quantize": "tensorboard",
                   "tb": {"tag": "t", "step": -3, "wall_time": 1.5}, "shm": [3, 4096]}
    optional = [k for k in proto.SAVE_DEFAULTS if k not in ("dtype", "shape", "layout", "path")]
    assert sorted(off_default) == sorted(optional)
    for key, value in off_default.items():
        msg = proto.save_request(1, **base, **{key: value})
        data = proto.encode_client(msg)
        assert data[:1] == b"\x88", key
        assert [k for k, _ in msgpack.unpackb(data, object_pairs_hook=list)][-1] == key
        assert proto.decode_client(data) == msg
    # -0.0 is another float64 than the default 0.0: written.
    data = proto.encode_client(proto.save_request(1, **base, pad_value=-0.0))
    assert data[:1] == b"\x88"
    assert str(proto.decode_client(data)["pad_value"]) == "-0.0"


def test_format_table_is_the_vectors_table():
    assert [f["name"] for f in FORMATS["table"]] == list(proto.FORMATS)
    for row in FORMATS["table"]:
        mine = proto.FORMAT_TABLE[row["name"]]
        assert {"name": row["name"], **{k: list(v) if isinstance(v, tuple) else v
                                        for k, v in mine.items()}} == row
        for alias in row["aliases"]:
            assert proto.FORMAT_ALIASES[alias] == row["name"]


@pytest.mark.parametrize("case", FORMATS["inference"], ids=lambda c: c["path"])
def test_infer_format_answers_every_inference_vector(case):
    assert proto.infer_format(case["path"]) == case["format"]


def test_with_shm_appends_the_key_a_save_request_would_have():
    """The I/O thread adds ``shm`` to an encoded header once it knows the daemon; the result is
    the canonical encoding of the same request with ``shm`` set, for small and large maps."""
    base = dict(dtype="float32", shape=[1, 3, 4, 4], layout="NCHW", path="a.png")
    many = {"format": "png", "mode": "each", "nrow": 7, "padding": 0, "pad_value": 0.5,
            "normalize": True, "scale_each": True, "keep_gray": True, "png_level": 0,
            "png_bits": 16, "png_filter": "all", "jpeg_quality": 95, "meta": {"step": "1"}}
    for extra in ({}, dict(list(many.items())[:8]), many):  # 7, 15 -> 16 entries, 20
        plain = proto.encode_client(proto.save_request(1, **base, **extra))
        want = proto.encode_client(proto.save_request(1, **base, **extra, shm=[2**64 - 1, 0]))
        assert proto.with_shm(plain, 2**64 - 1, 0) == want
