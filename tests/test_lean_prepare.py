"""pypsrp's requests prepared leanly (issue 13): the same PreparedRequest as requests' own, field by field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from labkit import audit_first_server
from pypsrp.wsman import WSMan

from entra_standby.lean_prepare import lean_prepare

SCENARIOS = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios"


def _sessions(auth: str = "ntlm", ssl: bool = False) -> tuple[requests.Session, requests.Session, str]:
    """Two sessions as pypsrp builds them for one endpoint: the stock one and a lean one."""
    wsman = WSMan("127.0.0.1", port=5985, username="CONTOSO\\u", password="p", ssl=ssl, auth=auth,
                  encryption="never" if auth == "basic" else "always", cert_validation=False)
    transport = wsman.transport
    stock, lean = transport._build_session(), transport._build_session()
    lean_prepare(lean, transport.endpoint)
    return stock, lean, transport.endpoint


def _fields(p: requests.PreparedRequest) -> dict[str, Any]:
    hooks = {event: [getattr(h, "__func__", h) for h in handlers] for event, handlers in p.hooks.items()}
    return {"method": p.method, "url": p.url, "headers": list(p.headers.items()), "body": p.body,
            "hooks": hooks, "cookies": dict(getattr(p, "_cookies", None) or {}),
            "cookie_type": type(getattr(p, "_cookies", None)),
            "body_position": p.__dict__.get("_body_position", "unset")}


def _pypsrp_requests(session: requests.Session, endpoint: str) -> list[requests.Request]:
    """The requests pypsrp 0.9's ``_TransportHTTP.send`` builds: the blank one that starts authentication,
    an encrypted body and a plain one."""
    encrypted = session.headers.copy()  # type: ignore[attr-defined]
    encrypted.update({"Content-Type": 'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-'
                                      'encrypted";boundary="Encrypted Boundary"', "Content-Length": "1234"})
    plain = session.headers.copy()  # type: ignore[attr-defined]
    plain["Content-Type"] = "application/soap+xml;charset=UTF-8"
    return [requests.Request("POST", endpoint, data=None),
            requests.Request("POST", endpoint, data=b"--Encrypted Boundary\r\n" + b"x" * 1234,
                             headers=encrypted),
            requests.Request("POST", endpoint, data=b"<s:Envelope/>", headers=plain)]


@pytest.mark.parametrize("auth,ssl", [("ntlm", False), ("negotiate", True), ("kerberos", False)])
def test_lean_requests_equal_the_stock_prepare_request(auth: str, ssl: bool) -> None:
    stock, lean, endpoint = _sessions(auth, ssl)
    assert stock.auth is not None
    for request in _pypsrp_requests(stock, endpoint):
        ours, theirs = lean.prepare_request(request), stock.prepare_request(request)
        assert _fields(ours) == _fields(theirs)
        assert ours.hooks["response"] and ours.headers["Connection"] == "Keep-Alive"  # the auth handler's


def test_a_session_with_a_cookie_prepares_the_stock_way() -> None:
    """A server (or a load balancer in front of it) that sets a cookie gets it back, as before."""
    stock, lean, endpoint = _sessions()
    for session in (stock, lean):
        session.cookies.set("affinity", "node-2", domain="127.0.0.1", path="/")
    request = _pypsrp_requests(stock, endpoint)[2]
    ours, theirs = lean.prepare_request(request), stock.prepare_request(request)
    assert ours.headers["Cookie"] == "affinity=node-2"
    assert _fields(ours) == _fields(theirs)


def test_requests_that_are_not_pypsrps_prepare_the_stock_way() -> None:
    stock, lean, endpoint = _sessions()
    odd = [requests.Request("POST", endpoint, data=b"x", params={"a": "1"}),
           requests.Request("GET", endpoint),
           requests.Request("POST", endpoint + "?x=1", data=b"x"),
           requests.Request("POST", endpoint, data={"form": "1"}),
           requests.Request("POST", endpoint, json={"a": 1})]
    for request in odd:
        assert _fields(lean.prepare_request(request)) == _fields(stock.prepare_request(request))


@pytest.mark.parametrize("value", ["a\r\n\tb", " leading", "a\nb"])
def test_a_header_requests_refuses_is_refused_on_the_lean_path_too(value: str) -> None:
    """requests' prepare_headers refuses leading whitespace, CR and LF in a value; so does the lean path."""
    stock, lean, endpoint = _sessions()
    for session in (stock, lean):
        session.headers["X-Odd"] = value
    request = _pypsrp_requests(stock, endpoint)[2]
    for session in (stock, lean):
        with pytest.raises(requests.exceptions.InvalidHeader):
            session.prepare_request(request)


def test_a_host_is_audited_through_the_lean_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Against the lab (NTLM, message encryption): every request pypsrp prepared took the lean path (the
    blank one that starts authentication included), and the audit answers."""
    import entra_standby.lean_prepare as lean_module

    taken: list[bool] = []
    original = lean_module._plain

    def counting(*args: Any) -> bool:
        taken.append(original(*args))
        return taken[-1]

    monkeypatch.setattr(lean_module, "_plain", counting)
    outputs = audit_first_server()
    assert all(isinstance(out, str) for out in outputs.values()), outputs
    assert len(taken) >= 4 and all(taken)
