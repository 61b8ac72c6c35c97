"""A small LDAPv3 client: bind (SASL GSS-SPNEGO with signing and sealing, or simple over TLS) and search.

Only what the directory reads need: RFC 4511 BindRequest/SearchRequest with controls, SearchResultEntry/Done.
Authentication and the SASL security layer come from pyspnego (NTLM in pure Python; Kerberos through the
``kerberos`` extra's gssapi), which signs and seals every message after the bind on port 389 (RFC 4752
section 3.1 framing: a 4-byte length, then the wrapped message). Why not ldap3/python-ldap: docs/contracts.md.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from . import ber
from .errors import DirectoryError

SCOPE_BASE, SCOPE_ONE, SCOPE_SUBTREE = 0, 1, 2
SD_FLAGS_OID = "1.2.840.113556.1.4.801"  # LDAP_SERVER_SD_FLAGS_OID, [MS-ADTS] 3.1.1.3.4.1.11
DACL_SECURITY_INFORMATION = 0x4

_BIND_RESPONSE, _SEARCH_ENTRY, _SEARCH_DONE, _SEARCH_REFERENCE = 0x61, 0x64, 0x65, 0x73
_SUCCESS, _SASL_BIND_IN_PROGRESS, _STRONGER_AUTH_REQUIRED, _INVALID_CREDENTIALS = 0, 14, 8, 49
_MAX_MESSAGE = 16 * 1024 * 1024  # a reply larger than this is not one the reads here can cause

# Filters (RFC 4511 section 4.5.1), as encoded bytes.


def eq(attribute: str, value: str | bytes) -> bytes:
    return ber.sequence(ber.octets(attribute), ber.octets(value), tag=ber.CONTEXT | ber.CONSTRUCTED | 3)


def present(attribute: str) -> bytes:
    return ber.octets(attribute, tag=ber.CONTEXT | 7)


def and_(*filters: bytes) -> bytes:
    return ber.sequence(*filters, tag=ber.CONTEXT | ber.CONSTRUCTED | 0)


def escape_value(value: str) -> str:
    """A filter value needs no escaping when encoded as BER; this only refuses NULs for the error text."""
    if "\x00" in value:
        raise DirectoryError(f"invalid value {value!r} for an LDAP filter")
    return value


@dataclass(frozen=True)
class Entry:
    dn: str
    attributes: dict[str, list[bytes]] = field(default_factory=dict)  # lower-case names

    def first(self, name: str) -> bytes | None:
        values = self.attributes.get(name.lower())
        return values[0] if values else None

    def text(self, name: str) -> str | None:
        value = self.first(name)
        return value.decode("utf-8", "replace") if value is not None else None


class LdapConnection:
    """One connection to one DC. ``bind_*`` once, then ``search``; use as a context manager."""

    def __init__(self, host: str, port: int, *, tls: bool, timeout: float, ca_file: str | None = None,
                 tls_name: str | None = None) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self._next_id = 1
        self._context: Any = None  # the pyspnego context while the SASL layer signs and seals
        self._plain = b""  # unwrapped bytes not yet parsed into messages
        try:
            raw = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise DirectoryError(f"{host}:{port}: cannot connect ({exc.strerror or exc})",
                                 fix="check the directory.servers entry and that the DC listens there",
                                 kind="unreachable") from None
        self._sock: socket.socket = raw
        if tls:
            context = ssl.create_default_context(cafile=ca_file)
            try:
                self._sock = context.wrap_socket(raw, server_hostname=tls_name or host)
            except (ssl.SSLError, OSError) as exc:
                raw.close()
                raise DirectoryError(f"{host}:{port}: TLS handshake failed ({exc})",
                                     fix="set directory.ca_bundle to the CA of the DC's LDAPS certificate "
                                     "and directory.tls_server_name to the name in it", kind="auth") from None

    def __enter__(self) -> LdapConnection:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError, DirectoryError):
            self._send(ber.sequence(ber.integer(self._take_id()), ber.tlv(0x42, b"")))  # UnbindRequest
        self._sock.close()

    # --- bind ------------------------------------------------------------------------------------------

    def bind_simple(self, name: str, password: str) -> None:
        if not self.tls:
            raise DirectoryError("a simple bind would send the password in clear on port 389",
                                 fix="use directory.transport: ldaps, or auth: kerberos / ntlm")
        op = ber.sequence(ber.integer(3), ber.octets(name), ber.octets(password, tag=ber.CONTEXT | 0),
                          tag=0x60)
        code, message, _ = self._bind_exchange(op)
        self._check_bind(code, message, name)

    def bind_sasl(self, context: Any, who: str) -> None:
        """GSS-SPNEGO (the mechanism AD uses, [MS-ADTS] 5.1.1.1.1) with a pyspnego client ``context``.

        On plain LDAP the context must have been created with integrity and confidentiality: every later
        message is sealed. Over TLS no layer is negotiated (AD refuses sealing inside TLS)."""
        token = context.step()
        while True:
            creds = ber.sequence(ber.octets("GSS-SPNEGO"), *([ber.octets(token)] if token else []),
                                 tag=ber.CONTEXT | ber.CONSTRUCTED | 3)
            code, message, server_token = self._bind_exchange(
                ber.sequence(ber.integer(3), ber.octets(""), creds, tag=0x60))
            if code not in (_SUCCESS, _SASL_BIND_IN_PROGRESS):
                self._check_bind(code, message, who)
            if server_token and not context.complete:
                token = context.step(server_token)
            if code == _SUCCESS:
                break
        if not context.complete:
            raise DirectoryError(f"{self.host}: the DC accepted the bind but did not complete mutual "
                                 "authentication", kind="auth")
        if not self.tls:
            self._context = context

    def _bind_exchange(self, op: bytes) -> tuple[int, str, bytes | None]:
        msg_id = self._take_id()
        self._send(ber.sequence(ber.integer(msg_id), op))
        reply = self._receive(msg_id)
        if reply.tag != _BIND_RESPONSE:
            raise DirectoryError(f"{self.host}: unexpected reply to a bind (tag {reply.tag:#x})")
        parts = reply.children
        server_token = next((p.value for p in parts[3:] if p.tag == (ber.CONTEXT | 7)), None)
        return parts[0].as_int(), parts[2].as_str(), server_token

    def _check_bind(self, code: int, message: str, who: str) -> None:
        if code == _SUCCESS:
            return
        if code == _INVALID_CREDENTIALS:
            raise DirectoryError(f"{self.host}: the DC rejected the credentials of {who} ({message.strip()})",
                                 fix="check directory.username and its password source", kind="auth")
        if code == _STRONGER_AUTH_REQUIRED:
            raise DirectoryError(f"{self.host}: the DC requires a signed or encrypted bind "
                                 f"({message.strip()})",
                                 fix="use auth: kerberos or ntlm (signed and sealed), or transport: ldaps",
                                 kind="auth")
        raise DirectoryError(f"{self.host}: bind failed with LDAP result {code} ({message.strip()})",
                             kind="auth")

    # --- search ----------------------------------------------------------------------------------------

    def search(self, base: str, scope: int, search_filter: bytes, attributes: Sequence[str], *,
               sd_flags: int | None = None, size_limit: int = 0) -> list[Entry]:
        """Entries below ``base``; referrals are skipped. ``sd_flags`` adds the SD flags control so a
        non-admin reads nTSecurityDescriptor (DACL only: ``DACL_SECURITY_INFORMATION``)."""
        request = ber.sequence(
            ber.octets(base), ber.integer(scope, tag=ber.ENUMERATED), ber.integer(0, tag=ber.ENUMERATED),
            ber.integer(size_limit), ber.integer(0), ber.boolean(False), search_filter,
            ber.sequence(*(ber.octets(a) for a in attributes)), tag=0x63)
        controls = b""
        if sd_flags is not None:
            value = ber.sequence(ber.integer(sd_flags))
            control = ber.sequence(ber.octets(SD_FLAGS_OID), ber.boolean(True), ber.octets(value))
            controls = ber.sequence(control, tag=ber.CONTEXT | ber.CONSTRUCTED | 0)
        msg_id = self._take_id()
        self._send(ber.sequence(ber.integer(msg_id), request, controls))
        entries: list[Entry] = []
        while True:
            reply = self._receive(msg_id)
            if reply.tag == _SEARCH_ENTRY:
                dn, attrs = reply.children[:2]
                values: dict[str, list[bytes]] = {}
                for attribute in attrs.children:
                    name, vals = attribute.children[:2]
                    values[name.as_str().lower()] = [v.value for v in vals.children]
                entries.append(Entry(dn.as_str(), values))
            elif reply.tag == _SEARCH_DONE:
                parts = reply.children
                code = parts[0].as_int()
                if code != _SUCCESS:
                    raise DirectoryError(f"{self.host}: search of {base} failed with LDAP result {code} "
                                         f"({parts[2].as_str().strip()})", code=code)
                return entries
            elif reply.tag != _SEARCH_REFERENCE:
                raise DirectoryError(f"{self.host}: unexpected reply to a search (tag {reply.tag:#x})")

    # --- wire ------------------------------------------------------------------------------------------

    def _take_id(self) -> int:
        msg_id = self._next_id
        self._next_id += 1
        return msg_id

    def _send(self, message: bytes) -> None:
        if self._context is not None:
            sealed = self._context.wrap(message, encrypt=True).data
            message = len(sealed).to_bytes(4, "big") + sealed
        try:
            self._sock.sendall(message)
        except OSError as exc:
            raise DirectoryError(f"{self.host}: connection lost while sending ({exc})",
                                 kind="unreachable") from None

    def _read_exact(self, size: int) -> bytes:
        chunks: list[bytes] = []
        while size:
            try:
                chunk = self._sock.recv(min(size, 65536))
            except TimeoutError:
                raise DirectoryError(f"{self.host}: no answer from the DC in time",
                                     fix="raise directory.timeout or check the DC",
                                     kind="unreachable") from None
            except OSError as exc:
                raise DirectoryError(f"{self.host}: connection lost ({exc})", kind="unreachable") from None
            if not chunk:
                raise DirectoryError(f"{self.host}: the DC closed the connection", kind="unreachable")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _next_message(self) -> bytes:
        while True:
            size = ber.message_size(self._plain)
            if size is not None and size > _MAX_MESSAGE:
                raise DirectoryError(f"{self.host}: reply of {size} bytes is too large")
            if size is not None and len(self._plain) >= size:
                message, self._plain = self._plain[:size], self._plain[size:]
                return message
            if self._context is not None:
                frame = int.from_bytes(self._read_exact(4), "big")
                if frame > _MAX_MESSAGE:
                    raise DirectoryError(f"{self.host}: SASL frame of {frame} bytes is too large")
                self._plain += self._context.unwrap(self._read_exact(frame)).data
            else:
                self._plain += self._read_exact(max(1, (size or 2) - len(self._plain)))

    def _receive(self, msg_id: int) -> ber.Element:
        while True:
            message, _ = ber.decode(self._next_message())
            parts = message.children
            if len(parts) < 2:
                raise DirectoryError(f"{self.host}: malformed LDAP message")
            got = parts[0].as_int()
            if got == 0 and parts[1].tag == 0x78:  # notice of disconnection ([MS-ADTS] / RFC 4511 4.4.1)
                reason = parts[1].children[2].as_str()
                raise DirectoryError(f"{self.host}: the DC ended the session ({reason})", kind="auth")
            if got == msg_id:
                return parts[1]
