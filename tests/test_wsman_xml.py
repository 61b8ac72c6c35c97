"""WS-Man envelopes written without ElementTree's writer (issue 13): byte for byte what pypsrp sends."""

from __future__ import annotations

import itertools
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from labkit import audit_first_server
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.shell import SignalCode
from pypsrp.wsman import WSMan

from entra_standby import wsman_xml
from entra_standby.remoting import _BoundedWSMan

SCENARIOS = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios"


class _Sent(Exception):
    """Stops a request once its bytes are recorded (no server needed to compare what would be sent)."""


@pytest.fixture
def fixed_uuids(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Every uuid4 from a counter, restartable, so the stock and the lean path get the same ids."""
    counter = itertools.count()

    def restart() -> None:
        nonlocal counter
        counter = itertools.count()

    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counter) * 7919 + 12345))
    yield restart


def _sent(wsman_cls: type[WSMan], operation: Callable[[RunspacePool], Any], **options: Any) -> list[bytes]:
    """What ``operation`` makes the WSMan send (each request's body, before encryption)."""
    wsman = wsman_cls("127.0.0.1", username="u", password="p", ssl=False, auth="ntlm", encryption="always",
                      operation_timeout=20, **options)
    sent: list[bytes] = []

    def record(message: bytes, **_: Any) -> bytes:
        sent.append(message)
        raise _Sent()

    wsman.transport.send = record  # type: ignore[method-assign]
    pool = RunspacePool(wsman)
    pool.protocol_version = "2.3"
    pool.shell.id = "C7A3B4E0-0F0D-4C43-9C1B-1B2A3C4D5E6F"
    pool.shell._selector_set = _selector(pool.shell.id)
    with pytest.raises(_Sent):
        operation(pool)
    return sent


def _selector(shell_id: str) -> Any:
    from pypsrp.wsman import SelectorSet

    selectors = SelectorSet()
    selectors.add_option("ShellId", shell_id)
    return selectors


def _pipeline(pool: RunspacePool) -> PowerShell:
    ps = PowerShell(pool)
    ps.id = "0A9C3AB2-20F3-4E0C-9D8A-5C1F4A9B2E77"
    return ps


def _create(pool: RunspacePool) -> None:
    pool.shell.id = None
    pool.open()


def _delete(pool: RunspacePool) -> None:
    pool.shell.opened = True
    pool.shell.close()


_OPERATIONS: dict[str, Callable[[RunspacePool], Any]] = {
    "create": _create,
    "receive pool": lambda pool: pool.shell.receive("stdout"),
    "receive pipeline": lambda pool: pool.shell.receive("stdout", command_id="0A9C3AB2-20F3", timeout=20),
    "command": lambda pool: pool.shell.command("", arguments=["AAAA" * 9000 + "<&>\"'"],
                                               command_id="0A9C3AB2-20F3-4E0C-9D8A-5C1F4A9B2E77"),
    "send": lambda pool: pool.shell.send("stdin", b"\x00\x01fragment" * 100, command_id="0A9C3AB2"),
    "send end": lambda pool: pool.shell.send("stdin", b"last", command_id="0A9C3AB2", end=True),
    "signal": lambda pool: pool.shell.signal(SignalCode.PS_CTRL_C, "0A9C3AB2-20F3-4E0C-9D8A-5C1F4A9B2E77"),
    "delete": _delete,
    "invoke": lambda pool: _pipeline(pool).add_script("Get-Date").invoke(),
}


@pytest.mark.parametrize("name", list(_OPERATIONS))
def test_every_request_is_byte_for_byte_pypsrps(name: str, fixed_uuids: Callable[[], None]) -> None:
    """The tripwire for a pypsrp upgrade: the lean WSMan sends exactly what pypsrp's own sends."""
    operation = _OPERATIONS[name]
    fixed_uuids()
    theirs = _sent(WSMan, operation)
    fixed_uuids()
    ours = _sent(_BoundedWSMan, operation)
    assert ours == theirs and len(ours) == 1
    assert b"<s:Envelope xmlns:" in ours[0]


@pytest.mark.parametrize("options", [{"locale": "de-DE", "data_locale": "fr-FR"}, {"data_locale": ""}])
def test_other_locales_and_the_general_path_are_pypsrps(options: dict[str, str],
                                                        fixed_uuids: Callable[[], None]) -> None:
    """Other locales go in the template; an empty one takes the general path (pypsrp's header tree)."""
    for operation in (_OPERATIONS["receive pool"], _OPERATIONS["command"]):
        fixed_uuids()
        theirs = _sent(WSMan, operation, **options)
        fixed_uuids()
        assert _sent(_BoundedWSMan, operation, **options) == theirs


def test_the_payload_size_is_pypsrps(fixed_uuids: Callable[[], None]) -> None:
    for size in (153600, 512000, 8192):
        fixed_uuids()
        theirs = WSMan("127.0.0.1", username="u", password="p", ssl=False, auth="ntlm",
                       max_envelope_size=size)
        fixed_uuids()
        ours = _BoundedWSMan("127.0.0.1", username="u", password="p", ssl=False, auth="ntlm",
                             max_envelope_size=size)
        assert ours.max_payload_size == theirs.max_payload_size
        theirs.update_max_payload_size(size * 2)
        ours.update_max_payload_size(size * 2)
        assert ours.max_payload_size == theirs.max_payload_size


def _tree(text: str) -> ET.Element:
    root = ET.Element("{http://www.w3.org/2003/05/soap-envelope}Envelope")
    child = ET.SubElement(root, "{http://schemas.microsoft.com/wbem/wsman/1/windows/shell}Stream",
                          {"Name": "a\t\"b\"\r\n<c>", "{http://www.w3.org/XML/1998/namespace}lang": "en-US"})
    child.text = text
    child.tail = "&tail"
    ET.SubElement(root, "creationXml", xmlns="http://schemas.microsoft.com/powershell").text = ""
    return root


@pytest.mark.parametrize("text", ["", "plain", "<&>]]>", "ünïcødé €", "\x85 \u2028"])
def test_to_bytes_escapes_as_elementtree_does(text: str) -> None:
    root = _tree(text)
    assert wsman_xml.to_bytes(root) == ET.tostring(root, encoding="utf-8", method="xml")


@pytest.mark.parametrize("build", [
    lambda: ET.Element("{urn:not-registered}Thing"),
    lambda: ET.Comment("no comments"),
    lambda: _with(ET.Element("plain"), text="\ud800"),
])
def test_what_to_bytes_does_not_write_falls_back_to_elementtree(build: Callable[[], ET.Element]) -> None:
    root = build()
    with pytest.raises(wsman_xml.Unsupported):
        wsman_xml.to_bytes(root)
    if isinstance(root.tag, str):  # the fallback writes what ElementTree writes (not comments)
        assert wsman_xml._bytes(root) == ET.tostring(root, encoding="utf-8", method="xml")


def _with(element: ET.Element, text: str) -> ET.Element:
    element.text = text
    return element


def test_a_host_audit_sends_elementtrees_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Against the lab: every envelope of a real audit (Create, Receives, Command, Delete) is what pypsrp's
    ``invoke`` writes with ElementTree for the same arguments (its message id aside, drawn at random)."""
    seen: list[str] = []
    original = wsman_xml.envelope

    def checked(wsman: Any, action: str, resource_uri: str, resource: ET.Element | None,
                option_set: Any = None, selector_set: Any = None,
                timeout: int | None = None) -> tuple[str, bytes]:
        message_id, ours = original(wsman, action, resource_uri, resource, option_set, selector_set,
                                    timeout)
        root = ET.Element("{http://www.w3.org/2003/05/soap-envelope}Envelope")
        _, header = wsman._create_header(action, resource_uri, option_set, selector_set, timeout)
        header.find("{*}MessageID").text = message_id
        root.append(header)
        body = ET.SubElement(root, "{http://www.w3.org/2003/05/soap-envelope}Body")
        if resource is not None:
            body.append(resource)
        assert ours == ET.tostring(root, encoding="utf-8", method="xml")
        seen.append(action.rsplit("/", 1)[-1])
        return message_id, ours

    monkeypatch.setattr(wsman_xml, "envelope", checked)
    outputs = audit_first_server()
    assert all(isinstance(out, str) for out in outputs.values()), outputs
    assert {"Create", "Receive", "Command", "Delete"} <= set(seen), seen
