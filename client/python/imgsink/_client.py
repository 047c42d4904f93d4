"""Client: the public face of the imgsink client library.

``Client.save_image`` takes torchvision's ``save_image`` arguments, turns the tensor into one
save request and hands it to the connection's I/O thread; the training thread pays for the
hand-off only (choosing among several daemons happens on the I/O thread too).  The returned
``Job`` reports the outcome.

Thread-safety: a Client may be shared by any number of threads.  After ``os.fork()`` a Client
used in the child opens its own connections (the parent's sockets and thread stay the
parent's).
"""

from __future__ import annotations

import os
import threading
import weakref
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _fallback, _lifecycle, _options, _paths, _protocol
from ._bufpool import BufferPool
from ._placement import Placement
from ._connection import Connection
from ._curve import load_curve
from ._endpoints import ENDPOINT_POLICIES, parse_endpoints
from ._errors import ImgsinkError
from ._job import Job
from ._tensor import Payload, make_payload

__all__ = ["Client", "default_endpoint"]

_DEFAULT_MAX_PENDING_BYTES = 1 << 30
PathLike = Union[str, "os.PathLike[str]"]


def default_endpoint() -> str:
    """Returns the endpoint (or comma-separated endpoints) from ``IMGSINK_ENDPOINT``, else the
    daemon's default:
    ``ipc://$XDG_RUNTIME_DIR/imgsink/imgsinkd.sock``, or ``ipc:///tmp/imgsink-$UID/imgsinkd.sock``
    when XDG_RUNTIME_DIR is unset."""
    env = os.environ.get("IMGSINK_ENDPOINT")
    if env:
        return env
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return f"ipc://{runtime}/imgsink/imgsinkd.sock"
    return f"ipc:///tmp/imgsink-{os.getuid()}/imgsinkd.sock"


