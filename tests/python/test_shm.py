"""The shared-memory hand-off (PROTOCOL.md "Shared-memory hand-off", imgsink/_shm.py) against a
real imgsinkd: files byte-identical to the frame path's, the fallbacks (tcp, --shm off,
shared_memory=False), the credit rules on the raw protocol, and no segment left behind when
either side is killed with SIGKILL."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq

import imgsink
from imgsink import _protocol, _shm

from conftest import SOURCE_DIR, imgsinkd_path, real_daemon

import contextlib

pytestmark = pytest.mark.skipif(imgsinkd_path() is None, reason="imgsinkd is not built")


def _segments_mapped(pid: int) -> int:
    """Mappings of imgsink memfds in process ``pid`` (the daemon closes the fd after mapping)."""
    try:
        text = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return 0
    return sum("memfd:imgsink-shm" in line for line in text.splitlines())


def _memfds_open(pid: int) -> int:
    n = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            n += "memfd:imgsink-shm" in os.readlink(fd)
        except OSError:
            pass
    return n


def _wait(cond, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def _dev_shm() -> set:
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


@contextlib.contextmanager
def _daemon(root, args=()):
    d = real_daemon(root, args)
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def root():
    d = tempfile.mkdtemp(prefix="imgsink-shm-", dir="/tmp")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def _batch(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, size=(6, 3, 40, 48)).astype(np.float32)


def _link(client: imgsink.Client):
    return client._conn._links[0]


def test_files_are_byte_identical_to_the_frame_path(root):
    batch = _batch(1)
    with _daemon(root) as d:
        assert Path(str(d.socket_path) + ".shm").exists()
        with imgsink.Client(d.endpoint, timeout=30) as shm_client, \
                imgsink.Client(d.endpoint, timeout=30, shared_memory=False) as frame_client:
            for name, client in (("shm", shm_client), ("frames", frame_client)):
                jobs = [client.save_images(batch, f"{name}/e{{index}}.png", normalize=True,
                                           value_range=(-1, 1)),
                        client.save_image(batch, f"{name}/grid.jpg", normalize=True),
                        client.save_image(batch[0], f"{name}/one.webp")]
                for job in jobs:
                    job.result(timeout=30)
            assert _link(shm_client).shm_token is not None    # registered ...
            assert _segments_mapped(d.proc.pid) == 1           # ... and mapped by the daemon
            assert _link(frame_client).shm_token is None
            assert frame_client._conn.arena is None
            # Every region came back at its done event.
            arena = shm_client._conn.arena
            assert arena.free_bytes() == arena.size
        names = sorted(p.name for p in (d.out / "shm").iterdir())
        assert len(names) == 8
        for name in names:
            assert (d.out / "shm" / name).read_bytes() == (d.out / "frames" / name).read_bytes()
        # The clients closed: the daemon dropped its mapping.
        assert _wait(lambda: _segments_mapped(d.proc.pid) == 0)


def test_the_caller_may_change_its_tensor_at_once(root):
    """copy=True's rule is unchanged: the copy (now in the arena) is what gets written."""
    batch = _batch(2)
    expected = batch.copy()
    with _daemon(root) as d, imgsink.Client(d.endpoint, timeout=30) as client:
        job = client.save_image(batch, "a.png", normalize=True)
        batch[:] = 0.0
        job.result(timeout=30)
        with imgsink.Client(d.endpoint, timeout=30, shared_memory=False) as ref:
            ref.save_image(expected, "b.png", normalize=True).result(timeout=30)
        assert (d.out / "a.png").read_bytes() == (d.out / "b.png").read_bytes()


def test_tcp_and_shm_off_use_the_frames(root):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tcp = f"tcp://127.0.0.1:{port}"
    with _daemon(root, ["--shm", "off", "--listen", tcp, "--insecure-tcp"]) as d:
        assert not Path(str(d.socket_path) + ".shm").exists()
        for endpoint in (d.endpoint, tcp):
            with imgsink.Client(endpoint, timeout=30) as client:
                client.save_image(_batch(3), f"x{port}.png").result(timeout=30)
                assert _link(client).shm_token is None
                if endpoint == tcp:
                    assert client._conn.arena is None  # no same-host endpoint at all
        assert _segments_mapped(d.proc.pid) == 0


