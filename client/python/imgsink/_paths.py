"""Output paths: save_image's ``fp`` and save_images' template as the protocol's ``path``.

The protocol's ``path`` is a template in both modes (PROTOCOL.md, "Paths"): ``{name}`` takes the
value of ``meta`` key ``name`` (``{name:d}``/``{name:0Nd}`` when the value is a decimal integer),
``{index}`` the image's index in mode ``each``, ``{{``/``}}`` are braces.  ``save_image`` is a
drop-in for torchvision, so its ``fp`` is a plain file name: its braces are escaped.
``save_images`` takes a template, checked here with the daemon's rules so that mistakes raise
ValueError in the caller.  The daemon and the C++ client share one implementation
(proto/include/imgsink/proto/paths.h); this one is held to the same vectors
(proto/vectors/paths.json, run by tests/python/test_paths.py).

Thread-safety: pure functions.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any, Dict, List, Mapping, Optional, Set

from . import _protocol

__all__ = ["literal_path", "template_path", "output_format", "check_relative",
           "save_paths"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT_VALUE = re.compile(r"-?[0-9]+")
_INT64_MIN, _INT64_MAX = -2**63, 2**63 - 1


def _as_str(fp: Any) -> str:
    if hasattr(fp, "write") or hasattr(fp, "read"):
        raise TypeError("imgsink writes files in the daemon, so fp must be a path (str or "
                        "os.PathLike) relative to the daemon's output root, not a file object")
    try:
        path = os.fspath(fp)
    except TypeError:
        raise TypeError(f"fp must be a str or os.PathLike path, got {type(fp).__name__}") \
            from None
    return os.fsdecode(path) if isinstance(path, bytes) else path


def _normalized(path: str, what: str) -> str:
    """Returns ``path`` without '.' components and repeated '/'; raises ValueError for what
    cannot be a file beneath the output root."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {path!r} is not valid UTF-8") from None
    if "\0" in path:
        raise ValueError(f"{what} contains a NUL character")
    if path.startswith("/"):
        raise ValueError(f"{what} {path!r} is absolute; imgsink paths are relative to the "
                         "daemon's output root (imgsinkd --output-root)")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or path.endswith("/"):
        raise ValueError(f"{what} {path!r} names a directory, not a file")
    if ".." in parts:
        raise ValueError(f"{what} {path!r} has a '..' component; it must stay under the "
                         "output root")
    return "/".join(parts)


def check_relative(path: str, what: str = "path") -> str:
    """Returns ``path`` if it is a protocol path as it stands (PROTOCOL.md "Paths": 1..4096
    UTF-8 bytes, no NUL, not absolute, no empty, '.' or '..' component); else raises
    ValueError.  Unlike the user-facing functions it does not normalize."""
    if _normalized(path, what) != path:
        raise ValueError(f"{what} {path!r} has empty or '.' components")
    return _check_length(path)


def save_paths(tmpl: str, meta: Mapping[str, str], *, each: bool, files: int = 1) -> List[str]:
    """Returns the output paths of a save whose protocol ``path`` is ``tmpl``, as the daemon
    expands them: one in grid mode, else one per index in ``range(files)``.  Raises ValueError
    where the daemon answers bad_path (each mode without {index} or with a meta key 'index',
    a bad template, an expansion that is not a protocol path)."""
    _check_length(tmpl)
    if not each:
        return [check_relative(expand(tmpl, meta), "the expanded path")]
    if "index" in meta:
        raise ValueError("metadata key 'index' clashes with the {index} of save_images")
    used: Set[str] = set()
    first = expand(tmpl, meta, index=0, used=used)
    if "index" not in used:
        raise ValueError(f"save_images writes one file per image: the path needs {{index}} or "
                         f"{{index:04d}}, got {tmpl!r}")
    out = [first] + [expand(tmpl, meta, index=i) for i in range(1, files)]
    for path in out:
        check_relative(path, f"the path {tmpl!r} expands to")
    return out


def _check_length(path: str) -> str:
    if len(path.encode("utf-8")) > _protocol.MAX_STRING_BYTES:
        raise ValueError(f"the path is longer than {_protocol.MAX_STRING_BYTES} bytes")
    return path


