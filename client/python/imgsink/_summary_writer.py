"""imgsink.SummaryWriter: torch.utils.tensorboard.SummaryWriter's add_image/add_images, with the
PNG encoding and the event-file append done by the imgsinkd daemon (one writer per run for all
ranks; records durable like the journal: proto/PROTOCOL.md "TensorBoard").

The pixels are torch's: convert_to_HWC (make_grid with 8 columns and no padding for 4-D input,
gray repeated to RGB), then ``(x.astype(float32) * 255).clip(0, 255).astype(uint8)`` -- x1 for
uint8 --, truncation, not torchvision's rounding.  The daemon does that arithmetic
(``quantize: tensorboard``); this process only hands the tensor off (one copy into a pooled
buffer).  A tensor on a GPU is quantized there by the same rule and copied back as uint8.

Every other SummaryWriter method (add_scalar, add_histogram, ...) goes to a real
``torch.utils.tensorboard.SummaryWriter``, made on first use, when the tensorboard package is
installed; without it such a call raises NotImplementedError naming the method.  That writer
gets log_dir as resolved at construction (the working directory then joined with a relative
one), which is the run directory a per-user ``--paths caller`` daemon writes the images to: one
run for both, whichever directory each script runs in and wherever it changes to afterwards.

Thread-safety: as torch's writer: add_image(s) may be called from any thread.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from datetime import datetime
from typing import Any, List, Optional

import numpy as np

from . import _lifecycle, _paths, _protocol
from ._errors import ImgsinkError
from ._job import Job
from ._tensor import make_payload

__all__ = ["SummaryWriter"]

_AXES = {2: "HW", 3: "CHW", 4: "NCHW"}


def _default_log_dir(comment: str) -> str:
    # torch's: os.path.join("runs", current_time + "_" + socket.gethostname() + comment)
    current_time = datetime.now().strftime("%b%d_%H-%M-%S")
    return os.path.join("runs", current_time + "_" + socket.gethostname() + comment)


def _run_dir(log_dir: str, cwd: Optional[str]) -> str:
    """``log_dir`` as the protocol path of a run directory: a directory may be written with a
    trailing '/' or '.' component (``"logs/"``, ``"logs/."``: torch's writer takes them), which
    no output path may end with, so they are dropped; a relative log_dir naming the working
    directory itself (``"."``) becomes that directory, absolute.  Anything else is left for
    literal_path to check.  Raises ValueError for ``"."`` when the working directory cannot be
    named."""
    parts = log_dir.split("/")
    while len(parts) > 1 and parts[-1] in ("", "."):
        parts.pop()
    run = "/".join(parts)
    if run == "":  # "/" itself: left to literal_path's refusal
        return log_dir
    if run == ".":
        if cwd is None:
            raise ValueError(f"log_dir {log_dir!r} is the working directory, which cannot be named")
        return cwd
    return run


def _is_torch(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _to_canonical(img: Any, dataformats: str) -> Any:
    """Returns a view of ``img`` in HW, CHW or NCHW order (torch's convert_to_HWC checks,
    then a transpose: no copy).  Raises ValueError where torch's assertions fail."""
    if not isinstance(dataformats, str):
        raise TypeError(f"dataformats must be a str, got {type(dataformats).__name__}")
    fmt = dataformats.upper()
    if len(set(fmt)) != len(fmt):
        raise ValueError(f"You can not use the same dimension shorthand twice. input_format: "
                         f"{dataformats}")
    shape = tuple(img.shape)
    if len(shape) != len(fmt):
        raise ValueError(f"size of input tensor and input format are different. tensor shape: "
                         f"{shape}, input_format: {dataformats}")
    target = _AXES.get(len(fmt))
    if target is None or set(fmt) != set(target):
        raise ValueError(f"dataformats {dataformats!r} must be a permutation of HW, CHW or NCHW")
    perm = [fmt.index(c) for c in target]
    view = img.permute(*perm) if _is_torch(img) else img.transpose(perm)
    if len(fmt) == 4 and view.shape[1] not in (1, 3):  # torch's make_grid asserts this
        raise ValueError(f"add_images takes 1 (gray) or 3 (RGB) channels, got {view.shape[1]} "
                         f"(shape {shape}, dataformats {dataformats})")
    if len(fmt) == 3 and view.shape[0] not in (1, 2, 3, 4):
        raise ValueError(f"an image has 1 to 4 channels, got {view.shape[0]} (shape {shape}, "
                         f"dataformats {dataformats})")
    return view


def _quantize_on_device(t: Any) -> Any:
    """torch's conversion for a tensor on a GPU, there: uint8 pixels (the daemon takes uint8 at
    scale 1), copied to pinned host memory without waiting.  Returns a host uint8 tensor."""
    import torch
    x = t.detach()
    if x.dtype != torch.uint8:
        x = torch.nan_to_num(x.to(torch.float32) * 255, nan=0.0).clamp_(0, 255).to(torch.uint8)
    return x.contiguous().cpu()


# What a tb save's header says about rendering: torch.utils.tensorboard's make_grid (8 columns, no
# padding, gray repeated to RGB) and its quantization (x255, clip, truncate), PNG.
_TB_RENDER = {"nrow": 8, "padding": 0, "normalize": False, "value_range": None,
              "scale_each": False, "pad_value": 0.0, "keep_gray": False}


def _save_summary_image(client: Any, pixels: Any, run: str, tag: str, step: int,
                        wall_time: float, policy: Optional[str] = None,
                        cwd: Optional[str] = None) -> Job:
    """Hands one image summary to the daemon: ``pixels`` (a Payload-able CPU tensor/array in
    HW, CHW or NCHW order -- or uint8 pixels already quantized the TensorBoard way) becomes an
    image of run directory ``run`` (as the caller wrote it: relative, with the working directory
    ``cwd`` it was written in, or absolute; the daemon's path mode resolves it, PROTOCOL.md
    "Paths").  Used by imgsink.SummaryWriter; the caller has checked the arguments."""
    if client._placement.local():
        raise ImgsinkError("disconnected", "no imgsinkd daemon is listening: imgsink.SummaryWriter "
                           "needs one started with --tensorboard-logdir")
    path = _paths.literal_path(run)
    payload = make_payload(pixels, each=False, render=dict(_TB_RENDER), copy=False)
    pool_buf = None
    if client.copy and not payload.private and payload.data is not None:
        pool_buf = client._pool.take(payload.nbytes)
        np.copyto(pool_buf, payload.data)
        payload.data, payload.private = pool_buf, True
    conn = client._connection()
    job = Job(f"{run} [{tag} @ {step}]", conn.next_request_id())
    job.add_done_callback(_lifecycle.tally.job_ended)
    policy = policy or client.policy
    header = _protocol.encode_client(_protocol.save_request(
        job.request_id, dtype=payload.dtype, shape=payload.shape, layout=payload.layout,
        path=path, cwd=cwd, format="png", mode="grid", policy=policy,
        block_timeout_ms=min(int(client.timeout * 1000), 2**32 - 1), quantize="tensorboard",
        tb={"tag": tag, "step": step, "wall_time": wall_time}, **_TB_RENDER))
    if payload.private:
        job._on_private_buffer()
    # One key per run: a run's images are appended in call order, as torch's writer queues them.
    conn.submit_save(job, header, payload.data, payload.nbytes, payload.event, policy,
                     client.timeout, deferred=payload.deferred, key="\0tb\0" + (cwd or "") + "\0" + run,
                     pool_buf=pool_buf)
    return job


class SummaryWriter:
    """Drop-in for ``torch.utils.tensorboard.SummaryWriter`` whose images cost the training
    thread one hand-off.  ``log_dir`` (default ``runs/<date>_<host><comment>``, as torch's) is
    the run directory, resolved by the daemon's path mode (PROTOCOL.md "TensorBoard"): the
    per-user (auto-started, ``--paths caller``) daemon takes a relative log_dir against the
    working directory at construction, as torch's writer does, and an absolute one as it is; a
    confined service (``--paths roots``) takes a relative one beneath its
    ``--tensorboard-logdir`` and an absolute one only beneath that directory.  ``client``: the
    imgsink.Client to use (default: the module's default client).  ``purge_step``,
    ``max_queue``, ``flush_secs`` and ``filename_suffix`` are handed to the real SummaryWriter
    that other methods go to; the daemon flushes every image as it is acknowledged.  That writer
    gets the working directory at construction joined with a relative ``log_dir``: the same run
    as the images with a per-user daemon; with a confined service, only for an absolute
    ``log_dir`` beneath its ``--tensorboard-logdir`` (on the same host)."""

    def __init__(self, log_dir: Optional[str] = None, comment: str = "",
                 purge_step: Optional[int] = None, max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str = "", *, client: Any = None) -> None:
        if not log_dir:  # torch's test: None or "" is the default
            log_dir = _default_log_dir(comment)
        log_dir = os.fspath(log_dir)
        self.log_dir = log_dir
        # Torch's writer resolves log_dir when it is made: so does this one, with the working
        # directory now (a per-user daemon writes there; a confined service beneath its
        # --tensorboard-logdir, PROTOCOL.md "Paths").
        cwd = _paths.cwd_for(log_dir)
        run = _run_dir(log_dir, cwd)
        self._cwd = None if run.startswith("/") else cwd
        self._run = _paths.literal_path(run).replace("{{", "{").replace("}}", "}")
        self._client = client
        # The forwarded writer is made on first use, perhaps after a chdir: it gets the run
        # directory as torch's writer would have resolved it now (it opens its file at once).
        forward_dir = log_dir if cwd is None else os.path.join(cwd, log_dir)
        self._forward_args = dict(log_dir=forward_dir, comment=comment, purge_step=purge_step,
                                  max_queue=max_queue, flush_secs=flush_secs,
                                  filename_suffix=filename_suffix)
        self._real: Any = None
        self._lock = threading.Lock()
        self._jobs: List[Any] = []
        self._closed = False

    # -- images -------------------------------------------------------------------------------

    def add_image(self, tag: str, img_tensor: Any, global_step: Optional[int] = None,
                  walltime: Optional[float] = None, dataformats: str = "CHW") -> Any:
        """torch's add_image: ``img_tensor`` (torch tensor or numpy array; float in [0, 1] or
        uint8) in ``dataformats`` (CHW, HWC, HW, ...).  Returns the imgsink Job."""
        return self._add(tag, img_tensor, global_step, walltime, dataformats)

    def add_images(self, tag: str, img_tensor: Any, global_step: Optional[int] = None,
                   walltime: Optional[float] = None, dataformats: str = "NCHW") -> Any:
        """torch's add_images: a batch (NCHW, NHWC, ...) shown as one grid of 8 columns."""
        return self._add(tag, img_tensor, global_step, walltime, dataformats)

    def _add(self, tag: Any, img: Any, step: Any, walltime: Any, dataformats: str) -> Any:
        if self._closed:
            raise ImgsinkError("disconnected", "the SummaryWriter is closed")
        if not isinstance(tag, str) or not tag:
            raise TypeError(f"tag must be a non-empty str, got {tag!r}")
        if step is None:
            step = 0  # torch's Event leaves step unset: 0
        elif _is_torch(step) or hasattr(step, "item"):
            step = step.item()
        step = int(step)
        wall = time.time() if walltime is None else float(walltime)
        view = _to_canonical(img, dataformats)
        if _is_torch(view) and view.device.type != "cpu":
            view = _quantize_on_device(view)
        job = _save_summary_image(self._get_client(), view, self._run, tag, step, wall,
                                  cwd=self._cwd)
        with self._lock:
            self._jobs = [j for j in self._jobs if not j.done()]
            self._jobs.append(job)
        return job

    def _get_client(self) -> Any:
        if self._client is None:
            from . import default_client
            return default_client()
        return self._client

    # -- life cycle -----------------------------------------------------------------------------

    def get_logdir(self) -> str:
        return self.log_dir

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until every image added so far is in the event file (durably); flushes the
        forwarded writer too.  Returns True iff all made it within ``timeout`` (None: no limit).
        A failed image is logged by the client (logger "imgsink") and counted, not raised."""
        with self._lock:
            jobs = list(self._jobs)
        deadline = None if timeout is None else time.monotonic() + timeout
        ok = True
        for job in jobs:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                job.exception(left)
            except Exception:  # timeout (or cancelled)
                ok = False
        if self._real is not None:
            self._real.flush()
        return ok

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        if self._real is not None:
            self._real.close()

    def __enter__(self) -> "SummaryWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- everything else: torch's writer ---------------------------------------------------------

    def _real_writer(self, method: str) -> Any:
        with self._lock:
            if self._real is None:
                try:
                    from torch.utils.tensorboard import SummaryWriter as TorchWriter
                except ImportError as e:
                    raise NotImplementedError(
                        f"imgsink.SummaryWriter.{method}: only add_image and add_images are done "
                        "by imgsink; the other methods go to torch.utils.tensorboard.SummaryWriter, "
                        f"which cannot be imported here ({e}); install the tensorboard package"
                    ) from None
                self._real = TorchWriter(**self._forward_args)
            return self._real

    def __getattr__(self, name: str) -> Any:
        if name not in _FORWARDED:
            raise AttributeError(f"'SummaryWriter' object has no attribute {name!r}")
        return getattr(self._real_writer(name), name)


# torch.utils.tensorboard.SummaryWriter's other public attributes (torch 1.13 - 2.x).
_FORWARDED = frozenset((
    "add_scalar", "add_scalars", "add_histogram", "add_histogram_raw", "add_image_with_boxes",
    "add_figure", "add_video", "add_audio", "add_text", "add_onnx_graph", "add_graph",
    "add_embedding", "add_pr_curve", "add_pr_curve_raw", "add_custom_scalars_multilinechart",
    "add_custom_scalars_marginchart", "add_custom_scalars", "add_mesh", "add_hparams",
    "add_tensor", "file_writer", "all_writers", "get_logdir_writer", "purge_step", "max_queue",
    "flush_secs", "filename_suffix", "comment",
))
