"""Helpers of the S3 sink's tests: S3Server (s3rver through s3rver_launcher.js, stoppable and
restartable on the same port and data), a botocore client, a fault-injecting HTTP proxy, and
imgsinkd with an s3:// output (DaemonProcess from tests/integration)."""
from __future__ import annotations

import http.client
import os
import random
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
KEY = SECRET = "S3RVER"  # s3rver's built-in key pair (it checks SigV4 signatures)


def s3rver_installed() -> bool:
    return (HERE / "node_modules" / "s3rver" / "package.json").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """s3rver on 127.0.0.1; stop() and start() again keep the port and the stored objects."""

    def __init__(self, directory: Path, buckets: List[str], port: int = 0):
        self.directory = Path(directory)
        self.buckets = buckets
        self.port = port or free_port()
        self.proc: Optional[subprocess.Popen] = None
        self._client = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["node", str(HERE / "s3rver_launcher.js"), str(self.directory), str(self.port)] +
            self.buckets, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("port "):
            self.proc.kill()
            raise RuntimeError(f"s3rver did not start: {line} {self.proc.stderr.read()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def client(self):
        if self._client is None:
            import botocore.session
            from botocore.config import Config
            self._client = botocore.session.get_session().create_client(
                "s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=KEY,
                aws_secret_access_key=SECRET,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        return self._client

    def list(self, bucket: str, prefix: str = "") -> Dict[str, int]:
        """Every key under `prefix` and its size."""
        out: Dict[str, int] = {}
        kwargs = {"Bucket": bucket, "Prefix": prefix}
        while True:
            r = self.client().list_objects_v2(**kwargs)
            for o in r.get("Contents", []):
                out[o["Key"]] = o["Size"]
            if not r.get("IsTruncated"):
                return out
            kwargs["ContinuationToken"] = r["NextContinuationToken"]

    def get(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def open_uploads(self, bucket: str) -> List[str]:
        """Multipart uploads begun and neither completed nor aborted (s3rver keeps each in a
        directory of <data>/<bucket>/._S3rver_uploads)."""
        out = []
        for d in (self.directory / bucket).glob("*._S3rver_uploads"):
            if d.is_dir():
                out += [p.name for p in d.iterdir() if p.is_dir()]
        return out


def s3_env(server_url: str) -> dict:
    env = dict(os.environ)
    env.update({"AWS_ENDPOINT_URL": server_url, "AWS_ACCESS_KEY_ID": KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1"})
    env.pop("AWS_SESSION_TOKEN", None)
    return env


class FaultProxy:
    """An HTTP proxy in front of `upstream` (host, port) that answers some requests itself:
    each with probability `p500` 500, `p503` 503 SlowDown, `pdrop` closes the connection
    without an answer; `delay` seconds before forwarding a request whose query has
    "partNumber" (a multipart part).  A PUT waits while `release` is clear (a stalled store).
    The Host header is forwarded unchanged, so signatures still verify upstream.  `counts`
    tallies what it did."""

    def __init__(self, upstream_port: int, p500=0.0, p503=0.0, pdrop=0.0, part_delay=0.0,
                 seed=1):
        self.upstream_port = upstream_port
        self.p500, self.p503, self.pdrop, self.part_delay = p500, p503, pdrop, part_delay
        self.rng = random.Random(seed)
        self.closed = False
        self.lock = threading.Lock()
        self.counts = {"forwarded": 0, "500": 0, "503": 0, "dropped": 0, "parts": 0, "creates": 0}
        self.release = threading.Event()
        self.release.set()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with proxy.lock:
                    r = proxy.rng.random()
                    action = ("500" if r < proxy.p500 else
                              "503" if r < proxy.p500 + proxy.p503 else
                              "dropped" if r < proxy.p500 + proxy.p503 + proxy.pdrop else
                              "forwarded")
                    proxy.counts[action] += 1
                    if "partNumber=" in self.path:
                        proxy.counts["parts"] += 1
                    if self.path.endswith("?uploads=") or self.path.endswith("?uploads"):
                        proxy.counts["creates"] += 1
                if action == "dropped":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if action in ("500", "503"):
                    text = (b"<Error><Code>SlowDown</Code></Error>" if action == "503"
                            else b"<Error><Code>InternalError</Code></Error>")
                    self.send_response(int(action))
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                    return
                if self.command == "PUT":
                    proxy.release.wait(120)
                if "partNumber=" in self.path and proxy.part_delay:
                    time.sleep(proxy.part_delay)
                    if proxy.closed:
                        # Its sender was killed meanwhile: S3 would refuse a part of an upload
                        # aborted since (NoSuchUpload), s3rver would quietly store it again.
                        self.close_connection = True
                        return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                conn.putrequest(self.command, self.path, skip_host=True,
                                skip_accept_encoding=True)
                for k, v in self.headers.items():
                    conn.putheader(k, v)
                conn.endheaders(body)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # resets are the point
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.closed = True
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def local_files(root: Path) -> Dict[str, bytes]:
    """Every file under `root` but the manifest, by its path relative to `root`."""
    out = {}
    for p in root.rglob("*"):
        if p.is_file() and p.name != "manifest.jsonl" and ".imgsink" not in p.name:
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out
