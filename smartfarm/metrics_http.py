"""/metrics and /healthz over HTTP on a thread of their own, for any of our processes.

Prometheus scrapes ``/metrics``; a health check (compose, systemd, a technician's curl)
reads ``/healthz``: 200 with no problems, 503 with the problems in plain words.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

log = logging.getLogger(__name__)


class MetricsServer:
    """Serves /metrics and /healthz on its own thread."""

    def __init__(
        self,
        host: str,
        port: int,
        text: Callable[[], bytes],
        health: Callable[[], list[str]],
        name: str = "metrics",
    ) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.text = text
        self._server.health = health
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.2,), name=name, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(
    who: str,
    host: str,
    port: int,
    text: Callable[[], bytes],
    health: Callable[[], list[str]],
) -> MetricsServer | None:
    """A started server, or None (logged) when the port cannot be had: metrics are for
    watching, and the process's real work must go on without them."""
    try:
        server = MetricsServer(host, port, text, health, name=f"{who}-metrics")
    except OSError as err:
        log.error("%s: no /metrics on %s:%d: %s", who, host, port, err)
        return None
    server.start()
    return server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    text: Callable[[], bytes]
    health: Callable[[], list[str]]


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics: " + format, *args)

    def do_GET(self) -> None:
        server = cast(_Server, self.server)
        if self.path == "/metrics":
            self._send(200, server.text(), "text/plain; version=0.0.4; charset=utf-8")
        elif self.path == "/healthz":
            found = server.health()
            body = {"status": "ok" if not found else "degraded", "problems": found}
            self._send(200 if not found else 503, json.dumps(body).encode(), "application/json")
        else:
            self._send(404, b"not found\n", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
