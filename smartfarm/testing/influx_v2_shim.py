"""A minimal InfluxDB v2 write API in front of influxd 1.6.7, for tests only.

Why it exists: Debian's InfluxDB 1.6.7 is the only InfluxDB server installable here, and it
has no ``/api/v2/write``; 1.8+, 2.x and 3.x serve that natively. So that tests can drive the
real influxdb-client (``InfluxTelemetryStore(api="v2")``) against a real server, this shim
translates the little that path uses, answering as InfluxDB 2 does:

- ``POST /api/v2/write?org=O&bucket=DB&precision=ns`` with ``Authorization: Token T`` goes
  to influxd's ``/write?db=DB&precision=n`` with the body as is (gzip or not). A wrong token
  gets 401; errors come back as ``{"code": ..., "message": ...}``.
- ``GET``/``POST /query`` is forwarded after the token check, without the Authorization
  header, which 1.x would refuse ("unable to parse authentication credentials").

Never put it in front of a server that holds real data: it checks one token and nothing else.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httpx

from smartfarm.testing.ports import free_port

log = logging.getLogger(__name__)

# v2 precision names to the 1.x /write ones.
_PRECISIONS = {"ns": "n", "us": "u", "ms": "ms", "s": "s"}


class _ShimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, upstream: str, token: str, org: str) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.upstream = upstream
        self.token = token
        self.org = org
        self.http = httpx.Client(timeout=10.0)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so a stopped shim leaves no live keep-alive
    # connection behind that would go on answering.
    protocol_version = "HTTP/1.0"

    @property
    def shim(self) -> _ShimHTTPServer:
        return cast(_ShimHTTPServer, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("influx v2 shim: " + format, *args)

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/query":
            self._query()
        else:
            self._error(404, "not found", f"path not found: {self.path}")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path == "/api/v2/write":
            self._write()
        elif path == "/query":
            self._query()
        else:
            self._error(404, "not found", f"path not found: {self.path}")

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Token {self.shim.token}":
            return True
        self._body()
        self._error(401, "unauthorized", "unauthorized access")
        return False

    def _write(self) -> None:
        if not self._authorized():
            return
        params = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        body = self._body()
        bucket = params.get("bucket")
        precision = _PRECISIONS.get(params.get("precision", "ns"))
        if params.get("org") != self.shim.org:
            self._error(404, "not found", f'organization name "{params.get("org")}" not found')
        elif not bucket:
            self._error(400, "invalid", "bucket not specified")
        elif precision is None:
            self._error(400, "invalid", f"invalid precision {params['precision']!r}")
        else:
            self._forward_write(bucket, precision, body)

    def _forward_write(self, bucket: str, precision: str, body: bytes) -> None:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if encoding := self.headers.get("Content-Encoding"):
            headers["Content-Encoding"] = encoding
        try:
            response = self.shim.http.post(
                f"{self.shim.upstream}/write",
                params={"db": bucket, "precision": precision},
                content=body,
                headers=headers,
            )
        except httpx.HTTPError as err:
            self._error(503, "unavailable", f"influxd: {err}")
            return
        if response.status_code < 300:
            self._send(204, b"", None)
            return
        message = _upstream_error(response)
        if response.status_code == 404:
            self._error(404, "not found", f'bucket "{bucket}" not found')
        elif response.status_code < 500:
            self._error(response.status_code, "invalid", message)
        else:
            self._error(response.status_code, "internal error", message)

    def _query(self) -> None:
        if not self._authorized():
            return
        body = self._body()
        query = urlsplit(self.path).query
        headers = {}
        if content_type := self.headers.get("Content-Type"):
            headers["Content-Type"] = content_type
        try:
            response = self.shim.http.request(
                self.command,
                f"{self.shim.upstream}/query" + (f"?{query}" if query else ""),
                content=body or None,
                headers=headers,
            )
        except httpx.HTTPError as err:
            self._error(503, "unavailable", f"influxd: {err}")
            return
        self._send(response.status_code, response.content, response.headers.get("Content-Type"))

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"code": code, "message": message}).encode()
        self._send(status, body, "application/json; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str | None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


def _upstream_error(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return response.headers.get("X-Influxdb-Error") or response.text or response.reason_phrase


class InfluxV2Shim:
    """Serves the v2 write API on a free loopback port, backed by influxd at ``upstream``."""

    def __init__(self, upstream: str, token: str, org: str, port: int | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.token = token
        self.org = org
        self.port = port or free_port()
        self._server: _ShimHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = _ShimHTTPServer(self.port, self.upstream, self.token, self.org)
        # A short poll interval: stop() waits for one poll, 0.5 s by default.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="influx-v2-shim", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.http.close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> InfluxV2Shim:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
