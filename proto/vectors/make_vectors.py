#!/usr/bin/python3
"""Generates proto/vectors/vectors.json, the shared wire test vectors (see README.md here).

    /usr/bin/python3 proto/vectors/make_vectors.py           # rewrite vectors.json
    /usr/bin/python3 proto/vectors/make_vectors.py --check   # exit 1 if vectors.json is stale

This file lists the cases; vector_builders.py builds each one and cross-checks every valid
vector against an independent reading of PROTOCOL.md (canonical bytes, normalized decoding).
Error vectors are built by hand from raw bytes so that each carries exactly one defect.
The "formats" section (format_vectors.py) is PROTOCOL.md's format table and path -> format
inference cases; the expected formats come from os.path.splitext and the table, cross-checked
against PIL.
"""
import json
import math
import struct
import sys
from pathlib import Path

import msgpack

sys.dont_write_bytecode = True  # importing the sibling modules must not litter the source tree
from format_vectors import FORMATS, inference_cases  # noqa: E402
from vector_builders import (DROP, SAVE_KEYS, VECTORS, Raw, credit, credit_pairs,  # noqa: E402
                             error, minimal_pairs, raw_map, save, valid)

HERE = Path(__file__).resolve().parent
OUT = HERE / "vectors.json"


def client_vectors():
    valid("save_minimal_canonical", "client", save())
    valid("save_every_option_canonical", "client", save(
        id=2**64 - 1, dtype="bfloat16", shape=[2, 64, 48, 1], layout="NHWC",
        path="out/img_{index:04d}.jpg", format="jpeg", mode="each", nrow=3, padding=0,
        pad_value=0.5, normalize=True, value_range=[-1.0, 1.0], scale_each=True, keep_gray=True,
        png_level=9, png_bits=16, png_filter="paeth", png_strategy="rle", jpeg_quality=95,
        jpeg_subsampling="444", policy="drop", block_timeout_ms=100000,
        meta={"step": "1200", "rank": "0"}))
    valid("save_negative_pad_value_canonical", "client", save(
        id=300, dtype="uint8", shape=[32, 32], layout="HW", path="gray.png", format="png",
        pad_value=-2.5, value_range=None, png_level=0, jpeg_quality=1, block_timeout_ms=0,
        meta={"\u00e9": "b", "Z": "", "a": "x"}))
    valid("save_pil_preset_canonical", "client", save(
        id=3, path="pil/{step}.png", pad_value=-0.0, png_level=6, png_filter="all",
        png_strategy="default", meta={"step": "7"}))
    valid("save_webp_canonical", "client", save(
        id=4, path="out/a.webp", webp_lossless=True, webp_quality=0))
    valid("save_webp_lossy_format_canonical", "client", save(
        id=5, path="out/a.png", format="webp", webp_quality=100))
    # A relative path with the caller's working directory; an absolute path needs none.
    valid("save_cwd_canonical", "client", save(
        id=8, path="samples/{{x}}.png", cwd="/home/u/run \u00e9"))
    valid("save_absolute_path_canonical", "client", save(id=9, path="/data/out/../x/./a.png"))
    valid("save_tensorboard_canonical", "client", save(
        id=6, dtype="float32", shape=[64, 3, 64, 64], layout="NCHW", path="runs/exp1",
        format="png", padding=0, quantize="tensorboard",
        tb={"tag": "samples", "step": -12, "wall_time": 1765000000.25}))
    # The shared-memory hand-off: [segment token, offset], full uint64 range.
    valid("save_shm_canonical", "client", save(
        id=8, path="out/a.jpg", meta={"step": "9"}, shm=[2**64 - 1, 4096]))
    valid("save_shm_zero_offset_canonical", "client", save(id=9, shm=[7, 0]))
    valid("status_canonical", "client", {"v": 1, "kind": "status", "id": 7})
    valid("credit_block_canonical", "client", credit())
    valid("credit_drop_timeout_0_canonical", "client",
          credit(id=2**64 - 1, bytes=2**32, policy="drop", timeout_ms=0))

    # Keys reordered, optional keys omitted, ints where floats go, a signed int8 for nrow, a
    # non-shortest uint32 for id, "jpg" for the format.
    valid("save_reordered_ints_noncanonical", "client",
          save(id=5, format="jpeg", nrow=4, pad_value=1.0, value_range=[0.0, 255.0],
               meta={"k": "v"}),
          raw_map([("path", "samples/step_000100.png"), ("meta", {"k": "v"}),
                   ("pad_value", 1), ("layout", "NCHW"), ("value_range", [0, 255]),
                   ("nrow", Raw(b"\xd0\x04")), ("format", "jpg"),
                   ("shape", [4, 3, 32, 32]), ("dtype", "float32"),
                   ("id", Raw(b"\xce\x00\x00\x00\x05")), ("kind", "save"), ("v", 1)]))
    # What encoders wrote before defaults were omitted (and journals still hold): every key,
    # defaults explicit.  It must keep decoding.
    full = save(id=6, meta={"step": "5"})
    valid("save_every_key_explicit_noncanonical", "client", full,
          # the keys of that time: the webp_* keys came after defaults were omitted
          raw_map([(k, full[k]) for k, _ in SAVE_KEYS
                   if not k.startswith("webp_") and k not in ("cwd", "quantize", "tb", "shm")]))
    valid("save_float32_pad_value_noncanonical", "client", save(pad_value=0.25),
          raw_map(minimal_pairs(pad_value=Raw(b"\xca" + struct.pack(">f", 0.25)))))
    valid("credit_reordered_noncanonical", "client",
          credit(id=12, bytes=300, policy="error", timeout_ms=5),
          raw_map([("timeout_ms", Raw(b"\xd2\x00\x00\x00\x05")), ("policy", "error"),
                   ("bytes", Raw(b"\xcf" + struct.pack(">Q", 300))), ("id", 12),
                   ("kind", "credit"), ("v", 1)]))
    valid("status_reordered_noncanonical", "client", {"v": 1, "kind": "status", "id": 9},
          raw_map([("id", 9), ("kind", "status"), ("v", 1)]))

    error("credit_bytes_0", "client", raw_map(credit_pairs(bytes=0)), "bad_option")
    error("credit_missing_bytes", "client", raw_map(credit_pairs(bytes=DROP)), "bad_request")
    error("credit_missing_policy", "client", raw_map(credit_pairs(policy=DROP)), "bad_request")
    error("credit_unknown_policy", "client", raw_map(credit_pairs(policy="wait")), "bad_option")
    error("credit_bytes_negative", "client", raw_map(credit_pairs(bytes=-1)), "bad_request")
    error("credit_bytes_float", "client", raw_map(credit_pairs(bytes=1.0e6)), "bad_request")
    error("credit_timeout_over_uint32", "client",
          raw_map(credit_pairs(timeout_ms=2**32)), "bad_option")
    error("credit_with_save_key", "client", raw_map(credit_pairs(path="x.png")), "bad_request")

    status = raw_map([("v", 1), ("kind", "status"), ("id", 7)])
    error("empty_frame", "client", b"", "bad_message")
    error("not_msgpack", "client", b"\xc1", "bad_message")
    error("truncated_map", "client", status[:-1], "bad_message")
    error("array_instead_of_map", "client", msgpack.packb([1, "status", 7]), "bad_message")
    error("trailing_bytes", "client", status + b"\xc0", "bad_message")
    error("huge_array_length", "client", b"\xdd\xff\xff\xff\xff", "bad_message")
    error("huge_map_length", "client", b"\xdf\xff\xff\xff\xff", "bad_message")
    error("huge_nested_array_length", "client", b"\x81\xa1x\xdd\xff\xff\xff\xff", "bad_message")
    error("huge_str_length", "client", b"\x81\xa1x\xdb\xff\xff\xff\xff", "bad_message")
    error("nesting_too_deep", "client",
          raw_map([("v", 1), ("kind", "status"), ("id", 7), ("x", Raw(b"\x91" * 40 + b"\xc0"))]),
          "bad_message")
    error("version_2", "client", raw_map([("v", 2), ("kind", "status"), ("id", 7)]),
          "unsupported_version")
    error("version_2_before_unknown_key", "client",
          raw_map(minimal_pairs(v=2, future_key=True)), "unsupported_version")
    error("missing_v", "client", raw_map([("kind", "status"), ("id", 7)]), "bad_request")
    error("missing_kind", "client", raw_map([("v", 1), ("id", 7)]), "bad_request")
    error("unknown_kind", "client", raw_map([("v", 1), ("kind", "load"), ("id", 7)]),
          "bad_request")
    error("missing_id", "client", raw_map(minimal_pairs(id=DROP)), "bad_request")
    # PROTOCOL.md "TensorBoard": the tb map and quantize.
    error("tb_not_a_map", "client", raw_map(minimal_pairs(tb="samples")), "bad_request")
    error("tb_missing_wall_time", "client",
          raw_map(minimal_pairs(tb={"tag": "a", "step": 1})), "bad_request")
    error("tb_unknown_key", "client", raw_map(minimal_pairs(
        tb={"tag": "a", "step": 1, "wall_time": 0.0, "walltime": 0.0})), "bad_request")
    error("tb_empty_tag", "client", raw_map(minimal_pairs(
        tb={"tag": "", "step": 1, "wall_time": 0.0})), "bad_option")
    error("tb_negative_wall_time", "client", raw_map(minimal_pairs(
        tb={"tag": "a", "step": 1, "wall_time": -1.0})), "bad_option")
    error("tb_float_step", "client", raw_map(minimal_pairs(
        tb={"tag": "a", "step": 1.0, "wall_time": 0.0})), "bad_request")
    error("quantize_unknown", "client", raw_map(minimal_pairs(quantize="round")), "bad_option")
    error("negative_id", "client", raw_map(minimal_pairs(id=-1)), "bad_request")
    error("missing_dtype", "client", raw_map(minimal_pairs(dtype=DROP)), "bad_request")
    error("missing_path", "client", raw_map(minimal_pairs(path=DROP)), "bad_request")
    error("unknown_key", "client", raw_map(minimal_pairs(colour="red")), "bad_request")
    error("status_with_save_key", "client",
          raw_map([("v", 1), ("kind", "status"), ("id", 7), ("dtype", "uint8")]), "bad_request")
    error("duplicate_key", "client", raw_map([("v", 1), ("kind", "status"), ("id", 7), ("id", 8)]),
          "bad_request")
    error("integer_key", "client", raw_map([("v", 1), ("kind", "status"), ("id", 7), (1, 2)]),
          "bad_request")
    error("nrow_wrong_type_str", "client", raw_map(minimal_pairs(nrow="8")), "bad_request")
    error("nrow_wrong_type_float", "client", raw_map(minimal_pairs(nrow=8.0)), "bad_request")
    error("path_as_bin", "client", raw_map(minimal_pairs(path=b"x.png")), "bad_request")
    error("cwd_as_int", "client", raw_map(minimal_pairs(cwd=7)), "bad_request")
    error("normalize_as_int", "client", raw_map(minimal_pairs(normalize=1)), "bad_request")
    error("webp_lossless_as_int", "client", raw_map(minimal_pairs(webp_lossless=1)),
          "bad_request")
    error("shm_one_entry", "client", raw_map(minimal_pairs(shm=[1])), "bad_request")
    error("shm_negative_offset", "client", raw_map(minimal_pairs(shm=[1, -1])), "bad_request")
    error("shm_not_array", "client", raw_map(minimal_pairs(shm=5)), "bad_request")
    error("meta_value_not_str", "client", raw_map(minimal_pairs(meta={"step": 5})), "bad_request")
    error("value_range_entry_not_number", "client",
          raw_map(minimal_pairs(value_range=[0.0, "1"])), "bad_request")
    error("unknown_dtype", "client", raw_map(minimal_pairs(dtype="int8")), "bad_dtype")
    error("unknown_layout", "client", raw_map(minimal_pairs(layout="NWHC")), "bad_shape")
    error("shape_rank_mismatch", "client", raw_map(minimal_pairs(shape=[3, 32, 32])), "bad_shape")
    error("shape_zero_dim", "client", raw_map(minimal_pairs(shape=[4, 3, 0, 32])), "bad_shape")
    error("shape_negative_dim", "client", raw_map(minimal_pairs(shape=[4, 3, -32, 32])),
          "bad_shape")
    error("shape_five_dims", "client", raw_map(minimal_pairs(shape=[1, 4, 3, 32, 32])),
          "bad_shape")
    error("shape_byte_size_overflow", "client",
          raw_map(minimal_pairs(shape=[2**31, 3, 2**31, 2**31])), "bad_shape")
    error("unknown_format", "client", raw_map(minimal_pairs(format="gif")), "bad_format")
    error("path_too_long", "client", raw_map(minimal_pairs(path="a" * 4093 + ".png")),
          "bad_path")
    error("cwd_relative", "client", raw_map(minimal_pairs(cwd="home/u")), "bad_path")
    error("cwd_empty", "client", raw_map(minimal_pairs(cwd="")), "bad_path")
    error("cwd_too_long", "client", raw_map(minimal_pairs(cwd="/" + "a" * 4096)), "bad_path")
    error("nrow_zero", "client", raw_map(minimal_pairs(nrow=0)), "bad_option")
    error("padding_negative", "client", raw_map(minimal_pairs(padding=-1)), "bad_option")
    error("png_level_10", "client", raw_map(minimal_pairs(png_level=10)), "bad_option")
    error("png_bits_12", "client", raw_map(minimal_pairs(png_bits=12)), "bad_option")
    error("jpeg_quality_101", "client", raw_map(minimal_pairs(jpeg_quality=101)), "bad_option")
    error("jpeg_quality_0", "client", raw_map(minimal_pairs(jpeg_quality=0)), "bad_option")
    error("webp_quality_101", "client", raw_map(minimal_pairs(webp_quality=101)), "bad_option")
    error("webp_quality_negative", "client", raw_map(minimal_pairs(webp_quality=-1)),
          "bad_option")
    error("unknown_mode", "client", raw_map(minimal_pairs(mode="tile")), "bad_option")
    error("unknown_policy", "client", raw_map(minimal_pairs(policy="wait")), "bad_option")
    error("block_timeout_over_uint32", "client",
          raw_map(minimal_pairs(block_timeout_ms=2**32)), "bad_option")
    error("value_range_3_entries", "client", raw_map(minimal_pairs(value_range=[0.0, 0.5, 1.0])),
          "bad_option")
    error("value_range_nan", "client", raw_map(minimal_pairs(value_range=[0.0, math.nan])),
          "bad_option")
    error("pad_value_inf", "client", raw_map(minimal_pairs(pad_value=math.inf)), "bad_option")
    error("meta_65_entries", "client",
          raw_map(minimal_pairs(meta={f"k{i:02d}": "" for i in range(65)})), "bad_option")
    error("meta_value_too_long", "client", raw_map(minimal_pairs(meta={"k": "x" * 4097})),
          "bad_option")


