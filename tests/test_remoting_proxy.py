"""The host's proxy is resolved once per session with requests' own semantics: same proxy as before.

pypsrp's session trusts the environment, so requests used to re-read every proxy variable for each request;
remoting.py now resolves the endpoint's proxy once when the session is built and turns ``trust_env`` off.
These tests prove the effective proxy of every request is the one a stock pypsrp session would use, and that
a configured proxy really carries every request of a session.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pypsrp.wsman import WSMan

from entra_standby.errors import HostError
from entra_standby.inventory import ServerEntry, inventory_from_dict
from entra_standby.remoting import HostSession, _BoundedWSMan

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
               "no_proxy")

ENVIRONMENTS: list[dict[str, str]] = [
    {},
    {"HTTP_PROXY": "http://proxy.example.test:3128"},
    {"http_proxy": "http://user:pw@proxy.example.test:3128", "https_proxy": "http://tls-proxy.example.test:8080"},
    {"ALL_PROXY": "http://all.example.test:1080"},
    {"HTTP_PROXY": "http://proxy.example.test:3128", "NO_PROXY": "contoso.test"},
    {"HTTP_PROXY": "http://proxy.example.test:3128", "NO_PROXY": "other.test,.example.test"},
    {"HTTPS_PROXY": "http://tls-proxy.example.test:8080", "NO_PROXY": "*"},
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _effective(session: requests.Session, url: str) -> dict[str, Any]:
    """The proxies ``Session.send`` hands the adapter for a request to ``url`` (requests 2.32+)."""
    return requests.utils.resolve_proxies(requests.Request("POST", url).prepare(), dict(session.proxies),
                                          session.trust_env)


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: ",".join(sorted(e)) or "none")
@pytest.mark.parametrize(("ssl", "no_proxy", "proxy"), [(False, False, None), (True, False, None),
                                                        (False, True, None),
                                                        (False, False, "http://explicit.test:9")])
def test_resolved_once_equals_what_every_request_would_resolve(clean_env: pytest.MonkeyPatch,
                                                               env: dict[str, str], ssl: bool,
                                                               no_proxy: bool, proxy: str | None) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    kwargs: dict[str, Any] = {"username": "u", "password": "p", "ssl": ssl, "auth": "ntlm",
                              "no_proxy": no_proxy, "proxy": proxy, "cert_validation": False}
    stock = WSMan("aadc01.contoso.test", **kwargs).transport
    ours = _BoundedWSMan("aadc01.contoso.test", **kwargs).transport
    stock_session, our_session = stock._build_session(), ours._build_session()
    assert stock_session.trust_env and not our_session.trust_env  # no more per-request environment reads
    assert _effective(our_session, ours.endpoint) == _effective(stock_session, stock.endpoint)


def test_a_session_without_an_auth_handler_keeps_trusting_the_environment(
        clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Certificate auth has no requests ``auth``: requests may add .netrc credentials per request, so that
    session is left as pypsrp builds it."""
    clean_env.setenv("HTTP_PROXY", "http://proxy.example.test:3128")
    for name in ("cert.pem", "key.pem"):
        (tmp_path / name).write_text("unused", encoding="utf-8")
    transport = _BoundedWSMan("aadc01.contoso.test", ssl=True, auth="certificate", cert_validation=False,
                              certificate_pem=str(tmp_path / "cert.pem"),
                              certificate_key_pem=str(tmp_path / "key.pem")).transport
    session = transport._build_session()
    assert session.auth is None and session.trust_env


# --- end to end: a proxy on loopback sees every request of the session -----------------------------------


class _Proxy:
    """A loopback 'proxy' that records request lines and answers 401 Negotiate with a bogus token, so the
    client's NTLM handshake sends a second request through it, then fails."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, data = data.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                self.lines.append(lines[0])
                length = next((int(line.split(":", 1)[1]) for line in lines
                               if line.lower().startswith("content-length:")), 0)
                while len(data) < length:
                    data += conn.recv(65536)
                data = data[length:]
                conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate TlRMTVNTUAACAAAA\r\n"
                             b"Content-Length: 0\r\n\r\n")

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def proxy() -> Iterator[_Proxy]:
    running = _Proxy()
    yield running
    running.close()


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the client does, it must not look up or reach anything beyond loopback (rules)."""
    original = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not str(host).startswith("127."):
            raise AssertionError(f"the client tried to resolve {host!r} instead of using the proxy")
        return original(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


def _remote_server(monkeypatch: pytest.MonkeyPatch) -> ServerEntry:
    monkeypatch.setenv("ES_PROXY_TEST_PASSWORD", "pw")
    raw = {"pairs": [{"name": "p", "connection": {"auth": "ntlm", "username": "CONTOSO\\auditor",
                                                  "password_env": "ES_PROXY_TEST_PASSWORD", "ssl": False,
                                                  "retries": 0},
                      "servers": [{"host": "aadc01.contoso.test", "role": "active"},
                                  {"host": "aadc02.contoso.test", "role": "standby"}]}]}
    return inventory_from_dict(raw, path=Path("proxy.yml")).pairs[0].servers[0]


def test_every_request_of_a_session_goes_through_the_configured_proxy(clean_env: pytest.MonkeyPatch,
                                                                      proxy: _Proxy,
                                                                      loopback_only: None) -> None:
    clean_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    server = _remote_server(clean_env)
    with pytest.raises(HostError), HostSession(server, deadline_s=20) as session:
        session.open()
    endpoint = f"http://aadc01.contoso.test:{server.connection.effective_port}/wsman"
    assert len(proxy.lines) >= 2, proxy.lines  # the handshake's first AND later requests
    assert all(line == f"POST {endpoint} HTTP/1.1" for line in proxy.lines), proxy.lines


def test_no_proxy_still_bypasses_the_proxy(clean_env: pytest.MonkeyPatch, proxy: _Proxy) -> None:
    clean_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    clean_env.setenv("NO_PROXY", "contoso.test")
    transport = _BoundedWSMan("aadc01.contoso.test", username="u", password="p", ssl=False,
                              auth="ntlm").transport
    session = transport._build_session()
    assert _effective(session, transport.endpoint).get("http") in (None, False)
