"""Checking save_image's arguments and mapping them to save-header keys.

Everything here runs in the caller's thread before anything is sent, and reports mistakes as
TypeError (wrong kind of argument, unknown option) or ValueError (right kind, bad value), the
way torchvision and PIL do.  Thread-safety: pure functions.
"""

from __future__ import annotations

import numbers
from typing import Any, Dict, Mapping, Optional

from . import _protocol

__all__ = ["render_options", "encoder_options", "for_format", "ENCODER_OPTION_NAMES"]

# Accepted encoder keyword -> protocol key.  PIL's names are aliases of ours.
_ENCODER_ALIASES = {
    "png_level": "png_level", "compress_level": "png_level",
    "png_bits": "png_bits",
    "png_filter": "png_filter",
    "png_strategy": "png_strategy",
    "jpeg_quality": "jpeg_quality",
    # PIL's `quality` is the quality of the format written: for_format() picks the key.
    "quality": "quality",
    "jpeg_subsampling": "jpeg_subsampling", "subsampling": "jpeg_subsampling",
    "webp_lossless": "webp_lossless", "lossless": "webp_lossless",
    "webp_quality": "webp_quality",
    "keep_gray": "keep_gray",
    "policy": "policy",
    "metadata": "meta",
}
ENCODER_OPTION_NAMES = tuple(_ENCODER_ALIASES) + ("png_preset",)
# png_preset: PNG settings in one option; explicit png_level/png_filter/png_strategy win.  "fast"
# is the protocol's default; "pil" is what torchvision.utils.save_image (PIL) writes.
PNG_PRESETS = {
    "fast": {"png_level": 1, "png_filter": "paeth", "png_strategy": "rle"},
    "pil": {"png_level": 6, "png_filter": "all", "png_strategy": "default"},
}
_SUBSAMPLING = {
    -1: "420", 0: "444", 1: "422", 2: "420",
    "4:4:4": "444", "4:2:2": "422", "4:2:0": "420", "444": "444", "422": "422", "420": "420",
}


def _int(name: str, value: Any, lo: int, hi: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool) and type(value).__name__ != "bool_":
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if hasattr(value, "item") and getattr(value, "numel", lambda: 2)() == 1:
            value = value.item()  # a one-element tensor, as torch would accept
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return float(value)


def _choice(name: str, value: Any, allowed) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def render_options(nrow: Any, padding: Any, normalize: Any, value_range: Any, scale_each: Any,
                   pad_value: Any, keep_gray: Any = False) -> Dict[str, Any]:
    """Returns make_grid's options as header values.  ``value_range`` is only kept (and only
    checked, like torchvision) when ``normalize`` is True."""
    out: Dict[str, Any] = {
        "nrow": _int("nrow", nrow, 1, 2**31 - 1),
        "padding": _int("padding", padding, 0, 2**31 - 1),
        "normalize": _bool("normalize", normalize),
        "value_range": None,
        "scale_each": _bool("scale_each", scale_each),
        "pad_value": _real("pad_value", pad_value),
        "keep_gray": _bool("keep_gray", keep_gray),
    }
    if out["normalize"] and value_range is not None:
        if not isinstance(value_range, tuple):
            raise TypeError("value_range has to be a tuple (min, max) if specified. "
                            "min and max are numbers")
        if len(value_range) != 2:
            raise ValueError(f"value_range must be (min, max), got {value_range!r}")
        out["value_range"] = (_real("value_range[0]", value_range[0]),
                              _real("value_range[1]", value_range[1]))
    return out


