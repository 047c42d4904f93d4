"""Turning a caller's tensor into the bytes of a save request's tensor frame.

The rules (PROTOCOL.md, "Client -> daemon"): the frame holds the elements C-contiguous in the
declared shape, little-endian.  CPU tensors and numpy arrays are sent from their own memory
without a copy when their memory is C-contiguous in NCHW order (layouts HW/CHW/NCHW) or in
channels-last order (HWC/NHWC); anything else gets exactly one ``contiguous()`` copy.  Device
tensors are quantized on their device (``prepare_cuda``) and travel as uint8.

Thread-safety: pure functions.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ._prepare import deferred_prepare, needs_host_sync, output_shape, prepare_cuda

__all__ = ["Payload", "make_payload"]

_NUMPY_DTYPES = {
    np.dtype(np.uint8): "uint8",
    np.dtype(np.uint16): "uint16",
    np.dtype(np.float16): "float16",
    np.dtype(np.float32): "float32",
    np.dtype(np.float64): "float64",
}
_TORCH_DTYPE_NAMES = ("uint8", "float16", "bfloat16", "float32", "float64")
_FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64")


@dataclass
class Payload:
    """One tensor frame and how to describe it.

    Invariant: ``data`` is a 1-D uint8 numpy array of ``nbytes`` bytes viewing the frame
    (not to be read before ``event`` has completed, when there is one), or None when
    ``deferred`` will produce the pixels: ``deferred()`` returns ``(pixels, event)`` with
    pixels of ``shape``.
    """

    dtype: str
    shape: List[int]
    layout: str
    data: Optional[np.ndarray]
    nbytes: int
    event: Optional[Any] = None  # torch.cuda.Event to wait on before reading ``data``
    deferred: Optional[Callable[[], Tuple[Any, Any]]] = None
    private: bool = False        # True: ``data`` is the client's own copy, not the caller's
    render: Dict[str, Any] = field(default_factory=dict)  # header keys to override


def _torch() -> Any:
    return sys.modules.get("torch")


def _is_tensor(x: Any) -> bool:
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


def make_payload(tensor: Any, *, each: bool, render: Dict[str, Any], copy: bool,
                 prepare: Optional[bool] = None) -> Payload:
    """Returns the payload for ``tensor`` (torch tensor, numpy array, or list/tuple of them).

    ``render`` holds make_grid's options (nrow, padding, normalize, value_range, scale_each,
    pad_value, keep_gray), already type-checked; they matter here only for device tensors,
    which are rendered before they leave the device.  ``copy`` forces a private copy of CPU
    memory.  ``prepare`` True renders float CPU tensors the device way too (tests use it to
    check that path without a GPU); None: only non-CPU tensors.  Raises TypeError/ValueError for inputs the daemon could not take.
    """
    tensor = _stack(tensor, each)
    if isinstance(tensor, np.ndarray):
        return _from_numpy(tensor, each, render, copy, private=False)
    if not _is_tensor(tensor):
        raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    t = tensor.detach()
    if t.layout != _torch().strided:
        raise TypeError(f"strided (dense) tensor expected, got layout {t.layout}")
    name = str(t.dtype).replace("torch.", "")
    if name not in _TORCH_DTYPE_NAMES:
        raise TypeError(f"unsupported dtype {t.dtype}: use float32, float16, bfloat16, "
                        f"float64 or uint8")
    _check_shape(list(t.shape), each, render, name)
    if t.device.type == "cpu" and not (prepare and name in _FLOAT_NAMES):
        return _from_cpu_tensor(t, name, each, copy)
    return _from_device_tensor(t, name, each, render)


def _stack(tensor: Any, each: bool) -> Any:
    """Stacks a list like make_grid (grid) or as a batch of images (each)."""
    if not isinstance(tensor, (list, tuple)):
        if each and getattr(tensor, "ndim", 4) != 4:
            raise ValueError("save_images needs a batch: a 4-D NCHW tensor/array or a list "
                             f"of images, got {getattr(tensor, 'ndim', '?')}-D; use "
                             "save_image for one image")
        return tensor
    if not tensor:
        raise ValueError("empty list of tensors")
    if all(_is_tensor(t) for t in tensor):
        torch = _torch()
        items = [t.detach() for t in tensor]
        if each:
            items = [t.unsqueeze(0) if t.dim() == 2 else t for t in items]
        return torch.stack(items, dim=0)
    if all(isinstance(t, np.ndarray) for t in tensor):
        items = [t[None] if each and t.ndim == 2 else t for t in tensor]
        return np.stack(items, axis=0)
    bad = next(type(t) for t in tensor if not (_is_tensor(t) or isinstance(t, np.ndarray)))
    raise TypeError(f"tensor or list of tensors expected, got a list containing {bad}")


def _check_shape(shape: List[int], each: bool, render: Dict[str, Any], dtype: str) -> None:
    if not 2 <= len(shape) <= 4:
        raise ValueError(f"expected a 2-D (HW), 3-D (CHW) or 4-D (NCHW) tensor, got shape "
                         f"{tuple(shape)}")
    if any(d == 0 for d in shape):
        raise ValueError(f"tensor has no pixels: shape {tuple(shape)}")
    channels = 1 if len(shape) == 2 else shape[-3]
    if channels not in (1, 2, 3, 4):
        raise ValueError(f"{channels} channels: images need 1 (gray), 2 (gray+alpha), 3 (RGB) "
                         f"or 4 (RGBA) channels (shape {tuple(shape)})")
    if dtype in ("uint8", "uint16") and (render.get("normalize") or
                                          render.get("value_range") is not None):
        raise ValueError(f"{dtype} input is taken as quantized pixels: normalize and "
                         "value_range do not apply")
    del each


def _layout_and_view(x: Any, ndim: int, is_contig, permute):
    """Returns (layout, view whose memory order is C-contiguous) or (None, None)."""
    if is_contig(x):
        return {2: "HW", 3: "CHW", 4: "NCHW"}[ndim], x
    if ndim >= 3:
        perm = (1, 2, 0) if ndim == 3 else (0, 2, 3, 1)
        y = permute(x, perm)
        if is_contig(y):
            return ("HWC" if ndim == 3 else "NHWC"), y
    return None, None


def bytes_view(pixels: Any) -> np.ndarray:
    """The 1-D uint8 view of a C-contiguous CPU tensor's memory (for deferred pixels)."""
    return _bytes_view(pixels.numpy())


