"""The lab reads a request head as the stdlib does, and leaves anything unusual to it (issue 13)."""

from __future__ import annotations

import io
import re
from http.server import BaseHTTPRequestHandler
from types import SimpleNamespace
from typing import Any

import pytest

from entra_standby.lab.wire.http import _Handler

PYPSRP = (b"POST /wsman HTTP/1.1\r\nHost: 127.20.0.1:5985\r\nUser-Agent: Python PSRP Client\r\n"
          b"Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: Keep-Alive\r\n"
          b'Content-Type: multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";'
          b'boundary="Encrypted Boundary"\r\nContent-Length: 5\r\n\r\nhello')

REQUESTS = {
    "pypsrp": PYPSRP,
    "authorization": b"POST /wsman HTTP/1.1\r\nAuthorization: Negotiate TlRMTVNTUAAB\r\n"
                     b"Content-Length: 0\r\n\r\n",
    "no-headers": b"GET /wsman HTTP/1.1\r\n\r\n",
    "http-1.0": b"POST /wsman HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
    "http-1.0-keep-alive": b"POST /wsman HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "close": b"POST /wsman HTTP/1.1\r\nConnection: Close\r\n\r\n",
    "duplicates-first-wins": b"POST /wsman HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 9\r\n\r\nabc",
    "odd-spacing": b"POST /wsman HTTP/1.1\r\nX-A:no-space\r\nX-B: \t tabbed  \r\nX-C:\r\n\r\n",
    "lower-and-mixed-names": b"POST /wsman HTTP/1.1\r\ncontent-TYPE: text/plain\r\nX_Under: 1\r\n\r\n",
    "double-slash-path": b"GET //evil.example/wsman HTTP/1.1\r\nHost: x\r\n\r\n",
    "folded-header": b"POST /wsman HTTP/1.1\r\nX-Folded: one\r\n two\r\nContent-Length: 0\r\n\r\n",
    "expect-100": b"POST /wsman HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    "no-colon": b"POST /wsman HTTP/1.1\r\nnot a header\r\nContent-Length: 0\r\n\r\n",
    "empty-name": b"POST /wsman HTTP/1.1\r\n: nameless\r\n\r\n",
    "bare-lf": b"POST /wsman HTTP/1.1\nHost: x\nContent-Length: 0\n\n",
    "lone-cr": b"POST /wsman HTTP/1.1\r\nX-A: a\rb\r\n\r\n",
    "latin-1": b"POST /wsman HTTP/1.1\r\nX-Name: caf\xe9\r\n\r\n",
    "from-line": b"POST /wsman HTTP/1.1\r\nFrom nobody\r\n\r\n",
    "too-many-headers": b"POST /wsman HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(101))
                        + b"\r\n",
    "bad-version": b"POST /wsman HTTP/1.x\r\n\r\n",
    "http-2": b"POST /wsman HTTP/2.0\r\n\r\n",
    "http-0.9": b"GET /wsman\r\n",
    "too-many-words": b"POST /wsman extra HTTP/1.1\r\n\r\n",
    "unterminated-head": b"POST /wsman HTTP/1.1\r\nHost: x\r\n",
}


def _parse(parse: Any, raw: bytes) -> dict[str, Any]:
    line, _, rest = raw.partition(b"\n")
    handler = _Handler.__new__(_Handler)
    handler.raw_requestline = line + b"\n"  # type: ignore[attr-defined]
    handler.rfile = io.BufferedReader(io.BytesIO(rest))
    handler.wfile = io.BytesIO()
    handler.client_address = ("127.0.0.1", 1)
    handler.request_version = "HTTP/0.9"
    handler.requestline = ""
    handler.app = SimpleNamespace(name="lab")  # type: ignore[assignment]
    ok = parse(handler)
    headers: Any = getattr(handler, "headers", None)
    return {
        "ok": ok,
        "command": handler.command, "path": getattr(handler, "path", None),
        "version": handler.request_version, "close": handler.close_connection,
        "requestline": handler.requestline,
        "items": list(headers.items()) if ok else None,
        "get": {name: headers.get(name) for name in ("Content-Length", "content-type", "CONNECTION",
                                                      "Authorization", "X-B", "X-Missing")} if ok else None,
        "answer": re.sub(rb"Date: [^\r]*", b"Date: -", handler.wfile.getvalue()),
        "unread": handler.rfile.read(),
    }


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_the_lab_reads_a_request_head_as_the_stdlib_does(name: str) -> None:
    raw = REQUESTS[name]
    assert _parse(_Handler.parse_request, raw) == _parse(BaseHTTPRequestHandler.parse_request, raw)


def test_a_pypsrp_request_takes_the_lab_path() -> None:
    handler_calls: list[str] = []
    original = BaseHTTPRequestHandler.parse_request

    def stdlib(self: BaseHTTPRequestHandler) -> bool:
        handler_calls.append("stdlib")
        return original(self)

    BaseHTTPRequestHandler.parse_request = stdlib  # type: ignore[method-assign]
    try:
        parsed = _parse(_Handler.parse_request, PYPSRP)
        _parse(_Handler.parse_request, REQUESTS["folded-header"])
    finally:
        BaseHTTPRequestHandler.parse_request = original  # type: ignore[method-assign]
    assert handler_calls == ["stdlib"]  # only the folded header went to the stdlib
    assert parsed["ok"] and parsed["unread"] == b"hello" and parsed["close"] is False
