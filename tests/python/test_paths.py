"""The Python client's path rules (imgsink/_paths.py) against the shared path vectors
(proto/vectors/paths.json), which the daemon's and the C++ client's one implementation
(proto/include/imgsink/proto/paths.h) passes too (tests/proto/paths_vectors_test.cc)."""

from __future__ import annotations

import json
import os

import pytest

from conftest import SOURCE_DIR
from imgsink import _paths

PATHS_PATH = os.path.join(SOURCE_DIR, "proto", "vectors", "paths.json")


def _load():
    with open(PATHS_PATH, encoding="utf-8") as f:
        doc = json.load(f)
    assert doc["version"] == 1
    return doc


DOC = _load() if os.path.exists(PATHS_PATH) else {"relative_paths": [], "templates": []}


def test_path_vectors_exist_and_cover_accepted_and_refused():
    assert DOC["relative_paths"] and DOC["templates"], f"missing {PATHS_PATH}"
    for group in ("relative_paths", "templates"):
        assert {"ok" in v or "paths" in v for v in DOC[group]} == {True, False}
    assert {v["mode"] for v in DOC["templates"]} == {"grid", "each"}


@pytest.mark.parametrize("v", DOC["relative_paths"], ids=lambda v: v["name"])
def test_relative_path_rule(v):
    if v.get("ok"):
        assert _paths.check_relative(v["path"]) == v["path"]
    else:
        assert v["error"] == "bad_path"
        with pytest.raises(ValueError):
            _paths.check_relative(v["path"])


@pytest.mark.parametrize("v", DOC["templates"], ids=lambda v: v["name"])
def test_template_expansion(v):
    each = v["mode"] == "each"
    if "paths" in v:
        assert _paths.save_paths(v["path"], v["meta"], each=each, files=v["files"]) == v["paths"]
        if each:  # what save_images sends as it stands
            assert _paths.template_path(v["path"], v["meta"]) == v["path"]
    else:
        assert v["error"] == "bad_path"
        with pytest.raises(ValueError):
            _paths.save_paths(v["path"], v["meta"], each=each, files=v["files"])
        if each and v["files"] == 1:  # save_images refuses it before sending
            with pytest.raises(ValueError):
                _paths.template_path(v["path"], v["meta"])