def _bytes_view(arr: np.ndarray) -> np.ndarray:
    flat = arr.reshape(-1)
    if not flat.flags.c_contiguous:  # relaxed-stride corner cases: copy rather than guess
        flat = np.ascontiguousarray(flat)
    return flat.view(np.uint8)


def _from_numpy(a: np.ndarray, each: bool, render: Dict[str, Any], copy: bool,
                private: bool) -> Payload:
    name = _NUMPY_DTYPES.get(a.dtype.newbyteorder("="))
    if name is None:
        raise TypeError(f"unsupported dtype {a.dtype}: use float32, float16, float64, uint8 "
                        "or uint16")
    _check_shape(list(a.shape), each, render, name)
    if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and sys.byteorder == "big"):
        a, private = a.astype(a.dtype.newbyteorder("<")), True
    layout, view = _layout_and_view(a, a.ndim, lambda y: y.flags.c_contiguous,
                                    lambda y, p: y.transpose(p))
    if layout is None:
        layout, view, private = {2: "HW", 3: "CHW", 4: "NCHW"}[a.ndim], \
            np.ascontiguousarray(a), True
    if copy and not private:
        view, private = view.copy(), True
    data = _bytes_view(view)
    return Payload(name, [int(d) for d in view.shape], layout, data, int(data.nbytes),
                   private=private)


def _from_cpu_tensor(t: Any, name: str, each: bool, copy: bool) -> Payload:
    torch = _torch()
    layout, view = _layout_and_view(t, t.dim(), lambda y: y.is_contiguous(),
                                    lambda y, p: y.permute(*p))
    private = False
    if layout is None:
        layout, view, private = {2: "HW", 3: "CHW", 4: "NCHW"}[t.dim()], t.contiguous(), True
    if copy and not private:
        view, private = view.clone(), True
    raw = view.view(torch.int16) if name == "bfloat16" else view
    arr = raw.numpy()
    data = _bytes_view(arr)
    del each
    return Payload(name, [int(d) for d in view.shape], layout, data, int(data.nbytes),
                   private=private)


_PREPARED_RENDER = {"nrow": 8, "padding": 0, "normalize": False, "value_range": None,
                    "scale_each": False, "pad_value": 0.0}


def _from_device_tensor(t: Any, name: str, each: bool, render: Dict[str, Any]) -> Payload:
    if name == "uint8":  # already pixels: only move them
        pixels, event = _copy_to_host(t.contiguous())
        data = _bytes_view(pixels.numpy())
        return Payload("uint8", [int(d) for d in pixels.shape],
                       {2: "HW", 3: "CHW", 4: "NCHW"}[t.dim()], data, int(data.nbytes),
                       event=event, private=True)
    opts = dict(nrow=render["nrow"], padding=render["padding"], normalize=render["normalize"],
                value_range=render["value_range"], scale_each=render["scale_each"],
                pad_value=render["pad_value"], keep_gray=render["keep_gray"], each=each)
    layout = "NHWC" if each else "HWC"
    if needs_host_sync(render["normalize"], render["value_range"]):
        shape = output_shape(list(t.shape), nrow=render["nrow"], padding=render["padding"],
                             each=each)
        return Payload("uint8", shape, layout, None, int(np.prod(shape)), private=True,
                       render=dict(_PREPARED_RENDER), deferred=deferred_prepare(t, **opts))
    pixels, event = prepare_cuda(t, **opts)
    data = _bytes_view(pixels.numpy())
    return Payload("uint8", [int(d) for d in pixels.shape], layout, data, int(data.nbytes),
                   event=event, private=True, render=dict(_PREPARED_RENDER))


def _copy_to_host(t: Any):
    torch = _torch()
    if t.device.type != "cuda":
        return t.to("cpu"), None
    host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
    host.copy_(t, non_blocking=True)
    event = torch.cuda.Event()
    event.record(torch.cuda.current_stream(t.device))
    return host, event
