"""imgsink: a drop-in ``torchvision.utils.save_image`` that never blocks training.

``imgsink.save_image(tensor, "samples/step_1000.png", nrow=8, normalize=True)`` hands the
tensor to the ``imgsinkd`` daemon, which writes the same pixels torchvision would, and returns
at once with a ``Job`` (a ``concurrent.futures.Future``).  See ``Client`` for the options.

The module-level functions use one process-wide default ``Client`` created on first use
(endpoints from ``IMGSINK_ENDPOINT``, comma-separated, or the daemon's default), re-created
in forked children, and flushed however the process ends (normal exit, ``sys.exit``, an
uncaught exception, multiprocessing/Pool/DataLoader children: see _lifecycle.py) for at most
``IMGSINK_EXIT_TIMEOUT`` seconds (default 30).  With no daemon listening it writes in this
process as torchvision does, with one warning (``IMGSINK_FALLBACK=0``: wait for a daemon) --
unless it could start one first: with no daemon at the default endpoint, the default client
starts a per-user ``imgsinkd`` (exactly one for all processes, exiting when idle; see
_autostart.py; ``IMGSINK_AUTOSTART=0`` turns that off).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Dict, Optional

from . import _lifecycle
from ._client import Client, _live_clients, default_endpoint
from ._errors import Busy, ImgsinkError
from ._job import Job
from ._prepare import prepare_cuda
from ._summary_writer import SummaryWriter

__all__ = [
    "Client", "Job", "ImgsinkError", "Busy", "prepare_cuda", "default_endpoint",
    "save_image", "save_images", "flush", "stats", "default_client", "set_default_client",
    "SummaryWriter",
]
__version__ = "0.1.0"

_default_lock = threading.Lock()
_default: Optional[Client] = None
_default_pid = os.getpid()


def default_client() -> Client:
    """Returns the process-wide default Client, creating it on first use (and again in a
    forked child)."""
    global _default, _default_pid
    with _default_lock:
        if _default is None or _default_pid != os.getpid():
            _default = Client(fallback=os.environ.get("IMGSINK_FALLBACK", "1") != "0",
                              autostart=True)
            _default_pid = os.getpid()
        return _default


def set_default_client(client: Optional[Client]) -> None:
    """Makes ``client`` the default for the module-level functions (None: create one lazily
    again).  The previous default is not closed."""
    global _default, _default_pid
    with _default_lock:
        _default = client
        _default_pid = os.getpid()


def save_image(tensor: Any, fp: Any, format: Optional[str] = None, *, nrow: int = 8,
               padding: int = 2, normalize: bool = False, value_range: Optional[tuple] = None,
               scale_each: bool = False, pad_value: float = 0.0,
               **encoder_options: Any) -> Job:
    """``default_client().save_image(...)``: see ``Client.save_image``."""
    return default_client().save_image(
        tensor, fp, format, nrow=nrow, padding=padding, normalize=normalize,
        value_range=value_range, scale_each=scale_each, pad_value=pad_value,
        **encoder_options)


def save_images(batch: Any, fp_template: Any, *, normalize: bool = False,
                value_range: Optional[tuple] = None, format: Optional[str] = None,
                **encoder_options: Any) -> Job:
    """``default_client().save_images(...)``: see ``Client.save_images``."""
    return default_client().save_images(batch, fp_template, normalize=normalize,
                                        value_range=value_range, format=format,
                                        **encoder_options)


def flush(timeout: Optional[float] = None) -> bool:
    """Waits for the default client's jobs; True iff all finished within ``timeout``."""
    with _default_lock:
        client = _default if _default_pid == os.getpid() else None
    return True if client is None else client.flush(timeout)


def stats(timeout: Optional[float] = None, endpoint: Optional[str] = None) -> Dict[str, int]:
    """A daemon's counters, through the default client: see ``Client.stats``."""
    return default_client().stats(timeout, endpoint)


def _after_fork_in_child() -> None:
    global _default_lock, _default
    _default_lock = threading.Lock()
    _default = None  # the parent's stays the parent's; a new one is made on first use


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _flush_all(timeout: float, close: bool) -> bool:
    """Gives every open client of this process ``timeout`` seconds in all to finish its jobs
    (and with ``close`` closes them and logs the exit summary).  Returns True iff all
    finished.  Called by the exit hooks of _lifecycle.py."""
    deadline = time.monotonic() + timeout
    ok, unfinished = True, 0
    for client in list(_live_clients):
        if client._pid != os.getpid():
            continue
        left = max(0.0, deadline - time.monotonic())
        if close:
            pending = client.pending()
            done = client.close(timeout=left)
            unfinished += 0 if done else pending
        else:
            done = client.flush(left)
        ok = ok and done
    if close:
        _lifecycle.tally.summary(unfinished)
    return ok


_lifecycle.set_flush_all(_flush_all)
