"""Per-job metadata: path templates, text chunks in the files, and manifest.jsonl."""
import json

import numpy as np
from PIL import Image

from raw_sender import RawSender, save_header


def crc32c(data: bytes) -> int:
    """Bitwise CRC32C (Castagnoli), an independent reference for the daemon's Boost.CRC."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_meta_fills_templates_files_and_manifest(daemon):
    img = np.arange(3 * 6 * 6, dtype=np.uint8).reshape(3, 6, 6)
    meta = {"rank": "3", "step": "1200", "host": "node-7"}
    with RawSender(daemon.endpoint) as s:
        grid = s.save(save_header("uint8", img.shape, "CHW", "r{rank}/{host}/s{step:06d}.png",
                                  meta=meta), img.tobytes())
        assert grid["ok"], grid
        batch = np.stack([img, img[::-1]])
        each = s.save(save_header("uint8", batch.shape, "NCHW", "e/{step}_{index:02d}.jpg",
                                  mode="each", meta=meta), batch.tobytes())
        assert each["ok"], each
        bad = s.save(save_header("uint8", img.shape, "CHW", "{nope}.png", meta=meta), img.tobytes())
        assert bad["code"] == "bad_path"
        reserved = s.save(save_header("uint8", img.shape, "CHW", "manifest.jsonl", format="png"),
                          img.tobytes())
        assert reserved["code"] == "bad_path"

    png = daemon.output_root / "r3/node-7/s001200.png"
    assert Image.open(png).text == meta  # tEXt chunks
    jpgs = [daemon.output_root / f"e/1200_{i:02d}.jpg" for i in range(2)]
    assert all(p.is_file() for p in jpgs)

    lines = [json.loads(line) for line in
             (daemon.output_root / "manifest.jsonl").read_text().splitlines()]
    by_path = {line["path"]: line for line in lines}
    assert set(by_path) == {"r3/node-7/s001200.png", "e/1200_00.jpg", "e/1200_01.jpg"}
    assert by_path["r3/node-7/s001200.png"]["job"] == grid["job"]
    assert by_path["e/1200_01.jpg"]["job"] == each["job"]
    for path, line in by_path.items():
        data = (daemon.output_root / path).read_bytes()
        assert line["bytes"] == len(data)
        assert int(line["crc32c"], 16) == crc32c(data)
        assert line["meta"] == meta
        assert line["time"].endswith("Z")
