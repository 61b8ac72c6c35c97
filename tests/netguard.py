"""Issue 12: tests send nothing beyond 127.0.0.0/8, not even a DNS lookup.

A process-wide audit hook (``sys.addaudithook``; hooks cannot be removed, so it is installed once) sees
``socket.connect``, ``socket.sendto``, ``socket.getaddrinfo``, ``socket.gethostbyname`` and
``socket.gethostbyaddr`` and records every one that could leave loopback: a connection to, or a name lookup
of, anything but a loopback literal or ``localhost``, and every reverse lookup (it asks the resolver even
for 127.0.0.x). ``tests/conftest.py`` fails the test during which one was recorded.

One known leak is counted instead of failed, until the lab stops making it: ``http.server.HTTPServer
.server_bind`` calls ``socket.getfqdn`` (a reverse lookup) whenever a lab listener binds. The count is
printed at the end of the session.
"""

from __future__ import annotations

import ipaddress
import sys
import threading
from typing import Any

_lock = threading.Lock()
violations: list[str] = []
known_leaks: dict[str, int] = {}
_installed = False

_KNOWN = (("server_bind", "http/server.py"),)  # (function, file suffix) of a tolerated reverse lookup


def _is_loopback_name(host: Any) -> bool:
    if host is None:
        return True  # bind / wildcard lookups
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").lower()
    if name in ("localhost", "localhost.localdomain", "ip6-localhost", ""):
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


def _known_caller() -> str | None:
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code
        for function, suffix in _KNOWN:
            if code.co_name == function and code.co_filename.replace("\\", "/").endswith(suffix):
                return f"{suffix}:{function}"
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _record(what: str) -> None:
    known = _known_caller()
    with _lock:
        if known is not None:
            known_leaks[known] = known_leaks.get(known, 0) + 1
        else:
            violations.append(what)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not event.startswith("socket."):
        return
    if event in ("socket.connect", "socket.sendto"):
        address = args[1]
        if isinstance(address, tuple) and address and not _is_loopback_name(address[0]):
            _record(f"{event} to {address[0]}:{address[1] if len(address) > 1 else ''}")
    elif event in ("socket.getaddrinfo", "socket.gethostbyname"):
        if not _is_loopback_name(args[0]):
            _record(f"{event} of {args[0]!r}")
    elif event == "socket.gethostbyaddr":
        _record(f"{event} of {args[0]!r} (a reverse DNS query)")


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    sys.addaudithook(_hook)


def take() -> list[str]:
    """The violations recorded since the last call."""
    with _lock:
        found = list(violations)
        violations.clear()
    return found