def encoder_options(options: Mapping[str, Any]) -> Dict[str, Any]:
    """Maps save_image's extra keywords to header keys.  Raises TypeError for an unknown
    keyword (``range=`` included: torchvision renamed it ``value_range``) or a keyword given
    under two names, ValueError for a bad value."""
    out: Dict[str, Any] = {}
    options = dict(options)
    preset = options.pop("png_preset", None)
    for name, value in options.items():
        if name == "range":
            raise TypeError("save_image() got an unexpected keyword argument 'range' "
                            "(renamed to 'value_range' in torchvision 0.10)")
        key = _ENCODER_ALIASES.get(name)
        if key is None:
            raise TypeError(f"save_image() got an unexpected keyword argument {name!r}; "
                            f"encoder options are {', '.join(ENCODER_OPTION_NAMES)}")
        if key in out:
            raise TypeError(f"save_image() got option {key!r} twice (as {name!r} and an "
                            "alias)")
        out[key] = _encoder_value(name, key, value)
    if preset is not None:
        for key, value in PNG_PRESETS[_choice("png_preset", preset, tuple(PNG_PRESETS))].items():
            out.setdefault(key, value)
    return out


def _encoder_value(name: str, key: str, value: Any) -> Any:
    if key == "png_level":
        return _int(name, value, 0, 9)
    if key == "png_bits":
        _int(name, value, 1, 16)
        if value not in (8, 16):
            raise ValueError(f"{name} must be 8 or 16, got {value}")
        return int(value)
    if key == "png_filter":
        return _choice(name, value, _protocol.PNG_FILTERS)
    if key == "png_strategy":
        return _choice(name, value, _protocol.PNG_STRATEGIES)
    if key == "jpeg_quality":
        return _int(name, value, 1, 100)
    if key == "quality":
        return _int(name, value, 0, 100)  # for_format() narrows it to JPEG's 1..100
    if key == "webp_quality":
        return _int(name, value, 0, 100)
    if key == "webp_lossless":
        return _bool(name, value)
    if key == "jpeg_subsampling":
        if isinstance(value, bool) or not isinstance(value, (str, numbers.Integral)):
            raise TypeError(f"{name} must be a str or int, got {type(value).__name__}")
        if value not in _SUBSAMPLING:
            raise ValueError(f"{name} must be one of 4:4:4, 4:2:2, 4:2:0 (or 0, 1, 2), got "
                             f"{value!r}")
        return _SUBSAMPLING[value]
    if key == "keep_gray":
        return _bool(name, value)
    if key == "policy":
        return _choice(name, value, _protocol.POLICIES)
    if key == "meta":
        return _metadata(name, value)
    raise AssertionError(key)


def for_format(encoder: Dict[str, Any], fmt: Optional[str]) -> Dict[str, Any]:
    """Gives PIL's ``quality`` (left by encoder_options) the meaning PIL gives it for the
    format written: ``webp_quality`` for WebP, else ``jpeg_quality`` (PNG ignores both).
    ``fmt`` is a FORMAT_TABLE name or alias, or None.  Raises TypeError when ``quality`` is
    given with its format's own key too, ValueError when it is outside that key's range."""
    if "quality" not in encoder:
        return encoder
    out = dict(encoder)
    value = out.pop("quality")
    key = "webp_quality" if _protocol.FORMAT_ALIASES.get(fmt or "") == "webp" else "jpeg_quality"
    if key in out:
        raise TypeError(f"save_image() got option {key!r} twice (as 'quality' and {key!r})")
    if key == "jpeg_quality":
        _int("quality", value, 1, 100)
    out[key] = value
    return out


def _metadata(name: str, value: Any) -> Dict[str, str]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping of str to str, got {type(value).__name__}")
    if len(value) > _protocol.MAX_META_ENTRIES:
        raise ValueError(f"{name} has {len(value)} entries; at most "
                         f"{_protocol.MAX_META_ENTRIES}")
    out: Dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise TypeError(f"{name} keys must be str, got {type(k).__name__}")
        if isinstance(v, (numbers.Number, bool)):
            v = str(v)  # step=1000 is the common case
        if not isinstance(v, str):
            raise TypeError(f"{name}[{k!r}] must be a str or number, got {type(v).__name__}")
        for s in (k, v):
            if len(s.encode("utf-8")) > _protocol.MAX_STRING_BYTES:
                raise ValueError(f"{name} strings are limited to "
                                 f"{_protocol.MAX_STRING_BYTES} bytes")
        out[k] = v
    return out
