"""The one ``requests.Session`` msal and the Graph calls share: default timeout, explicit CA, last status.

msal calls ``session.get/post`` without ``timeout`` or ``verify``. ``REQUESTS_CA_BUNDLE`` (set on many
machines) would replace a session-level ``verify``, so the CA goes on every request instead. msal turns a
token-endpoint 429 into a plain dict without the HTTP status; the session remembers the last response's
status and ``Retry-After`` so the retry policy can tell throttling from a refusal.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests


@dataclass(frozen=True)
class LastResponse:
    method: str
    url: str
    status: int
    retry_after: float | None
    error_code: str | None = None  # AADSTS code of an identity-platform error body
    error_detail: str | None = None  # its description without the Trace ID tail


def first_line(text: str) -> str:
    """Entra's description without its Trace ID / Correlation ID / Timestamp tail, on one line."""
    head = text.split("\r\nTrace ID:")[0].split("\nTrace ID:")[0]
    return " ".join(head.split())


def _error_summary(response: requests.Response) -> tuple[str | None, str | None]:
    if response.status_code < 400:
        return None, None
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    description = str(body.get("error_description") or "")
    head = first_line(description)
    codes = body.get("error_codes")
    code = f"AADSTS{codes[0]}" if isinstance(codes, list) and codes else None
    if code is None:
        match = re.search(r"AADSTS\d+", head)
        code = match.group(0) if match else None
    return code, head or None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form; HTTP dates are rare on Entra/Graph)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class CloudSession(requests.Session):
    """A session with a default timeout and CA on every request; loopback sessions ignore proxy env vars."""

    def __init__(self, *, timeout: float, ca_bundle: Path | None, trust_env: bool = True) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.verify_with: str | bool = str(ca_bundle) if ca_bundle is not None else True
        self.trust_env = trust_env
        self._local = threading.local()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        # An explicit per-request verify survives REQUESTS_CA_BUNDLE; verify=True still lets that variable
        # choose the system bundle, which is what a user who set it wants for the real cloud.
        if kwargs.get("verify") is None:
            kwargs["verify"] = self.verify_with
        response = super().request(method, url, *args, **kwargs)
        code, detail = _error_summary(response)
        self._local.last = LastResponse(str(method), str(url), response.status_code,
                                        parse_retry_after(response.headers.get("Retry-After")), code, detail)
        return response

    @property
    def last_response(self) -> LastResponse | None:
        """The last response this thread received (None before the first one)."""
        last: LastResponse | None = getattr(self._local, "last", None)
        return last

    def forget_last_response(self) -> None:
        self._local.last = None
