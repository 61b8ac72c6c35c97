"""HTTP/1.1 listeners and the per-connection request handler of a lab WS-Man server.

One thread per connection, keep-alive on every answer (faults included: NTLM sealing state lives with the
connection), ``TCP_NODELAY`` (headers and body go out in separate writes; with Nagle + delayed ACK every
request would cost ~40 ms on loopback), TLS handshakes in the connection's thread, and no exception ever
escapes a handler (that would close the socket and kill the client's encryption context).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from http.client import HTTPMessage
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from entra_standby.lab.serving import LoopbackHTTPServer, serve_in_background, shut_down
from entra_standby.lab.wire import crypto
from entra_standby.lab.wire.auth import ConnectionAuth
from entra_standby.lab.wire.dispatch import CallContext
from entra_standby.lab.wire.soap import (
    CODE_TOO_LARGE,
    WSManFault,
    envelope,
    fault_envelope,
    internal_error,
    parse_request,
)

if TYPE_CHECKING:
    from entra_standby.lab.wire.server import WireApp

log = logging.getLogger(__name__)

_IDLE_CONNECTION_TIMEOUT_S = 120.0  # like WinRM, drop keep-alive connections nobody uses
_TLS_HANDSHAKE_TIMEOUT_S = 10.0
_DISCARD_LIMIT_FACTOR = 16  # read (and discard) oversized bodies up to this multiple before hanging up


@dataclass(frozen=True)
class Transport:
    scheme: str  # "http" or "https"
    tls_context: ssl.SSLContext | None
    cbt: bytes | None


class _Server(LoopbackHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], listener: Listener) -> None:
        self.listener = listener
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Runs in the connection's thread: TCP_NODELAY, the TLS handshake, then the handler."""
        listener = self.listener
        conn: Any = request
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            context = listener.transport.tls_context
            if context is not None:
                request.settimeout(_TLS_HANDSHAKE_TIMEOUT_S)
                conn = context.wrap_socket(request, server_side=True)
                conn.settimeout(None)
        except (OSError, ssl.SSLError) as exc:
            log.debug("%s: connection from %s failed before HTTP: %s", listener.app.name, client_address, exc)
            with contextlib.suppress(OSError):
                request.close()
            return
        listener.track(conn)
        try:
            _Handler(conn, client_address, self)
        except Exception:  # the handler swallows its own errors; this is the last line of defence
            log.debug("%s: connection handler ended with an error", listener.app.name, exc_info=True)
        finally:
            listener.untrack(conn)
            if conn is not request:
                with contextlib.suppress(OSError):
                    conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("%s: error on connection from %s", self.listener.app.name, client_address, exc_info=True)


class Listener:
    """One listening socket (HTTP or HTTPS) that can be closed and reopened on the same port."""

    def __init__(self, app: WireApp, host: str, port: int, transport: Transport) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.transport = transport
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[Any] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{self.transport.scheme}://{self.host}:{self.port}/wsman"

    def open(self) -> None:
        if self._server is not None:
            return
        server = _Server((self.host, self.port), self)
        self.port = server.server_address[1]
        self._server = server
        self._thread = serve_in_background(server, name=f"lab-{self.app.name}-{self.transport.scheme}")

    def close(self) -> None:
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        shut_down(server, thread)
        self.drop_connections()

    def drop_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def track(self, conn: Any) -> None:
        with self._lock:
            self._connections.add(conn)

    def untrack(self, conn: Any) -> None:
        with self._lock:
            self._connections.discard(conn)


_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")  # a field name (the email parser's set), then ':'
_MAX_HEADERS = 100  # http.client's _MAXHEADERS