def _raw(d, arena):
    """A DEALER socket and a registered arena: the protocol by hand."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 20000)
    sock.connect(d.endpoint)
    side, token = _shm.hello(str(d.socket_path) + ".shm", arena.fd)
    return sock, side, token


def _save_header(rid, shape, shm=None, **extra):
    header = _protocol.encode_client(_protocol.save_request(
        rid, dtype="float32", shape=list(shape), layout="NCHW", path=f"raw/{rid}.png", **extra))
    return header if shm is None else _protocol.with_shm(header, *shm)


def _ask(sock, frames):
    """Sends a request; returns its reply (done events of earlier saves are skipped)."""
    rid = msgpack.unpackb(frames[0], raw=False)["id"]
    sock.send_multipart(frames)
    while True:
        msg = msgpack.unpackb(sock.recv(), raw=False)
        if msg["kind"] == "reply" and msg["id"] == rid:
            return msg


def test_raw_protocol_credit_and_bounds(root):
    shape = (2, 3, 32, 32)
    nbytes = int(np.prod(shape)) * 4
    arena = _shm.Arena(1 << 20)
    region = arena.take(nbytes)
    region.view[:] = _batch(4)[:2, :, :32, :32].reshape(-1).view(np.uint8)
    with _daemon(root, ["--memory-budget", "4M"]) as d:
        sock, side, token = _raw(d, arena)
        try:
            # Spending works as with frames: no credit, no save.
            r = _ask(sock, [_save_header(1, shape, (token, region.offset)), b""])
            assert (r["ok"], r["code"]) == (False, "no_credit")
            # A credit request over the memory budget is refused whatever the hand-off.
            r = _ask(sock, [_protocol.encode_client(
                _protocol.credit_request(2, 8 << 20, "error", 0))])
            assert (r["ok"], r["code"]) == (False, "too_large")
            r = _ask(sock, [_protocol.encode_client(
                _protocol.credit_request(3, 4 * nbytes, "block", 5000))])
            assert r["ok"] and r["credit"] == 4 * nbytes
            # Outside the segment, a stranger's token, bytes in the frame too: refused, and
            # the refusals cost no credit.
            r = _ask(sock, [_save_header(4, shape, (token, arena.size - nbytes + 1)), b""])
            assert (r["ok"], r["code"]) == (False, "bad_option")
            r = _ask(sock, [_save_header(5, shape, (token ^ 1, 0)), b""])
            assert (r["ok"], r["code"]) == (False, "bad_option")
            r = _ask(sock, [_save_header(6, shape, (token, region.offset)), b"x" * nbytes])
            assert (r["ok"], r["code"]) == (False, "bad_message")
            for rid in (7, 8, 9, 10):  # exactly the 4 saves the credit covers
                r = _ask(sock, [_save_header(rid, shape, (token, region.offset)), b""])
                assert r["ok"], r
            r = _ask(sock, [_save_header(11, shape, (token, region.offset)), b""])
            assert (r["ok"], r["code"]) == (False, "no_credit")
            d.wait_idle()
            with imgsink.Client(d.endpoint, shared_memory=False, timeout=30) as ref:
                ref.save_image(region.view.view(np.float32).reshape(shape), "raw/ref.png") \
                    .result(timeout=30)
            for rid in (7, 8, 9, 10):
                assert (d.out / f"raw/{rid}.png").read_bytes() == \
                    (d.out / "raw/ref.png").read_bytes()
            counters = d.status()
            assert counters["memory_bytes"] == 0
        finally:
            sock.close()
            side.close()
    arena.close()


_CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    import imgsink
    c = imgsink.Client(sys.argv[1], timeout=30)
    c.save_image(np.zeros((2, 3, 16, 16), np.float32), "child.png").result(timeout=30)
    assert c._conn._links[0].shm_token is not None
    print("ready", flush=True)
    time.sleep(600)
""")


