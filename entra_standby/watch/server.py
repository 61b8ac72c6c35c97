"""The watcher's HTTP endpoint: ``/metrics`` (Prometheus text format) and ``/healthz`` (the watcher itself).

``http.server.HTTPServer.server_bind`` calls ``socket.getfqdn()`` on the bound address, a reverse-DNS query
to the machine's resolver on every start; ``MetricsServer`` binds without it (the name is the address).
Request logging goes to the ``logging`` module at debug level, never to stderr on every scrape.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["CONTENT_TYPE", "MetricsServer"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format, which every Prometheus 2.x and node_exporter reads (prometheus_client's
``generate_latest`` writes it; its ``CONTENT_TYPE_LATEST`` now names format 1.0.0, which older servers
refuse)."""

log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    server_version = "entra-standby-watch"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, CONTENT_TYPE, self.server.metrics())
        elif path == "/healthz":
            healthy, text = self.server.health()
            self._send(200 if healthy else 503, "text/plain; charset=utf-8", (text + "\n").encode())
        elif path == "/":
            self._send(200, "text/html; charset=utf-8",
                       b'<html><body><h1>entra-standby watch</h1><p><a href="/metrics">/metrics</a> '
                       b'<a href="/healthz">/healthz</a></p></body></html>\n')
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics or /healthz\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.client_address[0], format % args)


class MetricsServer(ThreadingHTTPServer):
    """A threaded HTTP server for ``/metrics`` and ``/healthz``; ``serve_in_background()`` starts it."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, metrics: Callable[[], bytes],
                 health: Callable[[], tuple[bool, str]]) -> None:
        self.metrics = metrics
        self.health = health
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)
        self._thread: threading.Thread | None = None

    def server_bind(self) -> None:
        # HTTPServer.server_bind would add socket.getfqdn(host): a reverse-DNS lookup. Bind only.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def url(self) -> str:
        host = self.server_name if ":" not in self.server_name else f"[{self.server_name}]"
        return f"http://{host}:{self.server_port}"

    def serve_in_background(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="watch-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