class _Headers(HTTPMessage):
    """The request headers, as the email parser would have stored them; ``get`` by a dict.

    ``Message.get`` lowers every stored name on every call; the handler asks about six times a request.
    Filled once by ``_Handler`` and never changed afterwards."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        super().__init__()
        self._by_name: dict[str, str] = {}
        for name, value in fields:
            self.set_raw(name, value)
            self._by_name.setdefault(name.lower(), value)

    def get(self, name: str, failobj: Any = None) -> Any:
        return self._by_name.get(name.lower(), failobj)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    timeout = _IDLE_CONNECTION_TIMEOUT_S
    server: _Server

    def setup(self) -> None:
        super().setup()
        listener = self.server.listener
        app = listener.app
        tls = listener.transport.tls_context is not None
        self.listener = listener
        self.app = app
        self.tls = tls
        self.auth = ConnectionAuth(app.credentials, tls=tls, allow_basic=tls or app.allow_basic_over_http,
                                   cbt=listener.transport.cbt, users=app.users)

    def handle(self) -> None:
        try:
            super().handle()
        except (OSError, ssl.SSLError, ValueError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):  # send_response logs every request: format only when shown
            log.debug("%s: %s", self.app.name, format % args)

    def parse_request(self) -> bool:
        """``BaseHTTPRequestHandler.parse_request`` without the email parser, for well-formed requests.

        The stdlib hands the header block to ``email.parser`` (which also parses the multipart
        Content-Type's parameters): ~0.15 ms of a lab request's ~0.25 ms of HTTP handling (issue 13). An
        HTTP/1.x request whose whole header block is already buffered and holds only plain ``Name: value``
        lines (no folding, no Expect, at most 100) is parsed here into the same fields; anything else is
        left, unread, to the stdlib, which also answers its errors."""
        fields = self._plain_request()
        if fields is None:
            return super().parse_request()
        self.headers = _Headers(fields)
        connection = (self.headers.get("Connection") or "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        return True

    def _plain_request(self) -> list[tuple[str, str]] | None:
        """The request line and the header fields, consumed, or None (nothing consumed) when unusual."""
        raw: bytes = getattr(self, "raw_requestline", b"")  # set by handle_one_request (not in typeshed)
        requestline = str(raw, "iso-8859-1").rstrip("\r\n")
        words = requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.1", "HTTP/1.0") or words[1].startswith("//"):
            return None
        rfile = self.rfile
        if not isinstance(rfile, io.BufferedReader):
            return None
        buffered = rfile.peek(1)
        if buffered.startswith(b"\r\n"):
            end, lines = 2, []
        else:
            blank = buffered.find(b"\r\n\r\n")
            if blank < 0:
                return None
            end, lines = blank + 4, buffered[:blank].split(b"\r\n")
        if len(lines) > _MAX_HEADERS:
            return None
        fields = []
        for line in lines:
            if not line.isascii() or b"\r" in line or b"\n" in line or not _HEADER_LINE.match(line):
                return None
            name, _, value = line.decode("ascii").partition(":")
            fields.append((name, value.lstrip(" \t")))
        if any(name.lower() == "expect" for name, _ in fields):
            return None
        rfile.read(end)
        self.requestline = requestline
        self.command, self.path, self.request_version = words
        self.close_connection = words[2] == "HTTP/1.0"  # as the stdlib: HTTP/1.1 keeps the connection
        return fields

    # -- plumbing ----------------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", *, content_type: str | None = None,
              headers: list[tuple[str, str]] | None = None, close: bool = False) -> None:
        self.app.counters.count_status(status)
        self.send_response(status)
        for name, value in headers or []:
            self.send_header(name, value)
        if content_type and body:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _send_soap(self, status: int, xml: bytes, encrypt: bool, headers: list[tuple[str, str]],
                   close: bool = False) -> None:
        if encrypt:
            self._send(status, crypto.wrap(self.auth.context, xml), content_type=crypto.CONTENT_TYPE,
                       headers=headers, close=close)
        else:
            self._send(status, xml, content_type="application/soap+xml;charset=UTF-8", headers=headers,
                       close=close)

    def _send_fault(self, fault: WSManFault, relates_to: str | None, encrypt: bool,
                    headers: list[tuple[str, str]] | None = None) -> None:
        xml = fault_envelope(fault, relates_to, self.app.name)
        self._send_soap(fault.status, xml, encrypt, headers or [], close=fault.close_connection)

    def _hang_up(self) -> None:
        """Close the connection without an answer (the drop fault, an abandoned long-poll, shutdown)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def client_gone(self) -> bool:
        """Whether the client closed its end while we were still working on its request.

        Checked on a duplicate of the descriptor with MSG_PEEK so it works under TLS too. A TLS alert
        (close_notify) also counts: requests never pipelines, so nothing else may arrive meanwhile.
        """
        try:
            fd = self.connection.fileno()
            if fd < 0:
                return True
            readable, _, _ = select.select([fd], [], [], 0)
            if not readable:
                return False
            with socket.socket(fileno=os.dup(fd)) as dup:
                data = dup.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            return True
        return data == b"" or (self.tls and data[:1] == b"\x15")

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering a fault for an unusable one."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._send_fault(WSManFault("w:InvalidParameter", CODE_TOO_LARGE, "chunked requests are not "
                                        "supported", close_connection=True), None, False)
            return None
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if length < 0:
            self._send_fault(WSManFault("w:InvalidParameter", CODE_TOO_LARGE, "bad Content-Length",
                                        close_connection=True), None, False)
            return None
        if length > self.app.max_body_bytes:
            if length <= self.app.max_body_bytes * _DISCARD_LIMIT_FACTOR:
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 65536))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            self._send_fault(WSManFault(
                "w:EncodingLimit", CODE_TOO_LARGE,
                f"The request body of {length} bytes exceeds the lab limit of {self.app.max_body_bytes} "
                "bytes.",
                close_connection=True), None, False)
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            self.close_connection = True
            return None
        return body

    # -- methods -------------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self.app.counters.count_request()
        self._send(405, headers=[("Allow", "POST")])

    def do_POST(self) -> None:
        app = self.app
        app.counters.count_request()
        try:
            self._post()
        except (OSError, ssl.SSLError):
            self.close_connection = True
        except Exception:
            log.exception("%s: unexpected error while handling a request", app.name)
            try:
                self._send_fault(internal_error("unexpected server error"), None, False)
            except OSError:
                self.close_connection = True

    def _post(self) -> None:
        app = self.app
        faults = app.faults
        latency = faults.latency_ms
        if latency:
            app.stopping.wait(latency / 1000)
        if self.path.split("?", 1)[0].rstrip("/").lower() != "/wsman":
            self._send(404, close=False)
            return
        body = self._read_body()
        if body is None:
            return

        outcome = self.auth.authenticate(self.headers.get("Authorization"), force_fail=faults.auth_fail)
        if outcome.handshake:
            app.counters.count_auth()
        if not outcome.ok:
            self._send(401, headers=outcome.headers)
            return
        principal = outcome.principal or app.credentials.user

        content_type = self.headers.get("Content-Type") or ""
        encrypted = crypto.is_encrypted(content_type)
        if encrypted:
            if not self.auth.negotiated or self.auth.context is None:
                self._send(400, close=True)
                return
            try:
                body = crypto.unwrap(self.auth.context, content_type, body)
            except crypto.EncryptionError as exc:
                # The client's sealing state no longer matches ours (e.g. it kept its old keys after a
                # dropped connection): WinRM answers 400 and so do we.
                log.info("%s: could not decrypt a request: %s", app.name, exc)
                self._send(400)
                return
        elif body and self.auth.negotiated and not self.tls:
            # AllowUnencrypted=false: over plain HTTP a Negotiate session must seal its messages.
            self._send(401, headers=self.auth.challenge())
            return
        if not body:  # pypsrp's empty POST that sets up the security context
            self._send(200, headers=outcome.headers)
            return

        try:
            request = parse_request(body)
        except WSManFault as fault:
            self._send_fault(fault, None, encrypted, outcome.headers)
            return
        action = request.short_action
        app.counters.count_action(action)

        if faults.should_drop(action):
            self._hang_up()
            return
        gave_up = lambda: app.stopping.is_set() or self.client_gone()  # noqa: E731 - used twice below
        if faults.is_stalled(action) and not faults.wait_while_stalled(action, gave_up):
            self._hang_up()
            return
        if faults.answers_500(action):
            self._send_fault(internal_error(f"injected fault on {action}"), request.message_id, encrypted,
                             outcome.headers)
            return

        ctx = CallContext(endpoint_url=self.listener.url, owner=principal, client_ip=self.client_address[0],
                          abandoned=gave_up)
        started = time.monotonic()
        try:
            reply = app.dispatcher.handle(request, ctx)
        except WSManFault as fault:
            self._send_fault(fault, request.message_id, encrypted, outcome.headers)
            return
        except Exception as exc:
            log.exception("%s: %s failed", app.name, action)
            self._send_fault(internal_error(f"{action} failed: {type(exc).__name__}"), request.message_id,
                             encrypted, outcome.headers)
            return
        if reply is None:
            log.debug("%s: %s abandoned by the client after %.2f s", app.name, action,
                      time.monotonic() - started)
            self._hang_up()
            return
        xml = envelope(request.action, request.message_id, reply.body, reply.action)
        self._send_soap(200, xml, encrypted, outcome.headers)
