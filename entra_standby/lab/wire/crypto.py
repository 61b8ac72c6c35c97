"""WinRM message encryption: ``multipart/encrypted`` HTTP-SPNEGO-session-encrypted bodies.

Each part is ``<u32 LE signature length><signature><sealed SOAP>`` preceded by the MIME headers pypsrp
writes and expects. NTLM sealing is RC4 with sequence numbers, so wrap/unwrap must happen in request order
on the connection's own context (the handler serialises them per connection).
"""

from __future__ import annotations

import re
import struct
from typing import Any

PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = "Encrypted Boundary"
CONTENT_TYPE = f'multipart/encrypted;protocol="{PROTOCOL}";boundary="{BOUNDARY}"'

_BOUNDARY_PARAM = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_LENGTH = re.compile(rb"Length=(\d+)")
_OCTET_STREAM = b"\tContent-Type: application/octet-stream\r\n"


class EncryptionError(Exception):
    """An encrypted body could not be parsed or its signature did not verify."""


def is_encrypted(content_type: str) -> bool:
    return content_type.lower().startswith(("multipart/encrypted", "multipart/x-multi-encrypted"))


def unwrap(context: Any, content_type: str, body: bytes) -> bytes:
    """Decrypt a multipart/encrypted body with the connection's SPNEGO context."""
    match = _BOUNDARY_PARAM.search(content_type)
    if not match:
        raise EncryptionError("no MIME boundary in Content-Type")
    boundary = match.group(1).encode()
    parts = [p for p in re.split(rb"--\s*" + re.escape(boundary) + rb"(?:--)?\r\n", body) if p]
    if len(parts) < 2 or len(parts) % 2:
        raise EncryptionError("the encrypted body does not have header/payload part pairs")
    plain = b""
    for i in range(0, len(parts), 2):
        length_match = _LENGTH.search(parts[i])
        if not length_match:
            raise EncryptionError("an encrypted part has no OriginalContent Length")
        part = parts[i + 1]
        # pypsrp puts the octet-stream header first: a view past it spares two copies of a ~200 KB body
        payload = (memoryview(part)[len(_OCTET_STREAM):] if part.startswith(_OCTET_STREAM)
                   else memoryview(part.replace(_OCTET_STREAM, b"", 1)))
        if len(payload) < 4:
            raise EncryptionError("an encrypted part is truncated")
        (sig_len,) = struct.unpack("<I", payload[:4])
        if sig_len > len(payload) - 4:
            raise EncryptionError("an encrypted part's signature length is out of range")
        try:
            data = bytes(context.unwrap_winrm(bytes(payload[4:4 + sig_len]), payload[4 + sig_len:]))
        except Exception as exc:  # spnego raises BadMICError & co; the caller answers 400
            raise EncryptionError(f"decryption failed: {type(exc).__name__}") from None
        if len(data) != int(length_match.group(1)):
            raise EncryptionError("decrypted length does not match OriginalContent Length")
        plain += data
    return plain


def wrap(context: Any, plain: bytes) -> bytes:
    """Encrypt a SOAP response with the connection's SPNEGO context, framed like pypsrp's own requests."""
    header, sealed, padding = context.wrap_winrm(plain)
    head = "\r\n".join([
        f"--{BOUNDARY}",
        f"\tContent-Type: {PROTOCOL}",
        f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={len(plain) + padding}",
        f"--{BOUNDARY}",
        "\tContent-Type: application/octet-stream",
        "",
    ]).encode()
    tail = f"--{BOUNDARY}--\r\n".encode()
    return head + struct.pack("<I", len(header)) + bytes(header) + bytes(sealed) + tail