def literal_path(fp: Any) -> str:
    """Returns save_image's ``fp`` as the protocol's path: normalized ('./a//b' -> 'a/b') and
    with braces escaped, so the daemon writes exactly that name.  Raises TypeError (file
    object, not a path) or ValueError (absolute, '..', NUL, directory)."""
    path = _normalized(_as_str(fp), "fp")
    return _check_length(path.replace("{", "{{").replace("}", "}}"))


def template_path(fp: Any, meta: Mapping[str, str]) -> str:
    """Returns save_images' template as the protocol's path, after checking it as the daemon
    will: it must use ``{index}``, every field must be ``index`` or a ``meta`` key, and the
    expansion for index 0 must be a valid relative path.  Raises TypeError/ValueError."""
    path = _check_length(_normalized(_as_str(fp), "fp_template"))
    save_paths(path, meta, each=True)
    return path


def expand(tmpl: str, meta: Mapping[str, str], index: Optional[int] = None,
           used: Optional[Set[str]] = None) -> str:
    """Returns ``tmpl`` expanded as the daemon does (``index`` is a field iff not None).
    Raises ValueError naming the first problem."""
    ints: Dict[str, int] = {k: n for k, n in ((k, _meta_int(v)) for k, v in meta.items())
                            if n is not None}
    if index is not None:
        ints["index"] = index
    out, i = [], 0
    while i < len(tmpl):
        c = tmpl[i]
        if c in "{}" and tmpl.startswith(c * 2, i):
            out.append(c)
            i += 2
            continue
        if c == "}":
            raise ValueError(f"bad template {tmpl!r}: single '}}' (write '}}}}' for a brace)")
        if c != "{":
            out.append(c)
            i += 1
            continue
        end = tmpl.find("}", i)
        if end < 0:
            raise ValueError(f"bad template {tmpl!r}: unmatched '{{' (write '{{{{' for a brace)")
        name, has_spec, spec = tmpl[i + 1:end].partition(":")
        out.append(_field(tmpl, name, spec if has_spec else "", ints, meta))
        if used is not None:
            used.add(name)
        i = end + 1
    return "".join(out)


def _meta_int(value: str) -> Optional[int]:
    """The int a meta value stands for in templates: '-'? digits within int64 (leading zeros
    allowed), else None (the value is text)."""
    if not _INT_VALUE.fullmatch(value) or len(value.lstrip("-").lstrip("0")) > 19:
        return None  # also keeps int() away from huge digit strings
    number = int(value)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def _field(tmpl: str, name: str, spec: str, ints: Mapping[str, int],
           meta: Mapping[str, str]) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"bad template {tmpl!r}: {{{name}}} is not a field name")
    if name in ints:
        if spec in ("", "d"):
            return str(ints[name])
        if len(spec) == 3 and spec[0] == "0" and spec[1] in "123456789" and spec[2] == "d":
            return format(ints[name], spec)
        raise ValueError(f"bad template {tmpl!r}: use {{{name}}}, {{{name}:d}} or "
                         f"{{{name}:0Nd}} with N in 1..9")
    if name in meta:
        if spec:
            raise ValueError(f"bad template {tmpl!r}: {{{name}}} is text (metadata "
                             f"{meta[name]!r}) and takes no format spec")
        return meta[name]
    raise ValueError(f"bad template {tmpl!r}: unknown field {{{name}}}; fields are {{index}} "
                     "and the keys of metadata=")


def output_format(path: str, fmt: Any) -> Optional[str]:
    """Returns the header's ``format`` for save_image's ``format=`` argument (None: the daemon
    infers it from the extension of ``path``, the protocol path, as PIL would; PROTOCOL.md
    "Formats").  Raises ValueError when neither names a format.  Inference looks at the same
    string the daemon does, the unexpanded template, so a call passes here iff it passes there."""
    if fmt is not None:
        if not isinstance(fmt, str):
            raise TypeError(f"format must be a str, got {type(fmt).__name__}")
        name = _protocol.FORMAT_ALIASES.get(fmt.lower())
        if name is None:
            raise ValueError(f"unsupported format {fmt!r}: imgsink writes "
                             f"{', '.join(_protocol.FORMATS)}")
        return name
    if _protocol.infer_format(path) is None:
        ext = posixpath.splitext(path)[1]
        known = ", ".join(e for f in _protocol.FORMAT_TABLE.values() for e in f["extensions"])
        raise ValueError(f"unknown file extension: {ext!r} (use {known} or pass format=)")
    return None