def test_kill_9_client_leaves_no_segment(root):
    shm_before = _dev_shm()
    with _daemon(root) as d:
        env = dict(os.environ, PYTHONPATH=os.path.join(SOURCE_DIR, "client", "python"))
        child = subprocess.Popen([sys.executable, "-c", _CHILD, d.endpoint], env=env,
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "ready"
            assert _segments_mapped(d.proc.pid) == 1
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        # The kernel closed the side connection: the daemon forgets and unmaps the segment.
        assert _wait(lambda: _segments_mapped(d.proc.pid) == 0)
        assert _memfds_open(d.proc.pid) == 0
        assert (d.out / "child.png").exists()
    assert _dev_shm() == shm_before  # memfds have no names: nothing to clean up


def test_kill_9_daemon_frees_the_regions_and_a_restart_registers_again(root):
    shm_before = _dev_shm()
    d = real_daemon(root, workers=1)
    client = imgsink.Client(d.endpoint, timeout=30)
    try:
        client.save_image(_batch(5), "before.png").result(timeout=30)
        link = _link(client)
        assert link.shm_token is not None
        first_token = link.shm_token
        arena = client._conn.arena
        # Slow jobs (PIL's PNG settings, one worker): their regions stay lent to the daemon
        # until their done events, which the kill prevents.
        big = np.random.default_rng(8).uniform(-1, 1, (16, 3, 256, 256)).astype(np.float32)
        jobs = [client.save_images(big, f"lost{i}_{{index}}.png", png_preset="pil")
                for i in range(3)]
        assert _wait(lambda: len(link.shm_lent) == 3, 30)  # sent, their done events not come
        d.kill()
        # The side connection ended: every region is ours again.
        assert _wait(lambda: link.shm_sock is None and arena.free_bytes() == arena.size)
        for job in jobs:
            if not job.done() or job.exception() is not None:
                with pytest.raises(imgsink.ImgsinkError):
                    job.result(timeout=30)
        # A new daemon on the same endpoint (it replays the journaled jobs): the client
        # registers its arena there too.
        d = real_daemon(root)
        client.save_image(_batch(7), "after.png").result(timeout=30)
        assert _wait(lambda: link.shm_token is not None)
        assert link.shm_token != first_token
        client.save_image(_batch(7), "after2.png").result(timeout=30)
        assert _segments_mapped(d.proc.pid) == 1
        assert (d.out / "after2.png").exists()
    finally:
        client.close()
        d.stop()
    assert _dev_shm() == shm_before


def test_a_forked_child_does_not_keep_the_parents_segment_registered(root):
    """DataLoader workers are forked from the training process: they must not hold its side
    connection open, or a killed parent's arena would stay mapped by the daemon."""
    with _daemon(root) as d:
        env = dict(os.environ, PYTHONPATH=os.path.join(SOURCE_DIR, "client", "python"))
        code = textwrap.dedent("""
            import os, sys, time
            import numpy as np
            import imgsink
            c = imgsink.Client(sys.argv[1], timeout=30)
            c.save_image(np.zeros((2, 3, 16, 16), np.float32), "p.png").result(timeout=30)
            if os.fork() == 0:
                time.sleep(600)
            print("ready", flush=True)
            time.sleep(600)
        """)
        parent = subprocess.Popen([sys.executable, "-c", code, d.endpoint], env=env,
                                  stdout=subprocess.PIPE, text=True, start_new_session=True)
        try:
            assert parent.stdout.readline().strip() == "ready"
            assert _segments_mapped(d.proc.pid) == 1
            parent.send_signal(signal.SIGKILL)  # the child lives on
            parent.wait()
            assert _wait(lambda: _segments_mapped(d.proc.pid) == 0)
        finally:
            os.killpg(parent.pid, signal.SIGKILL)


def test_a_save_refused_for_credit_keeps_its_region_when_the_daemon_goes():
    """A save sent as a region and refused ``no_credit`` waits to be sent again with its bytes
    still in that region.  If the daemon's side connection ends meanwhile, the regions lent to
    it go back to the arena -- but not this one: a later save would take it and overwrite the
    bytes the first one is about to send."""
    import socket
    import threading
    import types

    from imgsink._connection import Connection
    from imgsink._job import Job
    from imgsink._link import Link
    from imgsink._request import Request
    from imgsink._shm import Arena

    conn = object.__new__(Connection)  # only the bookkeeping under test, no sockets or thread
    conn._cond = threading.Condition()
    conn._poller = types.SimpleNamespace(unregister=lambda fd: None)
    arena = Arena(1 << 20)
    region = arena.take(4096)
    link = Link("ipc:///nonexistent/imgsink.sock", 0)
    ours, daemons = socket.socketpair()
    link.shm_sock, link.shm_token = ours, 5
    req = Request(request_id=3, header=b"h", future=Job("x.png", 3), nbytes=4096, pool_buf=region)
    with conn._cond:
        conn._lend_locked(link, req, True)
    link.waiting_reply[3] = req
    conn._dispatch(link, {"v": 1, "kind": "reply", "id": 3, "ok": False, "code": "no_credit",
                          "message": "credit taken back"})
    assert link.outbox[0] is req  # to be sent again, first in line
    free = arena.free_bytes()
    daemons.close()  # the daemon is gone
    conn._shm_check(link)
    assert link.shm_sock is None
    assert arena.free_bytes() == free
    assert req.pool_buf is region and not req.shm
    assert arena.take(arena.free_bytes()) is not None  # and every other byte is still free
