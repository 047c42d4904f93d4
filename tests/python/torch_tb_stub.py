"""A stand-in for ``torch.utils.tensorboard`` where the tensorboard package is not installed
(Debian has none), so that the methods imgsink.SummaryWriter forwards to torch's writer can be
tested: ``SummaryWriter`` here resolves ``log_dir`` as torch's does (the default
``runs/<date>_<host><comment>``; the directory made and the event file opened at construction,
relative to the working directory then) and writes add_scalar's records in TensorBoard's
framing (tb_events.frame), a version record first, into
``events.out.tfevents.<secs>.<host>.<pid>.<n><suffix>`` as torch's EventFileWriter names it.
Only the methods the tests call are here; the rest raise AttributeError.

``install()`` puts a finder first in sys.meta_path that answers ``import
torch.utils.tensorboard`` with this module; ``uninstall()`` takes it out again (and the module
out of sys.modules).  Where the tensorboard package is installed the tests use torch's own
writer instead (``needed()`` is False).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import itertools
import os
import socket
import sys
import time
from datetime import datetime

import tb_events

_NAME = "torch.utils.tensorboard"
_uid = itertools.count()


def needed() -> bool:
    """True iff the tensorboard package (which torch.utils.tensorboard needs) is not installed.
    Looked up on sys.path, not in sys.modules: tb_events stubs a few tensorboard modules there
    to load torch's summary.py."""
    return importlib.machinery.PathFinder.find_spec("tensorboard") is None


class SummaryWriter:
    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
                 filename_suffix=""):
        if not log_dir:
            current_time = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", current_time + "_" + socket.gethostname() + comment)
        self.log_dir = log_dir
        os.makedirs(log_dir, exist_ok=True)
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                f"{os.getpid()}.{next(_uid)}{filename_suffix}")
        self._file = open(os.path.join(log_dir, name), "wb")
        version = tb_events.EVENT(wall_time=time.time(), file_version="brain.Event:2")
        self._file.write(tb_events.frame(version.SerializeToString()))

    def get_logdir(self):
        return self.log_dir

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, **_):
        value = tb_events.SUMMARY_VALUE(tag=tag, simple_value=float(scalar_value))
        event = tb_events.EVENT(wall_time=time.time() if walltime is None else walltime,
                                step=0 if global_step is None else int(global_step),
                                summary=tb_events.SUMMARY(value=[value]))
        self._file.write(tb_events.frame(event.SerializeToString()))

    def flush(self):
        self._file.flush()

    def close(self):
        self._file.close()


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != _NAME:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.SummaryWriter = SummaryWriter


_finder = _Finder()


def install() -> None:
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def uninstall() -> None:
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    module = sys.modules.pop(_NAME, None)
    parent = sys.modules.get("torch.utils")
    if module is not None and getattr(parent, "tensorboard", None) is module:
        delattr(parent, "tensorboard")
