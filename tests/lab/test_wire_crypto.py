"""Unsealing multipart/encrypted bodies: pypsrp's framing, several parts, and every malformed part refused."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import pytest
import spnego

from entra_standby.lab.wire import crypto
from entra_standby.lab.wire.auth import ConnectionAuth, LabCredentials, NtlmUserStore

CREDS = LabCredentials(username="LAB\\auditor", password="S3cret-Passw0rd")
HEADER = b"\tContent-Type: application/octet-stream\r\n"


@pytest.fixture
def pair() -> Iterator[tuple[Any, Any]]:
    """(initiator, acceptor) NTLM contexts, established through the lab's own ConnectionAuth."""
    users = NtlmUserStore(CREDS)
    users.open()
    try:
        client = spnego.client("LAB\\auditor", CREDS.password, hostname="lab", protocol="negotiate")
        auth = ConnectionAuth(CREDS, tls=False, allow_basic=False, cbt=None, users=users)
        token = client.step() or b""
        while True:
            outcome = auth.authenticate("Negotiate " + base64.b64encode(token).decode(), force_fail=False)
            answer = next((v for k, v in outcome.headers if k == "WWW-Authenticate"), "")
            if answer.startswith("Negotiate "):  # the acceptor's last token (mechListMIC) too, as pypsrp does
                token = client.step(base64.b64decode(answer.split(" ", 1)[1])) or b""
            if outcome.ok:
                break
        yield client, auth.context
    finally:
        users.close()


def _part(context: Any, plain: bytes, header_first: bool = True) -> bytes:
    """One header/payload pair as pypsrp writes it (or with the octet-stream header moved)."""
    sig, sealed, padding = context.wrap_winrm(plain)
    body = struct.pack("<I", len(sig)) + bytes(sig) + bytes(sealed)
    meta = (f"--{crypto.BOUNDARY}\r\n\tContent-Type: {crypto.PROTOCOL}\r\n"
            f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={len(plain) + padding}\r\n"
            f"--{crypto.BOUNDARY}\r\n").encode()
    return meta + (HEADER + body if header_first else body[:0] + HEADER.join([b"", body]))


def test_a_sealed_request_round_trips(pair: tuple[Any, Any]) -> None:
    client, server = pair
    for size in (1, 1500, 217_000):  # pypsrp never seals an empty body (its empty POST is plain)
        plain = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        assert crypto.unwrap(server, crypto.CONTENT_TYPE, crypto.wrap(client, plain)) == plain
        answer = b"<s:Envelope>answer</s:Envelope>"
        assert crypto.unwrap(client, crypto.CONTENT_TYPE, crypto.wrap(server, answer)) == answer


def test_several_parts_and_a_header_elsewhere_are_read(pair: tuple[Any, Any]) -> None:
    client, server = pair
    body = (_part(client, b"first ") + _part(client, b"second", header_first=False)
            + f"--{crypto.BOUNDARY}--\r\n".encode())
    assert crypto.unwrap(server, crypto.CONTENT_TYPE, body) == b"first second"


@pytest.mark.parametrize("damage", ["truncated", "signature-length", "bad-signature", "length", "no-length",
                                    "odd-parts", "no-boundary"])
def test_a_malformed_part_is_refused(pair: tuple[Any, Any], damage: str) -> None:
    client, server = pair
    body = crypto.wrap(client, b"<s:Envelope>request</s:Envelope>")
    content_type = crypto.CONTENT_TYPE
    start = body.index(HEADER) + len(HEADER)
    if damage == "truncated":
        body = body[:start + 2] + f"--{crypto.BOUNDARY}--\r\n".encode()
    elif damage == "signature-length":
        body = body[:start] + struct.pack("<I", 1 << 30) + body[start + 4:]
    elif damage == "bad-signature":
        body = body[:start + 8] + bytes([body[start + 8] ^ 1]) + body[start + 9:]
    elif damage == "length":
        body = body.replace(b"Length=", b"Length=9", 1)
    elif damage == "no-length":
        body = body.replace(b"Length=", b"Size=", 1)
    elif damage == "odd-parts":
        body = body.split(HEADER)[0]
    else:
        content_type = "multipart/encrypted"
    with pytest.raises(crypto.EncryptionError):
        crypto.unwrap(server, content_type, body)
