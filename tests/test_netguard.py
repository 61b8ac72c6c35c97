"""The loopback guard itself: it must see what would leave loopback, and only that."""

from __future__ import annotations

import socket
from typing import Any

import netguard
import pytest


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "localhost", "::1"])
def test_real_loopback_lookups_pass(host: str) -> None:
    netguard.take()
    socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)  # a real call: the installed hook sees it
    assert netguard.take() == []


# The events are fed to the hook directly: the real calls would leave loopback, which is the point.
@pytest.mark.parametrize(("event", "args"), [
    ("socket.getaddrinfo", ("example.invalid", 80, 0, 0, 0)),
    ("socket.getaddrinfo", ("10.0.0.1", 80, 0, 0, 0)),
    ("socket.gethostbyname", ("example.invalid",)),
    ("socket.gethostbyaddr", ("127.0.0.11",)),  # reverse lookups ask the resolver even for loopback
    ("socket.connect", (None, ("192.0.2.1", 9))),
    ("socket.sendto", (None, ("8.8.8.8", 53))),
])
def test_traffic_beyond_loopback_is_recorded(event: str, args: tuple[Any, ...]) -> None:
    netguard.take()
    netguard._hook(event, args)
    assert len(netguard.take()) == 1


@pytest.mark.parametrize(("event", "args"), [
    ("socket.connect", (None, ("127.0.0.12", 5986))),
    ("socket.connect", (None, "/tmp/some.sock")),
    ("socket.getaddrinfo", (None, 0, 0, 0, 0)),
    ("socket.bind", (None, ("0.0.0.0", 0))),
])
def test_loopback_and_local_events_are_not_recorded(event: str, args: tuple[Any, ...]) -> None:
    netguard.take()
    netguard._hook(event, args)
    assert netguard.take() == []
