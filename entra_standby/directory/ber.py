"""The few BER (X.690) shapes LDAPv3 messages use: definite lengths, one-byte tags, no indefinite forms.

LDAP (RFC 4511 section 5.1) only uses definite-length BER with low tag numbers, so an encoder/decoder for
exactly that is short, and every byte the client sends or reads is visible here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import DirectoryError

UNIVERSAL, APPLICATION, CONTEXT = 0x00, 0x40, 0x80
CONSTRUCTED = 0x20
BOOLEAN, INTEGER, OCTET_STRING, ENUMERATED, SEQUENCE, SET = 0x01, 0x02, 0x04, 0x0A, 0x30, 0x31


class BerError(DirectoryError):
    """Bytes from the server that are not the BER LDAP uses."""


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + length(len(value)) + value


def integer(value: int, tag: int = INTEGER) -> bytes:
    size = max(1, (value.bit_length() + 8) // 8)  # room for the sign bit
    return tlv(tag, value.to_bytes(size, "big", signed=True))


def octets(value: bytes | str, tag: int = OCTET_STRING) -> bytes:
    return tlv(tag, value.encode("utf-8") if isinstance(value, str) else value)


def boolean(value: bool) -> bytes:
    return tlv(BOOLEAN, b"\xff" if value else b"\x00")


def sequence(*items: bytes, tag: int = SEQUENCE) -> bytes:
    return tlv(tag, b"".join(items))


@dataclass(frozen=True)
class Element:
    tag: int
    value: bytes

    @property
    def children(self) -> list[Element]:
        return decode_all(self.value)

    def as_int(self) -> int:
        return int.from_bytes(self.value, "big", signed=True) if self.value else 0

    def as_str(self) -> str:
        return self.value.decode("utf-8", "replace")


def decode(data: bytes, offset: int = 0) -> tuple[Element, int]:
    """One element at ``offset``: the element and the offset after it."""
    if offset + 2 > len(data):
        raise BerError("truncated BER element")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise BerError("multi-byte BER tags are not used by LDAP")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        size = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise BerError("unsupported or truncated BER length")
        size = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + size > len(data):
        raise BerError("truncated BER value")
    return Element(tag, data[pos:pos + size]), pos + size


def decode_all(data: bytes) -> list[Element]:
    out: list[Element] = []
    pos = 0
    while pos < len(data):
        element, pos = decode(data, pos)
        out.append(element)
    return out


def message_size(buffer: bytes) -> int | None:
    """Total size of the first complete TLV in ``buffer``, or None while its header is incomplete."""
    if len(buffer) < 2:
        return None
    first = buffer[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if len(buffer) < 2 + count:
        return None
    return 2 + count + int.from_bytes(buffer[2:2 + count], "big")
