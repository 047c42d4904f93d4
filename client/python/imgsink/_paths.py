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
           "check_output", "save_paths", "cwd_for", "order_key"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT_VALUE = re.compile(r"-?[0-9]+")
_INT64_MIN, _INT64_MAX = -2**63, 2**63 - 1


def _as_str(fp: Any) -> str:
    if hasattr(fp, "write") or hasattr(fp, "read"):
        raise TypeError("fp must be a path (str or os.PathLike) here, not a file object")
    try:
        path = os.fspath(fp)
    except TypeError:
        raise TypeError(f"fp must be a str or os.PathLike path, got {type(fp).__name__}") \
            from None
    return os.fsdecode(path) if isinstance(path, bytes) else path


def _output_path(path: str, what: str) -> str:
    """Returns ``path`` unchanged if it can name an output file in some path mode (PROTOCOL.md
    "Paths": valid UTF-8, no NUL, not ending with '/', last component not '.' or '..');
    else raises ValueError.  Absolute paths, '..', '.' and '//' are the daemon's path mode's
    to judge: a per-user daemon (--paths caller) takes them as the kernel does, the confined
    service refuses '..' and absolute paths outside its roots with bad_path."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {path!r} is not valid UTF-8") from None
    if "\0" in path:
        raise ValueError(f"{what} contains a NUL character")
    if not path or path.endswith("/") or path.rsplit("/", 1)[-1] in (".", ".."):
        raise ValueError(f"{what} {path!r} names a directory, not a file")
    return path


def _normalized(path: str, what: str) -> str:
    """Returns ``path`` without '.' components and repeated '/'; raises ValueError for what
    is not a protocol relative path (absolute, '..')."""
    _output_path(path, what)
    if path.startswith("/"):
        raise ValueError(f"{what} {path!r} is absolute")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"{what} {path!r} has a '..' component")
    return "/".join(parts)


def cwd_for(path: str) -> Optional[str]:
    """The save header's ``cwd`` for protocol path ``path``: this process's working directory
    now when ``path`` is relative (the daemon's path mode decides whether it is used), None for
    an absolute path or when the directory cannot be named (removed): the daemon then resolves
    the path beneath its first output root."""
    if path.startswith("/"):
        return None
    try:
        cwd = os.getcwd()
    except OSError:
        return None
    return cwd if cwd.startswith("/") and len(cwd.encode("utf-8", "surrogateescape")) <= \
        _protocol.MAX_STRING_BYTES else None


def order_key(path: str, cwd: Optional[str]) -> str:
    """The file a save's path names from this process, for ordering saves to the same file:
    absolute, without '.', '..' or repeated '/' (lexically)."""
    return posixpath.normpath(path if cwd is None else posixpath.join(cwd, path))


def check_relative(path: str, what: str = "path") -> str:
    """Returns ``path`` if it is a protocol relative path as it stands (PROTOCOL.md "Paths":
    1..4096 UTF-8 bytes, no NUL, not absolute, no empty, '.' or '..' component); else raises
    ValueError.  (The rule of the confined daemon's paths beneath its first root.)"""
    if _normalized(path, what) != path:
        raise ValueError(f"{what} {path!r} has empty or '.' components")
    return _check_length(path)


def save_paths(tmpl: str, meta: Mapping[str, str], *, each: bool, files: int = 1) -> List[str]:
    """Returns the output paths of a save whose protocol ``path`` is ``tmpl``, as the daemon
    expands them: one in grid mode, else one per index in ``range(files)``.  Raises ValueError
    where every daemon answers bad_path (each mode without {index} or with a meta key 'index',
    a bad template, an expansion that cannot name a file: ``check_output``)."""
    _check_length(tmpl)
    if not each:
        return [check_output(expand(tmpl, meta), "the expanded path")]
    if "index" in meta:
        raise ValueError("metadata key 'index' clashes with the {index} of save_images")
    used: Set[str] = set()
    first = expand(tmpl, meta, index=0, used=used)
    if "index" not in used:
        raise ValueError(f"save_images writes one file per image: the path needs {{index}} or "
                         f"{{index:04d}}, got {tmpl!r}")
    out = [first] + [expand(tmpl, meta, index=i) for i in range(1, files)]
    for path in out:
        check_output(path, f"the path {tmpl!r} expands to")
    return out


def check_output(path: str, what: str = "path") -> str:
    """Returns ``path`` if it is an output path in some path mode (``_output_path``) of at most
    4096 bytes; else raises ValueError."""
    return _check_length(_output_path(path, what))


def _check_length(path: str) -> str:
    if len(path.encode("utf-8")) > _protocol.MAX_STRING_BYTES:
        raise ValueError(f"the path is longer than {_protocol.MAX_STRING_BYTES} bytes")
    return path


def literal_path(fp: Any) -> str:
    """Returns save_image's ``fp`` as the protocol's path: as the caller wrote it (after
    os.fspath; relative or absolute, PROTOCOL.md "Paths") with braces escaped, so the daemon
    writes exactly that name.  Raises TypeError (file object, not a path) or ValueError (NUL,
    a directory, not UTF-8, too long)."""
    path = _output_path(_as_str(fp), "fp")
    return _check_length(path.replace("{", "{{").replace("}", "}}"))


def template_path(fp: Any, meta: Mapping[str, str]) -> str:
    """Returns save_images' template as the protocol's path (as written), after checking it as
    every daemon will: it must use ``{index}``, every field must be ``index`` or a ``meta`` key,
    and the expansion for index 0 must name a file.  Raises TypeError/ValueError."""
    path = _check_length(_output_path(_as_str(fp), "fp_template"))
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
