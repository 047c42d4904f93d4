"""Output paths: save_image's ``fp`` and save_images' template as the protocol's ``path``.

The protocol's ``path`` is a template in both modes (PROTOCOL.md, "Paths"): ``{name}`` takes the
value of ``meta`` key ``name`` (``{name:d}``/``{name:0Nd}`` when the value is a decimal integer),
``{index}`` the image's index in mode ``each``, ``{{``/``}}`` are braces.  ``save_image`` is a
drop-in for torchvision, so its ``fp`` is a plain file name: its braces are escaped.
``save_images`` takes a template, checked here with the daemon's rules
(daemon/output/path_template.h) so that mistakes raise ValueError in the caller.

Thread-safety: pure functions.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any, Dict, Mapping, Optional, Set

from . import _protocol

__all__ = ["literal_path", "template_path", "output_format"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT_VALUE = re.compile(r"-?[0-9]+")


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
    if "index" in meta:
        raise ValueError("metadata key 'index' clashes with the {index} of save_images")
    used: Set[str] = set()
    expanded = expand(path, meta, index=0, used=used)
    if "index" not in used:
        raise ValueError(f"save_images writes one file per image: the path needs {{index}} or "
                         f"{{index:04d}}, got {path!r}")
    if _normalized(expanded, "the expanded path") != expanded:
        raise ValueError(f"the path {path!r} expands to {expanded!r}, which has empty or '.' "
                         "components")
    return path


def expand(tmpl: str, meta: Mapping[str, str], index: Optional[int] = None,
           used: Optional[Set[str]] = None) -> str:
    """Returns ``tmpl`` expanded as the daemon does (``index`` is a field iff not None).
    Raises ValueError naming the first problem."""
    ints: Dict[str, int] = {k: int(v) for k, v in meta.items() if _INT_VALUE.fullmatch(v)}
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
