"""imgsinkd as a systemd service sees it: config file, sd_notify, watchdog, SIGHUP reload."""
import os
import signal
import socket
import stat
import subprocess
import time

import numpy as np

from daemon_process import DaemonProcess, bin_dir, free_port
from raw_sender import RawSender, save_header


def imgsinkd(*args):
    return subprocess.run([str(bin_dir() / "imgsinkd"), *args], capture_output=True, text=True,
                          timeout=30)


def test_config_file_then_flags_win(tmp_path):
    cfg = tmp_path / "d.toml"
    cfg.write_text('output_root = "/srv/out"\nmemory_budget = "64M"\n'
                   'listen = ["ipc:///a.sock", "tcp://127.0.0.1:5555"]\njournal = false\n'
                   'insecure_tcp = true\n')
    out = imgsinkd("--config", str(cfg), "--check-config", "--output-root", "/cli")
    assert out.returncode == 0, out.stderr
    assert 'output_root = "/cli"' in out.stdout
    assert "memory_budget = 67108864" in out.stdout
    assert 'listen = ["ipc:///a.sock", "tcp://127.0.0.1:5555"]' in out.stdout
    assert 'journal = "off"' in out.stdout


def test_config_errors_name_file_line_and_key(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('workers = 2\nworkres = 3\n')
    out = imgsinkd("--config", str(cfg))
    assert out.returncode == 2
    assert "bad.toml:2" in out.stderr and "workres" in out.stderr
    cfg.write_text('workers = "many"\n')
    out = imgsinkd("--config", str(cfg), "--check-config")
    assert out.returncode == 2 and "workers" in out.stderr
    out = imgsinkd("--config", str(tmp_path / "missing.toml"))
    assert out.returncode == 2 and "missing.toml" in out.stderr


class NotifySocket:
    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.seen = []

    def wait_for(self, needle, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.seen.append(msg)
            if needle in msg.split("\n"):
                return msg
        raise AssertionError(f"no {needle!r} from the daemon; saw {self.seen}")


def test_notify_ready_watchdog_reload_stopping(tmp_path):
    notify = NotifySocket(tmp_path / "notify")
    cfg = tmp_path / "d.toml"
    cfg.write_text("memory_budget = 1000000\nworkers = 2\n")
    env = dict(os.environ, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="400000")
    d = DaemonProcess(tmp_path, ["--config", str(cfg)], env=env, workers=None).start()
    try:
        notify.wait_for("READY=1")
        assert any(line.startswith("STATUS=") for line in notify.wait_for("WATCHDOG=1").split("\n"))
        assert d.status()["workers"] == 2
        cfg.write_text("memory_budget = 2000000\nworkers = 1\n")
        d.proc.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")
        assert d.status()["memory_budget"] == 2000000
        assert d.status()["workers"] == 1
        cfg.write_text("memory_budget = 3000000\njournal = \"off\"\n")
        d.proc.send_signal(signal.SIGHUP)
        notify.wait_for("READY=1")
        assert d.status()["memory_budget"] == 2000000, "a reload with a restart-only change applies nothing"
        assert "need a restart" in d.log()
    finally:
        assert d.stop() == 0
    notify.wait_for("STOPPING=1")


def test_reload_refuses_a_journal_budget_under_the_running_segments(tmp_path):
    """Issue 12 row 7: the segments are sized at start (64 MiB for 8G), so a reload to 4M
    would leave an idle daemon answering busy forever; it is refused, naming the least."""
    notify = NotifySocket(tmp_path / "notify")
    cfg = tmp_path / "d.toml"
    cfg.write_text('journal_budget = "8G"\n')
    env = dict(os.environ, NOTIFY_SOCKET=notify.path)
    d = DaemonProcess(tmp_path, ["--config", str(cfg)], env=env).start()
    try:
        notify.wait_for("READY=1")
        assert d.status()["journal_budget"] == 8 << 30
        cfg.write_text('journal_budget = "4M"\n')
        d.proc.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")
        assert d.status()["journal_budget"] == 8 << 30, "the lowered budget was applied"
        assert "journal_budget 4194304 is below 268435456" in d.log()
        cfg.write_text('journal_budget = "256M"\n')  # four 64 MiB segments: taken
        d.proc.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")
        assert d.status()["journal_budget"] == 256 << 20
    finally:
        assert d.stop() == 0


def test_ipc_socket_mode(tmp_path):
    with DaemonProcess(tmp_path, ["--ipc-mode", "0660"]) as d:
        assert stat.S_IMODE(os.stat(d.socket_path).st_mode) == 0o660


def socket_activated(tmp_path, listen, *daemon_args):
    """A DaemonProcess started the way imgsinkd.socket starts it: systemd-socket-activate
    listens on `listen` and, at the first connection, execs imgsinkd with the listening fd
    (LISTEN_FDS=1).  The daemon gets no --listen."""
    d = DaemonProcess(tmp_path, list(daemon_args))
    i = d.args.index("--listen")
    del d.args[i:i + 2]
    d.args = ["systemd-socket-activate", "-l", listen] + d.args
    return d


def test_socket_activation_serves_the_inherited_ipc_socket(tmp_path):
    d = socket_activated(tmp_path, str(tmp_path / "imgsinkd.sock"))
    with d:  # start() connects, which makes systemd-socket-activate exec the daemon
        sender = RawSender(d.endpoint)
        img = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
        assert sender.save(save_header("uint8", img.shape, "CHW", "act.png"), img.tobytes())["ok"]
        assert d.wait_idle()["written"] == 1
        assert "1 listening sockets inherited" in d.log()
        assert f"listening on ipc://{tmp_path}/imgsinkd.sock" in d.log()
        assert not (tmp_path / "default.sock").exists()
    # The socket file belongs to the service manager: the daemon does not unlink it.
    assert (tmp_path / "imgsinkd.sock").is_socket()
    assert (d.output_root / "act.png").exists()


def test_socket_activation_of_tcp_needs_curve(tmp_path):
    port = free_port()
    d = socket_activated(tmp_path, f"127.0.0.1:{port}")
    d.workdir.mkdir(parents=True, exist_ok=True)
    with open(d.log_path, "ab") as log:
        proc = subprocess.Popen(d.args, stdout=log, stderr=subprocess.STDOUT, cwd=d.workdir)
    try:
        deadline = time.monotonic() + 10
        while True:  # the connection makes the launcher exec imgsinkd, once it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, d.log()
                time.sleep(0.05)
        assert proc.wait(20) == 2
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "tcp:// endpoints need CURVE" in d.log()


def test_start_timeout_is_extended_for_journal_recovery(tmp_path):
    with DaemonProcess(tmp_path) as d:  # leaves a journal segment behind
        img = np.zeros((3, 4, 4), dtype=np.uint8)
        assert RawSender(d.endpoint).save(save_header("uint8", img.shape, "CHW", "j.png"),
                                          img.tobytes())["ok"]
    notify = NotifySocket(tmp_path / "notify")
    env = dict(os.environ, NOTIFY_SOCKET=notify.path)
    with DaemonProcess(tmp_path, env=env):
        notify.wait_for("READY=1")
    extend = [line for msg in notify.seen for line in msg.split("\n")
              if line.startswith("EXTEND_TIMEOUT_USEC=")]
    assert extend, notify.seen
    assert int(extend[0].split("=")[1]) >= 60_000_000
    first_extend = next(i for i, m in enumerate(notify.seen) if "EXTEND_TIMEOUT_USEC=" in m)
    first_ready = next(i for i, m in enumerate(notify.seen) if "READY=1" in m.split("\n"))
    assert first_extend < first_ready
