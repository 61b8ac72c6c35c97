"""The lab never asks the machine's resolver anything: starting it makes no reverse-DNS query.

``HTTPServer.server_bind`` calls ``socket.getfqdn`` (a PTR query for the bound address); the lab's listeners
bind without it. Any name lookup while a lab starts and answers is recorded through the audit hook and fails.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from entra_standby.lab import Lab

SCENARIO = Path(__file__).parents[2] / "fixtures" / "scenarios" / "healthy-pair.yml"
_LOOKUPS = ("socket.gethostbyaddr", "socket.getnameinfo", "socket.gethostbyname")
_seen: list[tuple[str, Any]] = []
_recording = False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if _recording and event in _LOOKUPS:
        _seen.append((event, args))


sys.addaudithook(_hook)


def test_starting_the_lab_and_its_cloud_makes_no_name_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    global _recording
    def refuse(name: str = "") -> str:
        raise AssertionError(f"socket.getfqdn({name!r}) called: a reverse-DNS lookup")

    monkeypatch.setattr(socket, "getfqdn", refuse)
    _seen.clear()
    _recording = True
    try:
        with Lab(SCENARIO) as lab:
            assert lab.servers, "the lab started no server"
    finally:
        _recording = False
    assert _seen == [], _seen
