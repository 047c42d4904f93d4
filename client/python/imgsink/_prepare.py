"""Quantizing device tensors where they live, so only uint8 pixels cross to the host.

``prepare_cuda`` runs torchvision's own ``make_grid`` and ``save_image`` arithmetic
(``mul(255).add_(0.5).clamp_(0, 255).to(uint8)``) with torch ops on the tensor's device, so a
CUDA tensor gives exactly the pixels ``torchvision.utils.save_image`` gives for it.  The uint8
result is copied into pinned host memory with ``non_blocking=True`` and a CUDA event is
recorded after the copy: the caller only pays for launching the kernels; whoever sends the
pixels waits on the event first.

It also runs on CPU tensors (no pinning, no event), which is how it is tested without a GPU.
Normalizing by the data's own min/max (``normalize=True`` without ``value_range``) makes
torchvision read the min/max on the host (``float(t.min())``), which waits for the GPU.  To keep
that wait off the training thread, ``deferred_prepare`` snapshots the tensor (an asynchronous
``clone`` on the caller's stream) and returns a function that runs ``prepare_cuda`` on the
snapshot later, in another thread, on a side stream: the same kernels, so the same pixels.

Thread-safety: pure functions of their arguments; each uses its calling thread's current stream.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

if TYPE_CHECKING:  # torch is optional at run time
    import torch

__all__ = ["prepare_cuda", "output_shape", "needs_host_sync", "deferred_prepare"]


def prepare_cuda(
    tensor: Union["torch.Tensor", Sequence["torch.Tensor"]],
    *,
    nrow: int = 8,
    padding: int = 2,
    normalize: bool = False,
    value_range: Optional[Tuple[float, float]] = None,
    scale_each: bool = False,
    pad_value: float = 0.0,
    keep_gray: bool = False,
    each: bool = False,
) -> Tuple["torch.Tensor", Optional[Any]]:
    """Returns ``(pixels, event)``: the quantized uint8 image(s) on the host and the CUDA event
    that marks the end of the device-to-host copy (None for non-CUDA input).

    ``each=False`` (grid): ``pixels`` is HWC, exactly ``save_image(tensor, ...)``'s array
    before ``Image.fromarray``, except that a 1-channel input keeps 1 channel (the 3 channels
    make_grid repeats are identical; the daemon repeats them again unless ``keep_gray``).
    ``each=True``: ``pixels`` is NHWC and image ``i`` is what ``save_image(tensor[i], ...)``
    writes (normalization per image, no grid).  A list of tensors is stacked first (each
    element is one image in ``each`` mode, even a 2-D one).

    REQUIRES: floating-point input (uint8 needs no preparation).  Do not read ``pixels`` before
    ``event.synchronize()`` (or ``event.query()`` is True).
    """
    import torch

    if isinstance(tensor, tuple):
        tensor = list(tensor)
    with torch.no_grad():
        if each:
            pixels = _quantize(_batch_each(tensor, normalize, value_range))
            gray = pixels.shape[1] == 1
            out = pixels.permute(0, 2, 3, 1)
        else:
            from torchvision.utils import make_grid

            gray = _channels(tensor) == 1
            grid = make_grid(tensor, nrow=nrow, padding=padding, normalize=normalize,
                             value_range=value_range, scale_each=scale_each,
                             pad_value=pad_value)
            pixels = _quantize(grid)
            out = pixels.permute(1, 2, 0)
        if gray:
            out = out[..., :1]
        del keep_gray  # the daemon applies it; the pixels are the same either way
        return _to_host(out.contiguous())


def _channels(tensor: Any) -> int:
    t = tensor[0] if isinstance(tensor, (list, tuple)) else tensor
    if isinstance(tensor, (list, tuple)):
        return len(tensor) if t.dim() == 2 else (t.shape[0] if t.dim() == 3 else t.shape[1])
    if t.dim() == 2:
        return 1
    return t.shape[0] if t.dim() == 3 else t.shape[1]


def _quantize(t: "torch.Tensor") -> "torch.Tensor":
    # torchvision.utils.save_image, verbatim.
    import torch

    return t.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)


def _batch_each(tensor: Any, normalize: bool,
                value_range: Optional[Tuple[float, float]]) -> "torch.Tensor":
    """Returns the NCHW batch whose image i is normalized as make_grid(tensor[i]) would."""
    import torch

    if isinstance(tensor, (list, tuple)):
        images: List[torch.Tensor] = [t.unsqueeze(0) if t.dim() == 2 else t for t in tensor]
        batch = torch.stack(images, dim=0)
    else:
        batch = tensor.detach()
    if batch.dim() != 4:
        raise ValueError(f"each mode needs a 4-D NCHW batch, got {batch.dim()}-D")
    if not normalize:
        return batch
    if value_range is not None and not isinstance(value_range, tuple):
        raise TypeError("value_range has to be a tuple (min, max) if specified. "
                        "min and max are numbers")
    batch = batch.clone()
    if value_range is not None:
        _norm_ip(batch, value_range[0], value_range[1])
        return batch
    # One host sync for all images instead of two per image; same scalars as float(t.min()).
    flat = batch.reshape(batch.shape[0], -1)
    lows = flat.amin(dim=1).tolist()
    highs = flat.amax(dim=1).tolist()
    for img, low, high in zip(batch, lows, highs):
        _norm_ip(img, float(low), float(high))
    return batch


def _norm_ip(img: "torch.Tensor", low: float, high: float) -> None:
    # torchvision.utils.make_grid's norm_ip, verbatim.
    img.clamp_(min=low, max=high)
    img.sub_(low).div_(max(high - low, 1e-5))


def _to_host(pixels: "torch.Tensor") -> Tuple["torch.Tensor", Optional[Any]]:
    import torch

    if pixels.device.type == "cpu":
        return pixels, None
    if pixels.device.type != "cuda":
        return pixels.to("cpu"), None  # other devices: a synchronous copy
    host = torch.empty(pixels.shape, dtype=torch.uint8, pin_memory=True)
    host.copy_(pixels, non_blocking=True)
    event = torch.cuda.Event()
    event.record(torch.cuda.current_stream(pixels.device))
    return host, event


def needs_host_sync(normalize: bool, value_range: Optional[Tuple[float, float]]) -> bool:
    """Returns True iff torchvision's arithmetic for these options reads device values on the
    host (data-dependent min/max), i.e. would stall the calling thread on a busy GPU."""
    return bool(normalize) and value_range is None


def output_shape(shape: Sequence[int], *, nrow: int, padding: int, each: bool) -> List[int]:
    """Returns the shape of ``prepare_cuda``'s pixels for an input of ``shape`` (after lists
    are stacked): HWC for a grid, NHWC for each; 1-channel input keeps 1 channel.
    REQUIRES: 2 <= len(shape) <= 4 (4 for each)."""
    if each:
        n, c, h, w = shape
        return [n, h, w, c]
    if len(shape) == 2:
        return [shape[0], shape[1], 1]
    if len(shape) == 3:
        c, h, w = shape
        return [h, w, c]
    n, c, h, w = shape
    if n == 1:  # make_grid returns the single image, without padding
        return [h, w, c]
    xmaps = min(nrow, n)
    ymaps = int(math.ceil(float(n) / xmaps))
    return [(h + padding) * ymaps + padding, (w + padding) * xmaps + padding, c]


def deferred_prepare(tensor: "torch.Tensor", **opts: Any) -> Callable[[], Tuple[Any, Any]]:
    """Snapshots ``tensor`` now without waiting for the device and returns a function that,
    called later from any thread, returns ``prepare_cuda(snapshot, **opts)``.

    On CUDA the snapshot is a clone enqueued on the caller's current stream; the returned
    function renders it on a per-device side stream that first waits for the clone.  The
    snapshot's memory is held until the function has run (or is dropped)."""
    import torch

    src = tensor.detach().clone()
    if src.device.type != "cuda":
        return lambda: prepare_cuda(src, **opts)
    device = src.device
    ready = torch.cuda.Event()
    ready.record(torch.cuda.current_stream(device))

    def run() -> Tuple[Any, Any]:
        side = _side_stream(device)
        with torch.cuda.device(device), torch.cuda.stream(side):
            side.wait_event(ready)
            result = prepare_cuda(src, **opts)
            # src came from the caller's stream: do not reuse its memory before side is done.
            src.record_stream(side)
        return result

    return run


_side_streams: Dict[Any, Any] = {}
_side_lock = threading.Lock()


def _side_stream(device: Any) -> Any:
    import torch

    with _side_lock:
        stream = _side_streams.get(device)
        if stream is None:
            stream = _side_streams[device] = torch.cuda.Stream(device)
        return stream
