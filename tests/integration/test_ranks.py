"""Many ranks at once: half over ipc, half over CURVE-authenticated tcp; strangers are refused."""
import json
import subprocess
import sys

import zmq

from daemon_process import DaemonProcess, free_port
from test_durability import PUSHER, assert_file_has, events


def test_eight_ranks_ipc_and_curve_tcp(tmp_path):
    server_pub, server_sec = zmq.curve_keypair()
    clients = [zmq.curve_keypair() for _ in range(4)]
    (tmp_path / "server.key").write_bytes(server_sec + b"\n")
    keys = tmp_path / "allowed"
    keys.mkdir()
    for i, (pub, _) in enumerate(clients):
        (keys / f"rank{i}.pub").write_bytes(b"# rank %d\n" % i + pub + b"\n")
    tcp = f"tcp://127.0.0.1:{free_port()}"
    d = DaemonProcess(tmp_path, ["--listen", tcp, "--curve-secret-key", str(tmp_path / "server.key"),
                                 "--curve-allowed-keys", str(keys)]).start()
    procs, names = [], []
    for rank in range(8):
        name = f"rank{rank}"
        args = [sys.executable, PUSHER, "--name", name, "--log", str(tmp_path / f"{name}.log"),
                "--count", "12", "--reply-timeout", "20", "--meta", f"rank={rank},step=7"]
        if rank < 4:
            args += ["--endpoint", d.endpoint]
        else:
            pub, sec = clients[rank - 4]
            args += ["--endpoint", tcp, "--curve", ",".join(k.decode() for k in (server_pub, pub, sec))]
        procs.append(subprocess.Popen(args))
        names.append(name)
    stranger_pub, stranger_sec = zmq.curve_keypair()
    stranger = subprocess.Popen([sys.executable, PUSHER, "--name", "stranger", "--endpoint", tcp,
                                 "--log", str(tmp_path / "stranger.log"), "--count", "1",
                                 "--reply-timeout", "2", "--curve",
                                 ",".join(k.decode() for k in (server_pub, stranger_pub, stranger_sec))])
    plain = subprocess.Popen([sys.executable, PUSHER, "--name", "plain", "--endpoint", tcp,
                              "--log", str(tmp_path / "plain.log"), "--count", "1",
                              "--reply-timeout", "2"])
    for p in procs + [stranger, plain]:
        assert p.wait(300) == 0
    d.wait_idle()
    assert d.stop() == 0, d.log()

    manifest = [json.loads(line) for line in
                (d.output_root / "manifest.jsonl").read_text().splitlines()]
    manifest_paths = {m["path"]: m for m in manifest}
    for rank, name in enumerate(names):
        acked = [e for e in events(tmp_path, name) if e["event"] == "acked"]
        assert len(acked) == 12, f"{name}: {events(tmp_path, name)}"
        for e in acked:
            assert_file_has(d.output_root, name, e["seq"], (3, 32, 32))
            line = manifest_paths[f"{name}/{e['seq']:06d}.png"]
            assert line["meta"] == {"rank": str(rank), "step": "7"}
    for outsider in ("stranger", "plain"):
        assert [e["event"] for e in events(tmp_path, outsider)] == ["lost"], outsider
        assert not (d.output_root / outsider).exists()
    assert "key not allowed" in d.log()


def test_plain_tcp_needs_a_decision(tmp_path):
    d = DaemonProcess(tmp_path, ["--listen", f"tcp://127.0.0.1:{free_port()}"])
    proc = subprocess.run(d.args, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "--insecure-tcp" in proc.stderr
    with DaemonProcess(tmp_path / "ok", ["--listen", f"tcp://127.0.0.1:{free_port()}",
                                         "--insecure-tcp"]) as ok:
        assert ok.status() is not None
