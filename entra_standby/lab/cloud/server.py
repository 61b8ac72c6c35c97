"""``CloudStandIn``: the identity platform + Microsoft Graph of one simulated tenant, over HTTPS on loopback.

One listener serves both (``base_url`` is the authority host and the Graph URL). Requests are answered
from the live ``SimulatedTenant``, so an export recorded by a lab server moves
``onPremisesLastSyncDateTime`` at once. ``faults`` injects failures per path class; ``counters`` logs
every request (method, path, class, status, client id) — never a secret or a token.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ...errors import LabError
from ..pki import TlsMaterial
from ..serving import LoopbackHTTPServer, require_loopback, serve_in_background, shut_down, tls_server_context
from ..tenant import SimulatedTenant
from .faults import CloudCounters, CloudFault, CloudFaults, RequestRecord
from .graph import ORGANIZATION_ROLES, USER_ROLES, GraphApi, path_class
from .identity import Identity
from .replies import Reply, entra_error, graph_error

_DISCOVERY = re.compile(r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$")
_TOKEN = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")
_MAX_BODY = 1 << 20


class _Server(LoopbackHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: with many pairs' audits connecting at once, the kernel drops the
    # overflow's SYNs and each such client waits ~1 s to retry (bench/cloud_backlog.py: 33-45 of 100
    # concurrent connects took >= 1 s at 5, none at 128). The WinRM listeners use 64.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext, stand_in: CloudStandIn) -> None:
        self.context = context
        self.stand_in = stand_in
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        raw, address = self.socket.accept()
        # The handshake happens in the handler thread: a client that rejects the certificate must not
        # block accept() for everybody else.
        return self.context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False), address


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        self.request.settimeout(30)
        super().setup()

    def handle(self) -> None:
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        with contextlib.suppress(ssl.SSLError, OSError):  # the client went away (e.g. timed out on a stall)
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is ``counters``; stderr noise helps nobody

    def do_GET(self) -> None:
        self.server.stand_in.serve(self, "GET")

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is not None and not length.strip().isdigit():
            # int() would raise in read_body: socketserver prints that traceback and drops the connection
            self.send_error(400, "bad Content-Length")  # and closes, like any HTTP server
            return
        self.server.stand_in.serve(self, "POST")

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, _MAX_BODY)) if length > 0 else b""

    def send(self, reply: Reply) -> None:
        payload = json.dumps(reply.body).encode() if reply.body is not None else b""
        self.send_response(reply.status)
        if reply.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()


class CloudStandIn:
    """The lab's Entra ID + Graph: ``start()``, ``stop()``, ``base_url``, ``faults``, ``counters``.

    :param tenant: the live simulated tenant (apps, users, sync clocks), shared with the lab's servers.
    :param tls: the lab CA's leaf certificate and key (must cover ``bind_address``).
    :param bind_address: a loopback address; anything else is refused.
    """

    def __init__(self, tenant: SimulatedTenant, *, tls: TlsMaterial, bind_address: str = "127.0.0.1",
                 port: int = 0, token_lifetime_s: int = 3599) -> None:
        self.tenant = tenant
        self.tls = tls
        self.bind_address = require_loopback(bind_address, "cloud stand-in")
        self._port = port
        self.faults = CloudFaults()
        self.counters = CloudCounters()
        self.identity = Identity(tenant, token_lifetime_s=token_lifetime_s)
        self.graph = GraphApi(tenant, self.identity)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise LabError("cloud stand-in: not started", fix="call start() first")
        return f"https://{self.bind_address}:{self._server.server_address[1]}"

    def start(self) -> CloudStandIn:
        if self._server is not None:
            return self
        try:
            self._server = _Server((self.bind_address, self._port), tls_server_context(self.tls), self)
        except OSError as exc:
            raise LabError(f"cloud stand-in: cannot listen on {self.bind_address}:{self._port} ({exc})",
                           fix="choose another port or address") from None
        self._stopping.clear()
        self.identity.base_url = self.base_url
        name = f"cloud-stand-in-{self._server.server_address[1]}"
        self._thread = serve_in_background(self._server, name=name)
        return self

    def stop(self) -> None:
        """Stop listening and release stalled requests. Idempotent."""
        self._stopping.set()
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        shut_down(server, thread)

    def __enter__(self) -> CloudStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- dispatch ---------------------------------------------------------------------------------------

    def serve(self, handler: _Handler, method: str) -> None:
        split = urlsplit(handler.path)
        path = re.sub(r"/{2,}", "/", split.path)  # msal sends '//v2.0' for an authority with a trailing '/'
        query = parse_qs(split.query)
        body = handler.read_body() if method == "POST" else b""
        client_request_id = handler.headers.get("client-request-id")
        klass, reply = self._route(method, path, query, body, handler.headers.get("Authorization"),
                                   client_request_id)
        self.counters.record(RequestRecord(method, path, klass, reply.status, reply.client_id))
        with contextlib.suppress(ssl.SSLError, OSError):
            handler.send(reply)

    def _classify(self, path: str) -> str:
        if _DISCOVERY.match(path):
            return "discovery"
        if _TOKEN.match(path):
            return "token"
        return path_class(path) or "other"

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               authorization: str | None, client_request_id: str | None) -> tuple[str, Reply]:
        klass = self._classify(path)
        fault = self.faults.take(klass) if klass != "other" else None
        if fault is not None and fault.kind == "stall":
            self._stopping.wait(fault.seconds)
            fault = None
        if fault is not None and fault.kind != "invalid_client":
            reply = self._fault_reply(klass, fault, client_request_id)
            reply.client_id = self._caller(klass, body, authorization)
            return klass, reply
        base = self.identity.base_url
        if klass == "discovery":
            if method != "GET":
                return klass, entra_error(405, "invalid_request", 900561,
                                          "The endpoint only accepts GET requests.", base_url=base)
            match = _DISCOVERY.match(path)
            assert match is not None
            return klass, self.identity.discovery(match["tenant"])
        if klass == "token":
            if method != "POST":
                return klass, entra_error(405, "invalid_request", 900561,
                                          "The endpoint only accepts POST requests.", base_url=base)
            match = _TOKEN.match(path)
            assert match is not None
            fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            form = {k: v[-1] for k, v in fields.items()}
            reply = self.identity.token(match["tenant"], form, force_invalid_client=fault is not None)
            return klass, reply
        if klass in ("organization", "users"):
            if method != "GET":
                return klass, graph_error(405, "Request_BadRequest", "Only GET is supported by the lab.",
                                          client_request_id=client_request_id)
            needed, permission = ((ORGANIZATION_ROLES, "Organization.Read.All") if klass == "organization"
                                  else (USER_ROLES, "User.Read.All"))
            denied, client_id = self.graph.authorize(authorization, needed, permission, client_request_id)
            if denied is not None:
                denied.client_id = client_id
                return klass, denied
            reply = (self.graph.organization(path, query, client_request_id) if klass == "organization"
                     else self.graph.user(path, query, client_request_id))
            reply.client_id = client_id
            return klass, reply
        segment = next((s for s in reversed(path.split("/")) if s), "")
        return klass, graph_error(400, "BadRequest", f"Resource not found for the segment '{segment}'.",
                                  client_request_id=client_request_id)

    def _caller(self, klass: str, body: bytes, authorization: str | None) -> str | None:
        """Who sent a faulted request (for the log): the token form's client_id or the bearer's app."""
        if klass == "token":
            return parse_qs(body.decode("utf-8", "replace")).get("client_id", [None])[-1]
        scheme, _, token = (authorization or "").partition(" ")
        issued = self.identity.lookup(token.strip()) if scheme.lower() == "bearer" else None
        return issued.client_id if issued else None

    def _fault_reply(self, klass: str, fault: CloudFault, client_request_id: str | None) -> Reply:
        base = self.identity.base_url
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        graph = klass in ("organization", "users")
        if fault.kind == "forbidden":
            return self.graph.forbidden(client_request_id)
        if fault.kind == "throttle":
            if graph:
                return graph_error(429, "TooManyRequests", "Too many requests.",
                                   client_request_id=client_request_id, headers=headers)
            return entra_error(429, "temporarily_unavailable", 90055,
                               "The tenant has been throttled due to too many requests.",
                               base_url=base, headers=headers)
        # server_error
        if graph:
            code = "serviceNotAvailable" if fault.status == 503 else "generalException"
            return graph_error(fault.status, code,
                               "The service is temporarily unavailable.", client_request_id=client_request_id,
                               headers=headers)
        return entra_error(fault.status, "temporarily_unavailable", 90033,
                           "A transient error has occurred. Please try again.", base_url=base,
                           headers=headers)
