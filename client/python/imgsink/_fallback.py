"""Writing in this process, as torchvision does, when the daemon cannot do it.

Two cases: a file object (the daemon cannot write into it), and no daemon reachable at all
(``reachable`` says so in well under a second, instead of letting saves wait 30 s and then
fail).  Both render with torchvision's own ``make_grid`` and the same quantization as
``torchvision.utils.save_image``, and save with PIL: with no encoder options the bytes are
torchvision's.  Relative paths are relative to the caller's current directory (torchvision's
meaning); missing parent directories are created (the daemon does that too).

Encoder options that PIL takes are passed on (``quality``/``jpeg_quality``, ``subsampling``,
``png_level``/``compress_level``); ``png_preset="pil"`` is PIL's default anyway, and the other
imgsink-only options (``png_preset="fast"`` and the explicit PNG filter/strategy/bits,
``keep_gray``, ``policy``, ``metadata``) do not apply here: they are ignored (said once).

Thread-safety: pure functions, plus a once-only warning.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any, Dict, Optional, Sequence

from . import _lifecycle, _paths, _protocol
from ._errors import ImgsinkError
from ._job import Job

__all__ = ["reachable", "save_in_process", "save_local"]

log = logging.getLogger("imgsink")
_said = set()
_said_lock = threading.Lock()

# Header key -> PIL save() keyword (for the formats that take it).
_PIL_KEYS = {"jpeg_quality": ("quality", "jpeg"), "jpeg_subsampling": ("subsampling", "jpeg"),
             "png_level": ("compress_level", "png"), "webp_quality": ("quality", "webp"),
             "webp_lossless": ("lossless", "webp")}
_PIL_SUBSAMPLING = {"444": 0, "422": 1, "420": 2}


def say_once(key: str, text: str, *args: Any) -> None:
    """Logs a warning the first time ``key`` is seen in this process."""
    with _said_lock:
        if key in _said:
            return
        _said.add(key)
    log.warning(text, *args)


def reachable(endpoints: Sequence[str], timeout: float = 0.5) -> bool:
    """Returns False iff no endpoint has a listener: an ipc socket file that is missing or
    refuses connections, a tcp port that refuses (or does not answer within ``timeout``).
    Other transports count as reachable.  A daemon being started later is not seen."""
    for endpoint in endpoints:
        transport, _, address = endpoint.partition("://")
        try:
            if transport == "ipc":
                path = "\0" + address[1:] if address.startswith("@") else address
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(timeout)
                    s.connect(path)
                return True
            if transport == "tcp":
                host, _, port = address.rpartition(":")
                host = host.strip("[]")
                if host in ("*", ""):
                    host = "127.0.0.1"
                with socket.create_connection((host, int(port)), timeout=timeout):
                    return True
            else:
                return True
        except (OSError, ValueError):
            continue
    return False


def save_in_process(tensor: Any, fp: Any, fmt: Optional[str], render: Dict[str, Any],
                    encoder: Dict[str, Any]) -> None:
    """Writes ``tensor`` to ``fp`` (a path, or a file object) the way
    ``torchvision.utils.save_image(tensor, fp, format=fmt, **make_grid options)`` does.
    Raises what torchvision/PIL raise (OSError, ValueError, ...)."""
    import numpy as np
    import torch
    from PIL import Image
    from torchvision.utils import make_grid

    if isinstance(tensor, np.ndarray):
        tensor = torch.from_numpy(tensor)
    elif isinstance(tensor, (list, tuple)):
        tensor = [torch.from_numpy(t) if isinstance(t, np.ndarray) else t for t in tensor]
    kwargs = dict(nrow=render["nrow"], padding=render["padding"],
                  normalize=render["normalize"], scale_each=render["scale_each"],
                  pad_value=render["pad_value"])
    if render.get("value_range") is not None:
        kwargs["value_range"] = tuple(render["value_range"])
    with torch.no_grad():
        first = tensor[0] if isinstance(tensor, (list, tuple)) else tensor
        if first.dtype == torch.uint8:  # imgsink takes uint8 as final pixels
            grid = make_grid(tensor, **kwargs)
            ndarr = grid.permute(1, 2, 0).to("cpu").numpy()
        else:
            grid = make_grid(tensor, **kwargs)
            ndarr = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(
                "cpu", torch.uint8).numpy()
    params = _pil_params(encoder, fmt, fp)
    if not hasattr(fp, "write"):
        fp = os.fspath(fp)
        parent = os.path.dirname(fp)
        if parent:
            os.makedirs(parent, exist_ok=True)
    Image.fromarray(ndarr).save(fp, format=fmt, **params)


def _pil_params(encoder: Dict[str, Any], fmt: Optional[str], fp: Any) -> Dict[str, Any]:
    ignored = [k for k, v in encoder.items() if k not in _PIL_KEYS
               and (k, v) not in (("png_filter", "all"), ("png_strategy", "default"))]
    if ignored:
        say_once("ignored:" + ",".join(sorted(ignored)), "imgsink: writing in this process "
                 "(PIL) ignores the option(s) %s", ", ".join(sorted(ignored)))
    if fmt is None and not hasattr(fp, "write"):
        kind = _protocol.infer_format(os.fspath(fp).replace(os.sep, "/")) or "png"
    else:
        kind = _protocol.FORMAT_ALIASES.get((fmt or "").lower(), "png")
    params: Dict[str, Any] = {}
    for key, value in encoder.items():
        name_kind = _PIL_KEYS.get(key)
        if name_kind is None or name_kind[1] != kind:
            continue
        if key == "jpeg_subsampling":
            value = _PIL_SUBSAMPLING[value]
        params[name_kind[0]] = value
    return params


def save_local(tensor: Any, path: str, shown: str, each: bool, format: Optional[str],
               render: Dict[str, Any], encoder: Dict[str, Any], meta: Dict[str, str]) -> Job:
    """Writes in this process (no daemon): relative to the current directory, as torchvision.
    An OSError fails the returned Job (logged like a daemon's failure); a bad argument
    raises, as torchvision would."""
    job = Job(shown, 0)
    images = list(tensor) if each else [tensor]
    job.files = len(images)
    job.add_done_callback(_lifecycle.tally.job_ended)
    try:
        for i, image in enumerate(images):
            name = _paths.expand(path, meta, index=i) if each else shown
            save_in_process(image, name, format, render, encoder)
    except OSError as e:
        job._on_failed(ImgsinkError("write_failed", f"{shown!r}: {e}"))
        return job
    job._on_done()
    return job
