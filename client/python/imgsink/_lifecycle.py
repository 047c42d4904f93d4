"""How a process's images get written, or reported, however the process ends.

A save is only a hand-off: until the daemon has replied, the image lives in this process.  So
every way a Python program ends must first wait for its clients (bounded by
``IMGSINK_EXIT_TIMEOUT``, default 30 s), and every failure nobody looked at must be told.

Ways to end, and the hook that covers each:

* Normal end, ``sys.exit``, an uncaught exception (main program, spawn children, torchrun-style
  ranks): ``threading._register_atexit``, which runs when the main thread ends, *before* the
  ``atexit`` handlers.  pyzmq's zero-copy garbage collector registers its ``atexit`` handler
  lazily (at the first zero-copy send of >= 64 KiB), so it used to run before an imgsink atexit
  handler and break the sends still queued ("zmq gc socket requested during shutdown").  From
  the moment the process starts exiting, sends copy (``exiting()``), so pyzmq's collector is
  not needed any more.
* Non-daemon threads still saving when the main thread ends: the interpreter joins them after
  the threading hook, so a plain ``atexit`` handler flushes again and closes the clients.
* ``multiprocessing`` children (fork start method, ``Pool`` and DataLoader workers): they end
  with ``os._exit`` after running ``multiprocessing.util`` finalizers, without atexit: a
  ``Finalize`` registered in the child flushes there.
* ``Pool.terminate()`` (also ``with Pool(...)``'s exit) sends SIGTERM to
  its workers, often while their finalizer still flushes: a save in a Pool worker returns
  only once the daemon has accepted the job (it then writes the file whatever happens to the
  worker; a failure after that is in the daemon's log only).  A Python SIGTERM handler is no
  way out: one that trips just before the worker blocks in its task-queue lock never runs,
  and the worker (and the parent joining it) hang forever.

Failures: every Job is counted when it ends (``Tally``); the first failure of each error code
in a process is logged (logger ``"imgsink"``) with the path and reason, later ones are counted,
and the exit summary gives the files written and failed.

Thread-safety: Tally is locked; the hooks run once per process.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import signal
import threading
from typing import Callable, Dict, Optional

__all__ = ["tally", "exiting", "register_process_hooks", "set_flush_all"]

log = logging.getLogger("imgsink")

_exiting = False
_flush_all: Optional[Callable[[float, bool], bool]] = None  # set by the package's __init__
_hooked_pid: Optional[int] = None
_pool_worker: Optional[tuple] = None  # (pid, whether it is a multiprocessing.Pool worker)


def exiting() -> bool:
    """True once this process has started to exit: sends copy instead of pyzmq's zero-copy."""
    return _exiting


def exit_timeout() -> float:
    try:
        return max(0.0, float(os.environ.get("IMGSINK_EXIT_TIMEOUT", "30")))
    except ValueError:
        return 30.0


class Tally:
    """Counts this process's finished files and logs the first failure of each kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.written = 0
        self.failed = 0
        self.by_code: Dict[str, int] = collections.Counter()
        self.summarized = False

    def job_ended(self, job) -> None:
        """A Job's done callback (any thread)."""
        if job.cancelled():
            return
        error = job.exception()
        files = getattr(job, "files", 1)
        with self._lock:
            if error is None:
                self.written += files
                return
            code = getattr(error, "code", type(error).__name__)
            self.failed += files
            self.by_code[code] += 1
            first = self.by_code[code] == 1
        if first:
            log.warning("imgsink: %r was not written: %s (later %r failures are counted; "
                        "the exit summary gives the totals)", job.path, error, code)

    def summary(self, unfinished: int) -> None:
        with self._lock:
            written, failed, by_code = self.written, self.failed, dict(self.by_code)
            again, self.summarized = self.summarized, True
        if again or not (written or failed or unfinished):
            return
        kinds = ", ".join(f"{code}: {n}" for code, n in sorted(by_code.items()))
        text = (f"imgsink: {written} image file(s) written, {failed} failed"
                + (f" ({kinds})" if kinds else "")
                + (f", {unfinished} save(s) unfinished after waiting {exit_timeout():g} s "
                   "(IMGSINK_EXIT_TIMEOUT)" if unfinished else ""))
        log.log(logging.WARNING if failed or unfinished else logging.INFO, text)

    def reset(self) -> None:
        self._lock = threading.Lock()
        self.written = self.failed = 0
        self.by_code = collections.Counter()
        self.summarized = False


tally = Tally()


def set_flush_all(fn: Callable[[float, bool], bool]) -> None:
    """``fn(timeout, close)`` flushes (and with ``close`` closes) every client of this process;
    returns True iff all finished."""
    global _flush_all
    _flush_all = fn


def _flush(close: bool) -> None:
    global _exiting
    _exiting = True
    if _flush_all is not None:
        _flush_all(exit_timeout(), close)


def _at_thread_shutdown() -> None:
    _flush(close=False)


def _at_exit() -> None:
    _flush(close=True)


def _mp_finalizer() -> None:
    if os.getpid() == _hooked_pid:
        _flush(close=True)


def register_process_hooks() -> None:
    """Arms the multiprocessing-child hooks of this process (once per pid).  Called when a
    connection is made, so that a forked or spawned child that saves is covered."""
    global _hooked_pid
    pid = os.getpid()
    if _hooked_pid == pid:
        return
    _hooked_pid = pid
    import multiprocessing
    if multiprocessing.parent_process() is None:
        return
    import multiprocessing.util
    multiprocessing.util.Finalize(None, _mp_finalizer, exitpriority=100)


def in_pool_worker() -> bool:
    """True iff this process is a multiprocessing.Pool worker (see the module comment)."""
    global _pool_worker
    pid = os.getpid()
    if _pool_worker is None or _pool_worker[0] != pid:
        import multiprocessing
        name = multiprocessing.current_process().name
        _pool_worker = (pid, "PoolWorker-" in name)
    return _pool_worker[1]


def block_signals_in_this_thread() -> None:
    """For imgsink's own threads: leaves SIGTERM and SIGINT to the main thread (threads they
    start, pyzmq's collector included, inherit the mask).  A process-directed signal that the
    kernel hands to another thread only sets Python's flag: the program's own handler (or
    KeyboardInterrupt) would wait until its main thread next runs Python code."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})


def after_fork_in_child() -> None:
    global _exiting
    _exiting = False
    tally.reset()


_register_thread_atexit: Optional[Callable] = getattr(threading, "_register_atexit", None)
if _register_thread_atexit is not None:
    _register_thread_atexit(_at_thread_shutdown)
atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=after_fork_in_child)

