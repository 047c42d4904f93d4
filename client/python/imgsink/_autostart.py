"""Starting a per-user ``imgsinkd`` when none listens at the default endpoint.

Used by the module-level functions' default client only (``Client(autostart=True)``), and only
when the client's endpoint is the daemon's own default (``IMGSINK_ENDPOINT`` unset or equal to
it) and ``IMGSINK_AUTOSTART`` is not ``"0"``.

The daemon runs as the user (the kernel decides what it may write), detached from the caller
(its own session, stdin/stdout on /dev/null, stderr appended to
``$XDG_STATE_HOME/imgsink/imgsinkd.log``), with
``--listen <default endpoint> --paths caller --output-root $XDG_STATE_HOME/imgsink/out
--journal-dir $XDG_STATE_HOME/imgsink/journal --manifest off --idle-exit $IMGSINK_IDLE_EXIT
--tensorboard-logdir $XDG_STATE_HOME/imgsink/out`` (idle exit: default 600 s).  ``--paths caller`` makes every save's relative path relative to the working
directory its client sent (PROTOCOL.md "Paths"), so one daemon serves every script of the user,
wherever it runs, and each file lands where torchvision would put it, and each
imgsink.SummaryWriter run where torch's writer would put it.  (The output root, which is also
the TensorBoard logdir, only takes relative paths sent without a working directory, which this
client never does unless its own has been removed.)

Exactly one daemon, however many processes find none at once: each takes an exclusive flock on
``imgsinkd.lock`` in the socket directory, checks again, and only the one that still finds
none starts it (and waits for it to listen) before letting go.  The socket directory is made
0700; one that is not a directory owned by the user, or that is group/other-writable, is not
used (somebody else could put their socket there).

Thread-safety: ``start`` may be called from several threads and processes at once (the
flock serialises them).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import stat
import subprocess
import sys
import time
from typing import Optional, Sequence

from ._fallback import reachable, say_once

__all__ = ["daemon_default_endpoint", "wanted", "start"]

log = logging.getLogger("imgsink")

_START_TIMEOUT_S = 10.0      # until the started daemon listens
_LOCK_TIMEOUT_S = 30.0       # waiting for another process that is starting one
_DEFAULT_IDLE_EXIT_S = 600


def daemon_default_endpoint() -> str:
    """The endpoint ``imgsinkd`` listens on without --listen (imgsink/proto/endpoint.h)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return f"ipc://{runtime}/imgsink/imgsinkd.sock"
    return f"ipc:///tmp/imgsink-{os.getuid()}/imgsinkd.sock"


def wanted(endpoints: Sequence[str]) -> bool:
    """Returns True iff auto-start applies: not turned off with IMGSINK_AUTOSTART=0, and the
    endpoints are exactly the daemon's default one."""
    if os.environ.get("IMGSINK_AUTOSTART", "1") == "0":
        return False
    return tuple(endpoints) == (daemon_default_endpoint(),)


def _state_dir() -> str:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"),
                                                              ".local", "state")
    return os.path.join(state, "imgsink")


def _daemon_binary() -> Optional[str]:
    """$IMGSINK_DAEMON, else an imgsinkd next to the package (in it, or in the bin directory of
    its installation prefix), else imgsinkd on PATH; None if none."""
    env = os.environ.get("IMGSINK_DAEMON")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "imgsinkd"), os.path.join(sys.prefix, "bin", "imgsinkd")):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("imgsinkd")


def _private_dir(path: str) -> Optional[str]:
    """Makes `path` (mode 0700) if missing.  Returns None iff it is a directory (not a symlink)
    owned by this user and not group/other-writable, else why it is refused."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        st = os.lstat(path)
    except OSError as e:
        return f"cannot make {path}: {e.strerror}"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    if st.st_uid != os.getuid():
        return f"{path} is owned by uid {st.st_uid}, not by this user ({os.getuid()})"
    if st.st_mode & 0o022:
        return f"{path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def _lock(path: str) -> Optional[int]:
    """Returns an fd holding an exclusive flock on `path`, or None after _LOCK_TIMEOUT_S."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + _LOCK_TIMEOUT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN) or time.monotonic() > deadline:
                os.close(fd)
                return None
        time.sleep(0.02)


