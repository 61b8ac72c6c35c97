"""The runspace pool's opening messages, serialised once per run (issue 13): the Create pypsrp sends."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from pypsrp.complex_objects import ApartmentState, RunspacePoolState
from pypsrp.powershell import RunspacePool
from pypsrp.wsman import WSMan

from entra_standby import prepared_pool


def _recording_pool(max_size: int, **options: Any) -> tuple[RunspacePool, list[bytes]]:
    pool = RunspacePool(WSMan("127.0.0.1", username="u", password="p", ssl=False, auth="basic",
                              encryption="never"), **options)
    pool.id = "5B4AD27A-4BC6-4B7D-98B3-1D0B1FB0B7A1"
    pool._fragmenter.max_size = max_size
    pool._fragmenter.outgoing_counter = 3
    sent: list[bytes] = []

    def record(options: Any, open_content: ET.Element) -> None:
        sent.append(ET.tostring(options.pack()) + ET.tostring(open_content))

    def receive(*_: Any) -> list[Any]:  # the server's answers: the pool opens
        assert pool.state == RunspacePoolState.NEGOTIATION_SENT
        sent.append(b"receive")
        pool.state = RunspacePoolState.OPENED
        return []

    pool.shell.open = record  # type: ignore[assignment,method-assign]
    pool._receive = receive  # type: ignore[assignment,method-assign]
    return pool, sent


@pytest.mark.parametrize("max_size", [32_000, 400, 150])
@pytest.mark.parametrize("options", [{}, {"apartment_state": ApartmentState.MTA, "max_runspaces": 3}])
def test_the_create_request_is_byte_for_byte_opens(max_size: int, options: dict[str, Any]) -> None:
    """The tripwire for a pypsrp upgrade: the same creationXml and options, whatever the fragment size (one
    fragment, several), and the same fragment counter after."""
    theirs, expected = _recording_pool(max_size, **options)
    theirs.open()
    ours, sent = _recording_pool(max_size, **options)
    prepared_pool.open_pool(ours)
    assert sent == expected and len(sent) == 2 and sent[1] == b"receive"
    assert ours._fragmenter.outgoing_counter == theirs._fragmenter.outgoing_counter == 5
    assert ours.state == theirs.state == RunspacePoolState.OPENED


def test_the_messages_are_serialised_once_per_settings() -> None:
    pool, _ = _recording_pool(32_000)
    first = prepared_pool._messages(pool)
    assert prepared_pool._messages(_recording_pool(32_000)[0]) is first
    assert prepared_pool._messages(_recording_pool(32_000, max_runspaces=2)[0]) is not first


def test_an_opened_pool_is_left_alone_and_a_closed_one_refused() -> None:
    pool, sent = _recording_pool(32_000)
    pool.state = RunspacePoolState.OPENED
    prepared_pool.open_pool(pool)
    pool.state = RunspacePoolState.CLOSED
    with pytest.raises(Exception, match="Runspace Pool"):
        prepared_pool.open_pool(pool)
    assert sent == []