def server_vectors():
    valid("reply_ok_job", "server", {"v": 1, "kind": "reply", "id": 1, "ok": True, "job": 42})
    valid("reply_ok_job_big_ids", "server",
          {"v": 1, "kind": "reply", "id": 2**64 - 1, "ok": True, "job": 2**32})
    valid("reply_error", "server",
          {"v": 1, "kind": "reply", "id": 3, "ok": False, "code": "bad_shape",
           "message": "key 'shape': 3 dims for layout NCHW"})
    valid("reply_error_unreadable_header", "server",
          {"v": 1, "kind": "reply", "id": 0, "ok": False, "code": "bad_message",
           "message": "header is not a msgpack map"})
    valid("reply_status_counters", "server",
          {"v": 1, "kind": "reply", "id": 7, "ok": True,
           "counters": {"bytes_written": 2**40, "jobs_accepted": 12, "jobs_failed": 0,
                        "jobs_written": 11}})
    valid("reply_credit", "server",
          {"v": 1, "kind": "reply", "id": 8, "ok": True, "credit": 12582912})
    valid("reply_credit_busy", "server",
          {"v": 1, "kind": "reply", "id": 9, "ok": False, "code": "busy",
           "message": "no credit free within timeout_ms 30000"})
    valid("reply_no_credit", "server",
          {"v": 1, "kind": "reply", "id": 10, "ok": False, "code": "no_credit",
           "message": "save of 49152 bytes, remaining credit 4096 bytes"})
    valid("done_ok", "server", {"v": 1, "kind": "done", "id": 1, "job": 42, "ok": True})
    valid("done_error", "server",
          {"v": 1, "kind": "done", "id": 1, "job": 43, "ok": False, "code": "write_failed",
           "message": "samples/step_000100.png: No space left on device"})

    error("reply_version_2", "server",
          raw_map([("v", 2), ("kind", "reply"), ("id", 1), ("ok", True), ("job", 42)]),
          "unsupported_version")
    error("unknown_server_kind", "server",
          raw_map([("v", 1), ("kind", "event"), ("id", 1), ("ok", True), ("job", 42)]),
          "bad_request")
    error("reply_ok_with_job_and_counters", "server",
          raw_map([("v", 1), ("kind", "reply"), ("id", 1), ("ok", True), ("job", 42),
                   ("counters", {"jobs_accepted": 1})]), "bad_request")
    error("reply_ok_with_credit_and_job", "server",
          raw_map([("v", 1), ("kind", "reply"), ("id", 1), ("ok", True), ("credit", 4096),
                   ("job", 42)]), "bad_request")
    error("reply_credit_0", "server",
          raw_map([("v", 1), ("kind", "reply"), ("id", 1), ("ok", True), ("credit", 0)]),
          "bad_option")
    error("reply_error_with_credit", "server",
          raw_map([("v", 1), ("kind", "reply"), ("id", 1), ("ok", False), ("credit", 4096),
                   ("code", "busy"), ("message", "")]), "bad_request")
    error("reply_ok_without_job", "server",
          raw_map([("v", 1), ("kind", "reply"), ("id", 1), ("ok", True)]), "bad_request")
    error("reply_ok_with_code", "server",
          raw_map([("v", 1), ("kind", "reply"), ("id", 1), ("ok", True), ("job", 42),
                   ("code", "busy"), ("message", "")]), "bad_request")
    error("reply_error_without_message", "server",
          raw_map([("v", 1), ("kind", "reply"), ("id", 1), ("ok", False), ("code", "busy")]),
          "bad_request")
    error("reply_error_code_ok", "server",
          raw_map([("v", 1), ("kind", "reply"), ("id", 1), ("ok", False), ("code", "ok"),
                   ("message", "")]), "bad_request")
    error("done_missing_job", "server",
          raw_map([("v", 1), ("kind", "done"), ("id", 1), ("ok", True)]), "bad_request")
    error("done_with_counters", "server",
          raw_map([("v", 1), ("kind", "done"), ("id", 1), ("job", 4), ("ok", True),
                   ("counters", {})]), "bad_request")
    error("counter_negative", "server",
          raw_map([("v", 1), ("kind", "reply"), ("id", 1), ("ok", True),
                   ("counters", {"jobs_accepted": -1})]), "bad_request")
    error("server_trailing_bytes", "server",
          raw_map([("v", 1), ("kind", "done"), ("id", 1), ("job", 4), ("ok", True)]) + b"\x00",
          "bad_message")


def render():
    client_vectors()
    server_vectors()
    names = [v["name"] for v in VECTORS]
    assert len(names) == len(set(names)), "duplicate vector names"
    # One vector (format, case) per line keeps diffs and reviews per vector.
    lines = [json.dumps(v, ensure_ascii=False) for v in VECTORS]
    table = [json.dumps(f, ensure_ascii=False) for f in FORMATS]
    cases = [json.dumps(c, ensure_ascii=False) for c in inference_cases()]
    return ('{"version": 1, "vectors": [\n' + ",\n".join(lines) + "\n],\n"
            '"formats": {"table": [\n' + ",\n".join(table) + "\n],\n"
            '"inference": [\n' + ",\n".join(cases) + "\n]}}\n")


def main():
    text = render()
    if sys.argv[1:] == ["--check"]:
        if OUT.read_text(encoding="utf-8") != text:
            sys.exit(f"{OUT} is stale: run {Path(__file__).name}")
        return
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {len(VECTORS)} vectors to {OUT}")


if __name__ == "__main__":
    main()