def _idle_exit() -> str:
    value = os.environ.get("IMGSINK_IDLE_EXIT", str(_DEFAULT_IDLE_EXIT_S))
    if not value.isdigit():
        say_once("idle-exit", "imgsink: IMGSINK_IDLE_EXIT=%r is not a whole number of seconds; "
                 "using %d", value, _DEFAULT_IDLE_EXIT_S)
        return str(_DEFAULT_IDLE_EXIT_S)
    return value


def _refuse(why: str) -> bool:
    say_once("autostart", "imgsink: cannot start imgsinkd: %s (IMGSINK_AUTOSTART=0 stops "
             "trying)", why)
    return False


def start(endpoint: str) -> bool:
    """Starts imgsinkd listening at `endpoint` (an ipc:// endpoint in a per-user directory)
    unless one listens there already.  Returns True iff one listens there on return; else
    False after one warning (the caller falls back)."""
    sock = endpoint[len("ipc://"):] if endpoint.startswith("ipc://") else ""
    if not sock.startswith("/"):
        return _refuse(f"{endpoint} is not an ipc:// path")
    sock_dir = os.path.dirname(sock)
    why = _private_dir(sock_dir)
    if why:
        return _refuse(why)
    try:
        fd = _lock(os.path.join(sock_dir, "imgsinkd.lock"))
    except OSError as e:
        return _refuse(f"cannot open the lock file in {sock_dir}: {e.strerror}")
    if fd is None:
        return _refuse(f"another process held {sock_dir}/imgsinkd.lock for "
                       f"{_LOCK_TIMEOUT_S:.0f} s")
    try:
        if reachable([endpoint]):  # another process started it while we waited for the lock
            return True
        return _spawn(endpoint, sock_dir)
    finally:
        os.close(fd)


def _spawn(endpoint: str, sock_dir: str) -> bool:
    binary = _daemon_binary()
    if not binary:
        # Not installed: the caller's fallback warning is the one the user needs.
        log.info("imgsink: no imgsinkd to start ($IMGSINK_DAEMON, next to the package, on PATH)")
        return False
    state = _state_dir()
    journal = os.path.join(state, "journal")
    root = os.path.join(state, "out")
    try:
        os.makedirs(state, mode=0o700, exist_ok=True)
        os.makedirs(journal, mode=0o700, exist_ok=True)
        os.makedirs(root, mode=0o700, exist_ok=True)
        log_file = open(os.path.join(state, "imgsinkd.log"), "ab")
    except OSError as e:
        return _refuse(f"cannot make {state}: {e.strerror}")
    # The user's directories get exactly the files torchvision would write: no manifest.jsonl.
    # fsync per file rather than syncfs: a checkpoint being saved on the same filesystem must
    # not hold up the images (as in the packaged service's config).
    # --tensorboard-logdir turns imgsink.SummaryWriter's saves on; in caller mode their run
    # directories resolve against the caller's cwd like every path (runs/... as torch's would).
    args = [binary, "--listen", endpoint, "--paths", "caller", "--output-root", root,
            "--journal-dir", journal, "--manifest", "off", "--output-sync", "file",
            "--idle-exit", _idle_exit(), "--tensorboard-logdir", root]
    # sh starts the daemon in the background and exits at once: the daemon is re-parented (no
    # zombie of ours when it exits), and `echo $!` tells its pid.
    try:
        with log_file:
            sh = subprocess.run(["/bin/sh", "-c", '"$0" "$@" </dev/null >/dev/null & echo $!'] +
                                args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=log_file, start_new_session=True, timeout=_START_TIMEOUT_S)
        pid = int(sh.stdout.decode().strip())
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        return _refuse(f"cannot run {binary}: {e}")
    with open(os.path.join(sock_dir, "imgsinkd.pid"), "w") as f:
        f.write(f"{pid}\n")
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if reachable([endpoint]):
            say_once("autostarted", "imgsink: started imgsinkd (pid %d) listening at %s, "
                     "log %s; it writes each image where torchvision would (relative to the "
                     "caller's working directory) and exits after %s s idle", pid, endpoint,
                     os.path.join(state, "imgsinkd.log"), _idle_exit())
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return _refuse(f"{binary} exited at start; see {state}/imgsinkd.log")
        time.sleep(0.02)
    return _refuse(f"{binary} (pid {pid}) did not listen at {endpoint} within "
                   f"{_START_TIMEOUT_S:.0f} s; see {state}/imgsinkd.log")
