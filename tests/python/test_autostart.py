"""Auto-start of a per-user imgsinkd by the default client (imgsink/_autostart.py), and the
daemon's --idle-exit.  Real binaries; XDG_RUNTIME_DIR and XDG_STATE_HOME point into a temp dir,
so nothing touches the user's own directories."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

import imgsink

from conftest import imgsinkd_path
from dropin_helpers import SOURCE, HERE, file_pixels, torchvision_pixels

needs_daemon = pytest.mark.skipif(imgsinkd_path() is None, reason="imgsinkd is not built")

# Saves one (3, 24, 24) image of rank `argv[1]`'s random pixels as out/<rank>.png, at the
# wall-clock time START_AT if given (so that all ranks find no daemon at the same moment).
_CHILD = (
    "import os, sys, time, numpy as np, imgsink\n"
    "time.sleep(max(0.0, float(os.environ.get('START_AT', '0')) - time.time()))\n"
    "rank = int(sys.argv[1])\n"
    "img = np.random.default_rng(rank).random((3, 24, 24), dtype=np.float32)\n"
    "imgsink.save_image(img, f'out/{rank}.png')\n")


def _image(rank: int) -> np.ndarray:
    return np.random.default_rng(rank).random((3, 24, 24), dtype=np.float32)


class Sandbox:
    """Temp XDG dirs, an env for children, and the cleanup of whatever daemon they started."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.runtime = os.path.join(root, "run")
        self.state = os.path.join(root, "state")
        self.work = os.path.join(root, "work")
        os.mkdir(self.runtime, 0o700)
        os.mkdir(self.work)
        self.sock_dir = os.path.join(self.runtime, "imgsink")
        self.env = {k: v for k, v in os.environ.items() if k != "IMGSINK_ENDPOINT"}
        self.env.update(XDG_RUNTIME_DIR=self.runtime, XDG_STATE_HOME=self.state,
                        IMGSINK_DAEMON=imgsinkd_path() or "", IMGSINK_AUTOSTART="1",
                        IMGSINK_IDLE_EXIT="60", PYTHONDONTWRITEBYTECODE="1",
                        PYTHONPATH=os.pathsep.join([os.path.join(SOURCE, "client", "python"),
                                                    HERE]))

    def spawn(self, rank: int, **env: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", _CHILD, str(rank)], cwd=self.work,
                                env=dict(self.env, **env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def daemons(self) -> list:
        """Pids of the live imgsinkd processes listening in this sandbox."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
                with open(f"/proc/{entry}/stat") as f:
                    zombie = f.read().rpartition(")")[2].split()[0] == "Z"
            except OSError:
                continue
            if not zombie and os.path.basename(argv[0]) == b"imgsinkd" and \
                    any(self.sock_dir.encode() in a for a in argv):
                pids.append(int(entry))
        return pids

    def log(self) -> str:
        try:
            with open(os.path.join(self.state, "imgsink", "imgsinkd.log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def kill_daemons(self) -> None:
        pids = set(self.daemons())
        try:
            with open(os.path.join(self.sock_dir, "imgsinkd.pid")) as f:
                pids.add(int(f.read()))
        except (OSError, ValueError):
            pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def sandbox(short_tmp):
    box = Sandbox(short_tmp)
    yield box
    box.kill_daemons()


@needs_daemon
def test_eight_processes_at_once_start_exactly_one_daemon(sandbox):
    start_at = str(time.time() + 3)  # past the 8 imports, even on a loaded machine
    children = [sandbox.spawn(rank, START_AT=start_at) for rank in range(8)]
    for child in children:
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert "no imgsinkd listens" not in err, err  # written by the daemon, not in-process
    # One was started: none other ran and failed for the socket or journal being in use.
    assert sandbox.log().count(" listening on ") == 1, sandbox.log()
    assert "cannot start" not in sandbox.log(), sandbox.log()
    with open(os.path.join(sandbox.sock_dir, "imgsinkd.pid")) as f:
        assert sandbox.daemons() == [int(f.read())]
    for rank in range(8):
        path = os.path.join(sandbox.work, "out", f"{rank}.png")
        np.testing.assert_array_equal(file_pixels(path), torchvision_pixels(_image(rank)))
    # All 8 went through the daemon, and the working directory holds only torchvision's files.
    client = imgsink.Client(f"ipc://{sandbox.sock_dir}/imgsinkd.sock", timeout=10.0)
    try:
        assert client.stats()["written"] == 8
    finally:
        client.close(timeout=5)
    assert sorted(os.listdir(sandbox.work)) == ["out"]
    mode = stat.S_IMODE(os.stat(sandbox.sock_dir).st_mode)
    assert mode == 0o700, oct(mode)
    assert os.path.isdir(os.path.join(sandbox.state, "imgsink", "journal"))


@needs_daemon
def test_processes_in_other_directories_share_the_daemon_and_write_where_torchvision_would(
        sandbox):
    """The auto-started daemon runs with --paths caller: a second script working in `other`
    (started after the first started the daemon) writes through the same daemon, and its
    relative path lands in `other`; a chdir inside one process moves its later saves, and
    absolute and '..' paths mean what they mean to open(2).  Nothing is written in-process."""
    first = sandbox.spawn(0)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    other = os.path.join(sandbox.root, "other")
    os.mkdir(other)
    absolute = os.path.join(sandbox.root, "abs", "3.png")
    script = _CHILD + (
        "os.makedirs('sub', exist_ok=True)\n"
        "os.chdir('sub')\n"
        "imgsink.save_image(np.random.default_rng(2).random((3, 24, 24), dtype=np.float32), "
        "'../up/2.png')\n"
        "imgsink.save_image(np.random.default_rng(3).random((3, 24, 24), dtype=np.float32), "
        "sys.argv[2])\n"
        "imgsink.save_image(np.random.default_rng(4).random((3, 24, 24), dtype=np.float32), "
        "'here/4.png')\n")
    second = subprocess.run([sys.executable, "-c", script, "1", absolute], cwd=other,
                            env=sandbox.env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert "in this process" not in second.stderr, second.stderr
    assert "no imgsinkd listens" not in second.stderr, second.stderr
    expected = {os.path.join(sandbox.work, "out", "0.png"): 0,
                os.path.join(other, "out", "1.png"): 1,
                os.path.join(other, "up", "2.png"): 2,
                absolute: 3,
                os.path.join(other, "sub", "here", "4.png"): 4}
    for path, rank in expected.items():
        np.testing.assert_array_equal(file_pixels(path), torchvision_pixels(_image(rank)))
    assert not os.path.exists(os.path.join(sandbox.work, "out", "1.png"))
    # Not beneath the daemon's own output root either (where a daemon ignoring cwd would write).
    state_out = os.path.join(sandbox.state, "imgsink", "out")
    assert not os.listdir(state_out), os.listdir(state_out)
    # Every save went through the one daemon.
    assert len(sandbox.daemons()) == 1
    client = imgsink.Client(f"ipc://{sandbox.sock_dir}/imgsinkd.sock", timeout=10.0)
    try:
        assert client.stats()["written"] == 5
    finally:
        client.close(timeout=5)


@needs_daemon
def test_a_group_writable_socket_dir_is_refused_and_saves_fall_back(sandbox):
    os.mkdir(sandbox.sock_dir)
    os.chmod(sandbox.sock_dir, 0o770)
    child = sandbox.spawn(0)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert "writable by group or others" in err, err
    assert "no imgsinkd listens" in err, err
    assert sandbox.daemons() == []
    np.testing.assert_array_equal(file_pixels(os.path.join(sandbox.work, "out", "0.png")),
                                  torchvision_pixels(_image(0)))


@needs_daemon
def test_autostart_off_starts_nothing_and_saves_fall_back(sandbox):
    child = sandbox.spawn(0, IMGSINK_AUTOSTART="0")
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert "no imgsinkd listens" in err, err
    assert sandbox.daemons() == []
    assert not os.path.exists(sandbox.sock_dir)
    np.testing.assert_array_equal(file_pixels(os.path.join(sandbox.work, "out", "0.png")),
                                  torchvision_pixels(_image(0)))


@needs_daemon
def test_the_started_daemon_exits_when_idle_and_the_next_save_starts_another(sandbox):
    """One process, as in training with long gaps between saves: save, wait until the daemon
    idled out (IMGSINK_IDLE_EXIT=1), save again: a second daemon writes it."""
    script = (
        "import os, sys, time, numpy as np, imgsink\n"
        "img = lambda r: np.random.default_rng(r).random((3, 24, 24), dtype=np.float32)\n"
        "imgsink.save_image(img(0), 'out/0.png').result(timeout=10)\n"
        "pid = int(open(sys.argv[1]).read())\n"
        "deadline = time.monotonic() + 10\n"
        "while os.path.exists(f'/proc/{pid}') and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "assert not os.path.exists(f'/proc/{pid}'), 'the daemon did not exit when idle'\n"
        "time.sleep(5)  # past the client's re-probe interval\n"
        "imgsink.save_image(img(1), 'out/1.png').result(timeout=20)\n")
    out = subprocess.run([sys.executable, "-c", script,
                          os.path.join(sandbox.sock_dir, "imgsinkd.pid")], cwd=sandbox.work,
                         env=dict(sandbox.env, IMGSINK_IDLE_EXIT="1"), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr + sandbox.log()
    assert "(--idle-exit): draining" in sandbox.log()
    assert sandbox.log().count(" listening on ") == 2, sandbox.log()
    assert "no imgsinkd listens" not in out.stderr, out.stderr
    for rank in range(2):
        np.testing.assert_array_equal(
            file_pixels(os.path.join(sandbox.work, "out", f"{rank}.png")),
            torchvision_pixels(_image(rank)))


@needs_daemon
def test_idle_exit_waits_for_a_job_in_flight(short_tmp):
    """A daemon with --idle-exit 1 whose only job waits for a blocked output (a full disk)
    stays up while the job is in flight, then drains and exits 0 once it ended and 1 s
    passed."""
    import imgsink
    root = os.path.join(short_tmp, "out")
    blocked = os.path.join(root, "blocked")
    os.makedirs(blocked)
    # A condition that can pass, so the job waits (a file in the way would fail it at once):
    # as root, a full tmpfs; otherwise a directory we may not write to.
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", blocked], capture_output=True).returncode == 0
    filler = os.path.join(blocked, "filler")
    if mounted:
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass  # ENOSPC: full
        finally:
            os.close(fd)
    else:
        os.chmod(blocked, 0o555)
    endpoint = f"ipc://{short_tmp}/d.sock"
    daemon = subprocess.Popen(
        [imgsinkd_path(), "--listen", endpoint, "--output-root", root, "--journal", "off",
         "--idle-exit", "1", "--write-tries", "1000", "--retry-max-delay-ms", "100"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        client = imgsink.Client(endpoint, timeout=10)
        try:
            job = client.save_image(_image(0), "blocked/0.png")
            time.sleep(2.5)  # well past the idle time, the job still retrying
            assert daemon.poll() is None, "exited with a job in flight"
            if mounted:
                os.remove(filler)
            else:
                os.chmod(blocked, 0o755)
            job.result(timeout=10)
        finally:
            client.close()
        start = time.monotonic()
        assert daemon.wait(timeout=10) == 0
        assert time.monotonic() - start > 0.5  # waited for the idle time after the job
        assert "(--idle-exit): draining" in daemon.stderr.read()
        np.testing.assert_array_equal(file_pixels(os.path.join(root, "blocked", "0.png")),
                                      torchvision_pixels(_image(0)))
    finally:
        if daemon.poll() is None:
            daemon.kill()
        daemon.wait()
        if mounted:
            subprocess.run(["umount", "-l", blocked], capture_output=True)


@needs_daemon
def test_summary_writer_with_one_import_changed_writes_runs_in_the_working_directory(sandbox):
    # The TensorBoard drop-in through the auto-started daemon: SummaryWriter() with torch's
    # default log_dir puts its event file where torch's writer would, runs/<date>_<host>/.
    script = ("import torch, imgsink\n"
              "w = imgsink.SummaryWriter()\n"
              "w.add_images('samples', torch.ones(4, 3, 8, 8) / 2, 3, walltime=7.0)\n"
              "w.close()\n")
    p = subprocess.run([sys.executable, "-c", script], cwd=sandbox.work, env=sandbox.env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr + sandbox.log()
    import tb_events
    (run,) = os.listdir(os.path.join(sandbox.work, "runs"))
    ((tag, step, wall, pixels, cs),) = tb_events.image_events(
        os.path.join(sandbox.work, "runs", run))
    assert (tag, step, wall, cs) == ("samples", 3, 7.0, 3)
    assert pixels.shape == (8, 32, 3) and (pixels == 127).all()  # 0.5 x 255 = 127.5: truncated
