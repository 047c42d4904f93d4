"""SigV4 as libcurl signs the S3 sink's requests (CURLOPT_AWS_SIGV4, with our
x-amz-content-sha256 and Content-MD5) checked against botocore's signer: s3_request_tool sends
each request with a fixed date, keys and payload to a loopback server that records exactly what
arrived; botocore's S3SigV4Auth then signs the same method, URL, headers and body, and the two
signatures must be equal."""
from __future__ import annotations

import base64
import hashlib
import os
import socket
import subprocess
import threading

import pytest

from conftest import bin_path

DATE = "20260102T030405Z"
KEY_ID, SECRET, TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "tok/en+=="


class CaptureServer:
    """Answers every HTTP request 200 (ETag "x") and records (request line, headers, body)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, body = data.split(b"\r\n\r\n", 1)
                lines = head.decode().split("\r\n")
                headers = {}
                for line in lines[1:]:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
                n = int(headers.get("content-length", 0))
                while len(body) < n:
                    body += conn.recv(65536)
                self.requests.append((lines[0], headers, body))
                conn.sendall(b"HTTP/1.1 200 OK\r\nETag: \"x\"\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")

    def close(self):
        self.sock.close()


def botocore_signature(method, url, headers, signed, body, region, token):
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method=method, url=url, data=body,
                     headers={k: v for k, v in headers.items() if k in signed})
    req.context["timestamp"] = DATE
    auth = S3SigV4Auth(Credentials(KEY_ID, SECRET, token), "s3", region)
    canonical = auth.canonical_request(req)
    return auth.signature(auth.string_to_sign(req, canonical), req), auth.signed_headers(
        auth.headers_to_sign(req))


CASES = [  # method, key, query, body, content type, addressing
    ("PUT", "runs/exp 1/img_0+a=b.png", "", b"\x89PNG" + bytes(range(256)) * 40, "image/png", "path"),
    ("PUT", "empty.png", "", b"", "", "path"),
    ("POST", "big/noise.png", "uploads=", b"", "image/png", "path"),
    ("PUT", "big/noise.png", "partNumber=2&uploadId=abc%2Fdef", b"part" * 5000, "", "path"),
    ("POST", "big/noise.png", "uploadId=abc", b"<CompleteMultipartUpload/>", "application/xml", "path"),
    ("DELETE", "big/noise.png", "uploadId=abc", b"", "", "path"),
    ("PUT", "vhost/\u00e9t\u00e9.jpg", "", b"jpeg bytes", "image/jpeg", "virtual"),
]


@pytest.mark.parametrize("token", [None, TOKEN])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[5]}-{i}" for i, c in enumerate(CASES)])
def test_curl_sigv4_equals_botocore(case, token, tmp_path):
    pytest.importorskip("botocore")
    tool = bin_path("s3_request_tool")
    method, key, query, body, ctype, addressing = case
    server = CaptureServer()
    try:
        # *.localhost is loopback in curl (>= 7.85) without the resolver: virtual-host works.
        host = "localhost" if addressing == "virtual" else "127.0.0.1"
        env = dict(os.environ, AWS_ENDPOINT_URL=f"http://{host}:{server.port}",
                   AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="eu-west-3")
        env.pop("AWS_SESSION_TOKEN", None)
        if token:
            env["AWS_SESSION_TOKEN"] = token
        body_file = tmp_path / "body"
        body_file.write_bytes(body)
        args = [str(tool), "my-bucket", method, key, "--date", DATE, "--addressing", addressing,
                "--body-file", str(body_file), "--tries", "1"]
        if query:
            args += ["--query", query]
        if ctype:
            args += ["--content-type", ctype]
        out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stdout + out.stderr
        assert len(server.requests) == 1
        line, headers, got_body = server.requests[0]
        got_method, target, _ = line.split(" ")
        assert got_method == method
        assert got_body == body
        # The integrity headers describe the bytes that arrived.
        assert headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
        if body:
            assert headers["content-md5"] == base64.b64encode(hashlib.md5(body).digest()).decode()
        if token:
            assert headers["x-amz-security-token"] == token
        assert "authorization" in headers and SECRET not in str(headers)
        auth = headers["authorization"]
        assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20260102/eu-west-3/s3/aws4_request")
        fields = dict(part.strip().split("=", 1) for part in auth.split(" ", 1)[1].split(","))
        signed = fields["SignedHeaders"].split(";")
        for h in ["host", "x-amz-content-sha256", "x-amz-date"] + (["content-md5"] if body else []) + \
                 (["x-amz-security-token"] if token else []):
            assert h in signed, (h, signed)
        if addressing == "virtual":
            assert headers["host"] == f"my-bucket.localhost:{server.port}"
            assert not target.startswith("/my-bucket/")
        else:
            assert target.startswith("/my-bucket/")
        url = f"http://{headers['host']}{target}"
        want, want_signed = botocore_signature(method, url, headers, signed, body, "eu-west-3", token)
        assert fields["SignedHeaders"] == want_signed
        assert fields["Signature"] == want
    finally:
        server.close()
