"""The HTTP request pypsrp sends, prepared without ``requests``' general-purpose merging (issue 13).

pypsrp builds every WS-Man request the same way: ``Session.prepare_request(Request("POST", endpoint,
data=payload, headers=session.headers + Content-Type/Length))``, then ``Session.send``. ``prepare_request``
is general: it merges two cookie jars into a third, re-parses and re-quotes the endpoint URL, validates
every header with a regular expression, looks up ``.netrc`` ... for a request whose only varying parts are
the body and its Content-Type/Length. That is about 0.4 ms of CPU per request, eight requests per host.

``lean_prepare(session)`` replaces the session's ``prepare_request`` with one that, for exactly the
requests pypsrp makes (POST to the session's endpoint, a bytes body or none, plain headers, no params,
files, JSON, per-request auth, cookies or hooks, a session with an ``auth`` handler, no cookies in its jar
and no session params or hooks), builds the same ``PreparedRequest`` directly: the URL prepared once per
session, the headers merged as ``merge_setting`` does (the session's, then the request's, ``None``
dropped, in that order; each checked as ``prepare_headers`` checks it, else the stock way), an empty
cookie jar, ``prepare_content_length``, then ``requests``' own ``prepare_auth`` (pypsrp's auth handler:
its Keep-Alive header and response hook) and ``prepare_hooks``.
Anything else (a server that set a cookie, e.g. a load balancer's affinity cookie) goes through the stock
``prepare_request`` unchanged. ``Session.send``, the adapter, the auth handler's 401 handshake, message
encryption, proxies, TLS verification and the deadline's socket tracking are all untouched.

``tests/test_lean_prepare.py`` pins the prepared request (method, URL, headers in order, body, hooks,
cookie jar) against the stock ``prepare_request`` for every kind of request pypsrp sends (the blank
authentication request, encrypted and plain bodies), and that a cookie sends the request the stock way.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.cookies import RequestsCookieJar
from requests.exceptions import InvalidHeader
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity

__all__ = ["lean_prepare"]


def lean_prepare(session: requests.Session, endpoint: str) -> None:
    """Give ``session`` (built by pypsrp for ``endpoint``) the lean ``prepare_request`` described above."""
    stock = session.prepare_request
    prepared_url = requests.PreparedRequest()
    prepared_url.prepare_url(endpoint, None)
    url = prepared_url.url

    def prepare_request(request: requests.Request) -> requests.PreparedRequest:
        if not _plain(session, request, endpoint):
            return stock(request)
        headers = _merged_headers(session.headers, request.headers)
        if not _valid(headers):  # the stock way refuses it, naming the header (InvalidHeader)
            return stock(request)
        p = requests.PreparedRequest()
        p.method = "POST"
        p.url = url
        p.headers = headers
        p._cookies = RequestsCookieJar()  # type: ignore[attr-defined]  # as prepare_cookies sets it
        body = request.data if request.data else None
        p.body = body
        p.prepare_content_length(body)
        p.prepare_auth(session.auth, url)
        p.prepare_hooks(default_hooks())
        return p

    session.prepare_request = prepare_request  # type: ignore[method-assign]


def _plain(session: requests.Session, request: requests.Request, endpoint: str) -> bool:
    """A request exactly as pypsrp makes it, on a session whose merged settings add nothing to it."""
    return (request.method == "POST" and request.url == endpoint and session.auth is not None
            and (request.data is None or isinstance(request.data, bytes))
            and not request.files and request.json is None and not request.params and request.auth is None
            and not request.cookies and _no_hooks(request.hooks)
            and isinstance(request.headers, dict | CaseInsensitiveDict)
            and all(isinstance(k, str) and isinstance(v, str | None) for k, v in request.headers.items())
            and len(session.cookies) == 0 and not session.params and _no_hooks(session.hooks))


def _no_hooks(hooks: Any) -> bool:
    return not hooks or all(not handlers for handlers in hooks.values())


def _valid(headers: CaseInsensitiveDict[str]) -> bool:
    """``prepare_headers``' ``check_header_validity`` for every header: no leading whitespace, CR or LF."""
    try:
        for header in headers.items():
            check_header_validity(header)
    except InvalidHeader:
        return False
    return True


def _merged_headers(session_headers: Any, request_headers: Any) -> CaseInsensitiveDict[str]:
    """``merge_setting(request, session, CaseInsensitiveDict)`` then ``prepare_headers``, for plain str
    headers (checked by ``_plain``): same keys, same order, same spelling."""
    merged: CaseInsensitiveDict[Any] = CaseInsensitiveDict(session_headers)
    merged.update(request_headers)
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for name, value in merged.items():
        if value is not None:
            headers[name] = value
    return headers
