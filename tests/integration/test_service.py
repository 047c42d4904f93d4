"""imgsinkd as a systemd service sees it: config file, sd_notify, watchdog, SIGHUP reload."""
import os
import signal
import socket
import stat
import subprocess
import time

from daemon_process import DaemonProcess, bin_dir


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


def test_ipc_socket_mode(tmp_path):
    with DaemonProcess(tmp_path, ["--ipc-mode", "0660"]) as d:
        assert stat.S_IMODE(os.stat(d.socket_path).st_mode) == 0o660