class Client:
    """A connection to one ``imgsinkd`` daemon, or to several.

    ``endpoint``: a ZeroMQ endpoint (default: see ``default_endpoint``), or several: a str of
    endpoints separated by commas (``"ipc:///run/imgsink/imgsinkd.sock,tcp://node2:5555"``) or
    a list/tuple of str.  Empty items, duplicates or no endpoint raise ValueError.  Each
    endpoint gets its own socket, routing id and credit.
    ``endpoint_policy`` (several endpoints): which *connected* daemon a save goes to:
    ``"spread"`` (default) the one with the fewest pending tensor bytes (queued, waiting for
    credit, or sent and not finished), ties in turn, so equal daemons get equal shares;
    ``"failover"`` the first in list order.  While none is connected a save waits (up to
    ``timeout``) and goes to the first that connects.  When a connection drops, its saves not
    sent yet (waiting for credit, say) move to another connected daemon; saves already sent
    are not sent again: they fail with ``disconnected`` (a journaled daemon still finishes
    them when it restarts).  ``Job.endpoint`` tells where a job went.
    ``policy``: what to do when there is no room for a request -- in this client (its pending
    bytes are over ``max_pending_bytes``) or in the daemon: ``"block"`` waits up to ``timeout``
    seconds then raises ``Busy``; ``"error"`` raises ``Busy`` at once (in the daemon: the job
    fails with Busy); ``"drop"`` drops the image (its Job fails with Busy, nothing is raised).
    ``timeout``: seconds for ``block`` and for finding a daemon to hand a request to (a request
    that finds none fails with ``disconnected``).
    ``copy`` (default True): CPU tensors are copied at hand-off, into buffers this client
    reuses (about one memcpy), so the caller may change them in place as soon as
    ``save_image`` returns.  ``copy=False`` sends from the caller's memory (zero-copy; see
    ``save_image`` for the rule that applies then).
    ``fallback``: when no daemon listens at any endpoint (checked at the first save, in well
    under a second, and again every few seconds while none does), write the images in this
    process as torchvision does, with one warning, instead of letting saves wait ``timeout``
    and fail.  The module-level functions' default client has it on (``IMGSINK_FALLBACK=0``
    turns it off); an explicit Client has it off.
    ``autostart``: when no daemon listens at the daemon's default endpoint (and this client's
    endpoint is that one), start a per-user ``imgsinkd`` (``_autostart``: exactly one for all
    processes; exits after ``IMGSINK_IDLE_EXIT`` seconds idle, default 600) and use it; if
    that fails, fall back as above.  The module-level functions' default client has it on
    (``IMGSINK_AUTOSTART=0`` turns it off); an explicit Client has it off.
    ``curve``: for a tcp:// daemon that requires CURVE, (server public key, client public key,
    client secret key), each Z85 text or a key file; default: ``IMGSINK_CURVE`` if set.  The
    keys apply to every tcp:// endpoint (ipc:// ones never use CURVE): daemons that share
    clients share one server key pair, or use one Client per key set.
    ``max_pending_bytes`` bounds the unanswered tensor bytes of all endpoints together.
    ``shared_memory`` (default True; only with ``copy``): the copy goes into a shared-memory
    arena (a sealed memfd of ``min(max_pending_bytes, 512 MiB)``) that same-host daemons on
    ``ipc://`` endpoints read in place, so the tensor never crosses the socket; tcp:// daemons,
    daemons without it (``--shm off``, older) and tensors that do not fit get the bytes in the
    message as before.  Nothing else changes for the caller.

    Attributes: ``endpoint`` is the endpoint str as given (a list is joined with commas);
    ``endpoints`` the tuple of endpoints, in order.
    """

    def __init__(self, endpoint: Union[None, str, Sequence[str]] = None, *,
                 policy: str = "block", timeout: float = 30.0,
                 max_pending_bytes: int = _DEFAULT_MAX_PENDING_BYTES, copy: bool = True,
                 curve: Optional[Sequence[Any]] = None,
                 endpoint_policy: str = "spread", fallback: bool = False,
                 autostart: bool = False, shared_memory: bool = True) -> None:
        if endpoint is None:
            endpoint = default_endpoint()
        self.endpoints: Tuple[str, ...] = parse_endpoints(endpoint)
        self.endpoint = endpoint if isinstance(endpoint, str) else ",".join(self.endpoints)
        self.endpoint_policy = _options._choice("endpoint_policy", endpoint_policy,
                                                ENDPOINT_POLICIES)
        self.policy = _options._choice("policy", policy, _protocol.POLICIES)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise ValueError(f"timeout must be a number of seconds >= 0, got {timeout!r}")
        self.timeout = float(timeout)
        self.max_pending_bytes = _options._int("max_pending_bytes", max_pending_bytes, 1)
        self.copy = _options._bool("copy", copy)
        self.fallback = _options._bool("fallback", fallback)
        self.shared_memory = _options._bool("shared_memory", shared_memory)
        self._placement = Placement(self.endpoints, self.fallback,
                                    _options._bool("autostart", autostart))
        self._pool = BufferPool()
        self._curve = load_curve(curve)
        self._lock = threading.Lock()
        self._conn: Optional[Connection] = None
        self._pid = os.getpid()
        self._closed = False
        self._prepare_cpu: Optional[bool] = None  # tests: render CPU tensors as GPU ones are
        _live_clients.add(self)

    def __repr__(self) -> str:
        return f"<imgsink.Client {self.endpoint!r} policy={self.policy}>"

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- public API -------------------------------------------------------------------------

    def save_image(self, tensor: Any, fp: PathLike, format: Optional[str] = None, *,
                   nrow: int = 8, padding: int = 2,
                   normalize: bool = False, value_range: Optional[Tuple[float, float]] = None,
                   scale_each: bool = False, pad_value: float = 0.0,
                   **encoder_options: Any) -> Job:
        """Saves ``tensor`` like ``torchvision.utils.save_image(tensor, fp, ...)``, written by
        the daemon at ``fp`` (taken literally, braces included, as torchvision would), sent as
        written with this process's working directory: a per-user daemon (``--paths caller``,
        the auto-started one) writes exactly where torchvision would, a confined service
        (``--paths roots``) beneath its output roots (PROTOCOL.md "Paths").  Returns at once with a ``Job``.  ``format`` may be given by
        position, as torchvision's.  ``fp`` may be a str or ``os.PathLike``, or a file object:
        that is written in this process, as torchvision does (same pixels), before returning.

        Order: saves to the same ``fp`` through one client end in call order (the last call's
        image stays on disk); the caller does not wait for that.

        ``tensor``: torch tensor (any device, dtype float32/float16/bfloat16/float64/uint8,
        any strides), numpy array (float16/32/64, uint8, uint16), or a list of them (stacked
        like make_grid).  2-D is HW, 3-D CHW, 4-D NCHW.  uint8 is taken as pixels.
        Encoder options: png_level (compress_level), png_bits, png_filter, png_strategy,
        png_preset, jpeg_quality, jpeg_subsampling (subsampling), webp_lossless (lossless),
        webp_quality, quality (PIL's: WebP's for .webp, else JPEG's), keep_gray, policy,
        metadata.  PNG defaults to the fast preset (level 1, paeth, rle: ISA-L igzip, ~20x PIL's
        speed on natural images, files within ~4 % of PIL's size); ``png_preset="pil"`` writes with PIL's (torchvision's) settings.

        Buffer rule: by default the tensor is copied (or, on a GPU, rendered into new memory)
        before this returns: change it at will.  With ``Client(copy=False)`` a C-contiguous
        (or channels-last) CPU tensor/array is sent from its own memory: do not modify it in
        place until ``job.wait_sent()`` (or ``job.result()``) returns.

        Failures nobody checks are not silent: the first of each kind is logged (logger
        ``"imgsink"``) with its path and reason, and the exit summary counts them.

        Raises TypeError/ValueError for bad arguments, ``Busy`` when the policy says so, and
        ``ImgsinkError`` if the client is closed.
        """
        return self._save(tensor, fp, each=False, nrow=nrow, padding=padding,
                          normalize=normalize, value_range=value_range, scale_each=scale_each,
                          pad_value=pad_value, format=format, options=encoder_options)

    def save_images(self, batch: Any, fp_template: PathLike, *, normalize: bool = False,
                    value_range: Optional[Tuple[float, float]] = None,
                    format: Optional[str] = None, **encoder_options: Any) -> Job:
        """Saves each image of ``batch`` (4-D NCHW, or a list of images) to its own file, as
        ``save_image(batch[i], fp_template.format(index=i), ...)`` would, in one request.
        ``fp_template`` holds ``{index}`` or ``{index:0Nd}``, and may use ``metadata`` keys
        (``{rank}``, ``{step:06d}`` for integer values); ``{{``/``}}`` are braces.
        One Job covers all files.  Same options and buffer rule as ``save_image``."""
        return self._save(batch, fp_template, each=True, nrow=8, padding=2,
                          normalize=normalize, value_range=value_range, scale_each=False,
                          pad_value=0.0, format=format, options=encoder_options)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until every job submitted before the call, to any endpoint, has finished
        (succeeded or failed).
        Returns True iff they all finished within ``timeout`` seconds (None: no limit)."""
        conn = self._current_connection(create=False)
        return True if conn is None else conn.flush(timeout)

    def stats(self, timeout: Optional[float] = None,
              endpoint: Optional[str] = None) -> Dict[str, int]:
        """Returns the counters of the daemon at ``endpoint`` (one of ``endpoints``; default:
        the first) from a ``status`` request.  Raises ValueError for an endpoint not in
        ``endpoints``, ImgsinkError("timeout") if no answer comes within ``timeout`` (default:
        the client's timeout)."""
        index = self._endpoint_index(endpoint)
        conn = self._connection()
        future: Future = Future()
        conn.submit_status(future, conn.next_request_id(), index)
        wait = self.timeout if timeout is None else timeout
        try:
            return future.result(wait)
        except FutureTimeout:
            future.cancel()
            raise ImgsinkError("timeout", f"no status reply from {self.endpoints[index]} "
                               f"within {wait:g} s") from None

    def pending(self) -> int:
        """Returns the number of this process's unfinished requests (all endpoints)."""
        conn = self._current_connection(create=False)
        return 0 if conn is None else conn.pending()

    def close(self, timeout: Optional[float] = None) -> bool:
        """Flushes (up to ``timeout`` seconds; None waits for all), then closes the
        connection; jobs still unfinished fail with ``disconnected``.  Returns True iff the
        flush completed.  Further saves raise ImgsinkError.  Idempotent."""
        with self._lock:
            if self._closed:
                return True
            self._closed = True
            conn = self._conn if self._pid == os.getpid() else None
            self._conn = None
        _live_clients.discard(self)
        if conn is None:
            return True
        flushed = conn.flush(timeout)
        conn.close()
        return flushed

    # -- internals --------------------------------------------------------------------------

    def _endpoint_index(self, endpoint: Optional[str]) -> int:
        if endpoint is None:
            return 0
        if not isinstance(endpoint, str):
            raise TypeError(f"endpoint must be a str, got {type(endpoint).__name__}")
        try:
            return self.endpoints.index(endpoint.strip())
        except ValueError:
            raise ValueError(f"endpoint {endpoint!r} is not one of this client's endpoints "
                             f"({', '.join(self.endpoints)})") from None

    def _connection(self) -> Connection:
        conn = self._current_connection(create=True)
        assert conn is not None
        return conn

    def _current_connection(self, create: bool) -> Optional[Connection]:
        with self._lock:
            if self._closed:
                if create:
                    raise ImgsinkError("disconnected", "the client is closed")
                return None
            if self._pid != os.getpid():  # forked without the at-fork hook (or before it ran)
                self._after_fork_locked()
            if self._conn is None and create:
                _lifecycle.register_process_hooks()
                self._conn = Connection(self.endpoints,
                                        max_pending_bytes=self.max_pending_bytes,
                                        handoff_timeout=self.timeout,
                                        endpoint_policy=self.endpoint_policy, curve=self._curve,
                                        pool=self._pool,
                                        shared_memory=self.shared_memory and self.copy)
            return self._conn

    def _after_fork_locked(self) -> None:
        if self._conn is not None:
            _inherited.append(self._conn)  # never closed or collected here: it is the parent's
            # ... except our copies of its shared-memory fds: a child holding the parent's side
            # connection open would keep a daemon from noticing that the parent is gone.
            self._conn.forget_shm_in_child()
        self._conn = None
        self._pid = os.getpid()

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # the parent's may have been held by another thread
        self._placement.after_fork()
        self._after_fork_locked()

    def _save(self, tensor: Any, fp: Any, *, each: bool, nrow: Any, padding: Any,
              normalize: Any, value_range: Any, scale_each: Any, pad_value: Any, format: Any,
              options: Dict[str, Any]) -> Job:
        job = self._save_body(tensor, fp, each, nrow, padding, normalize, value_range,
                              scale_each, pad_value, format, options)
        if _lifecycle.in_pool_worker():  # Pool.terminate() may SIGTERM it any time from now
            try:
                job.wait_accepted(self.timeout)
            except FutureTimeout:
                pass  # it stays pending: the exit flush and the tally still see it
        return job

    def _save_body(self, tensor: Any, fp: Any, each: bool, nrow: Any, padding: Any,
                         normalize: Any, value_range: Any, scale_each: Any, pad_value: Any,
                         format: Any, options: Dict[str, Any]) -> Job:
        encoder = _options.encoder_options(options)
        render = _options.render_options(nrow, padding, normalize, value_range, scale_each,
                                         pad_value, encoder.pop("keep_gray", False))
        if hasattr(fp, "write"):  # a file object: only this process can write into it
            if each:
                raise TypeError("save_images needs a path template, not a file object")
            if self._closed:
                raise ImgsinkError("disconnected", "the client is closed")
            encoder.pop("policy", None)
            name = getattr(fp, "name", None)
            encoder = _options.for_format(encoder, format.lower() if isinstance(format, str) else
                                          _protocol.infer_format(name) if isinstance(name, str)
                                          else None)
            _fallback.save_in_process(tensor, fp, format, render, encoder)
            job = Job(getattr(fp, "name", "<file object>"), 0)
            job._on_done()
            return job
        meta = encoder.get("meta", {})
        path = _paths.template_path(fp, meta) if each else _paths.literal_path(fp)
        fmt = _paths.output_format(path, format)
        encoder = _options.for_format(encoder, fmt or _protocol.infer_format(path))
        policy = encoder.pop("policy", self.policy)
        shown = path if each else _paths.expand(path, {})  # the name as the caller wrote it
        if self._placement.local():
            if self._closed:
                raise ImgsinkError("disconnected", "the client is closed")
            return _fallback.save_local(tensor, path, shown, each, format, render, encoder,
                                       meta)
        payload = make_payload(tensor, each=each, render=render, copy=False,
                               prepare=self._prepare_cpu)
        _check_format_channels(payload, fmt or _protocol.infer_format(path))
        pool_buf = None
        conn = self._connection()
        if self.copy and not payload.private and payload.data is not None:
            # Into the shared-memory arena when there is one with room (same-host daemons then
            # read it in place), else into a pooled buffer: warm pages either way, one memcpy.
            region = conn.arena.take(payload.nbytes) if conn.arena is not None else None
            if region is not None:
                pool_buf, target = region, region.view
            else:
                pool_buf = target = self._pool.take(payload.nbytes)
            np.copyto(target, payload.data)
            payload.data, payload.private = target, True
        job = Job(shown, conn.next_request_id())
        job.files = payload.shape[0] if each else 1
        job.add_done_callback(_lifecycle.tally.job_ended)
        cwd = _paths.cwd_for(path)
        key = _paths.order_key(path, cwd)
        if each:
            key += "\0" + repr(sorted(meta.items()))
        fields = dict(render)
        fields.update(payload.render)
        fields.update(encoder)
        header = _protocol.encode_client(_protocol.save_request(
            job.request_id, dtype=payload.dtype, shape=payload.shape, layout=payload.layout,
            path=path, cwd=cwd, format=fmt, mode="each" if each else "grid", policy=policy,
            block_timeout_ms=min(int(self.timeout * 1000), 2**32 - 1), **fields))
        if payload.private:
            job._on_private_buffer()
        conn.submit_save(job, header, payload.data, payload.nbytes, payload.event, policy,
                         self.timeout, deferred=payload.deferred, key=key, pool_buf=pool_buf)
        return job



def _check_format_channels(payload: Payload, name: str) -> None:
    """REQUIRES: ``name`` is the format the save writes (a FORMAT_TABLE name)."""
    shape, layout = payload.shape, payload.layout
    channels = 1 if layout == "HW" else shape[layout.index("C")]
    if channels in (2, 4) and not _protocol.FORMAT_TABLE[name]["alpha"]:
        raise ValueError(f"{name.upper()} cannot hold {channels}-channel images (alpha); "
                         "use PNG")


# Clients alive in this process, to re-arm them in a forked child and flush them at exit.
_live_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()
_inherited: list = []  # a forked child's copies of its parent's connections


def _after_fork_in_child() -> None:
    for client in list(_live_clients):
        client._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
