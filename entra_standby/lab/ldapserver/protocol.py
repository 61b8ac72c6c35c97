"""One LDAP session of the lab directory: bind, search, and a refusal for everything else.

What it serves is what the audit asks (``entra_standby.directory.read``) and what a DC answers to it:
* Bind: GSS-SPNEGO with NTLM through pyspnego's acceptor (the WinRM listeners' approach: a private user file
  per listener), and the session must negotiate integrity on plain LDAP, as a DC requiring LDAP signing does
  (strongerAuthRequired otherwise); simple binds only over TLS; an anonymous bind reads the rootDSE only.
* Search: the rootDSE; base/one/subtree searches with and/or/not/equality/presence filters; attributes by
  name, ``*``, ``1.1``; constructed attributes only when named (tokenGroups only on base scope, as AD);
  nTSecurityDescriptor only with the SD flags control (a non-admin reader without it, or asking for the SACL,
  gets none: it lacks SeSecurityPrivilege), honouring its owner/group/DACL bits.
* Anything else (modify, add, delete, compare, extended operations, substring or range filters, unknown
  critical controls) is answered with unwillingToPerform / unavailableCriticalExtension, never a guess.
Result codes and diagnostic texts are AD's (RFC 4511 4.1.9; [MS-ADTS] 3.1.1.3.1.9).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import spnego

from ...directory import ber
from ..wire.auth import LabCredentials, NtlmUserStore, _acceptor_file
from . import descriptors as sd
from .tree import DirectoryTree, DirEntry, normal_dn

log = logging.getLogger(__name__)

SD_FLAGS_OID = "1.2.840.113556.1.4.801"
SUCCESS, OPERATIONS_ERROR, PROTOCOL_ERROR, SIZE_LIMIT = 0, 1, 2, 4
AUTH_METHOD_NOT_SUPPORTED, STRONGER_AUTH, UNAVAILABLE_CRITICAL = 7, 8, 12
SASL_IN_PROGRESS, NO_SUCH_OBJECT, INVALID_CREDENTIALS, UNWILLING = 14, 32, 49, 53

_NEEDS_BIND = ("000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful "
               "bind must be completed on the connection., data 0, v4563")
_BAD_CREDENTIALS = "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563"
_SIGNING_REQUIRED = ("00002028: LdapErr: DSID-0C090259, comment: The server requires binds to turn on "
                     "integrity checking if SSL\\TLS are not already active on the connection, data 0, v4563")

# protocolOp tags (RFC 4511 4.2-4.12) of the requests answered with a refusal, and their response tags
_REFUSED = {0x66: 0x67, 0x68: 0x69, 0x4A: 0x6B, 0x6C: 0x6D, 0x6E: 0x6F, 0x77: 0x78}
_BIND, _UNBIND, _SEARCH, _ABANDON = 0x60, 0x42, 0x63, 0x50
_BINARY = frozenset({"objectsid", "objectguid"})
_USER_READ_RIGHTS = frozenset({"ntsecuritydescriptor"})  # returned only when named (and with SD flags)
_CONSTRUCTED = frozenset({"tokengroups", "msds-user-account-control-computed",
                          "msds-userpasswordexpirytimecomputed"})


class Refused(Exception):
    """A request the lab directory does not serve: answered with ``code`` and ``text``."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


@dataclass
class Reply:
    """What to send (LDAPMessage bytes), whether to close afterwards, and a SASL layer to start after it."""

    messages: list[bytes]
    close: bool = False
    layer: Any = None


def _message(msg_id: int, op: bytes) -> bytes:
    return ber.sequence(ber.integer(msg_id), op)


def result(tag: int, code: int, text: str = "", matched: str = "", extra: bytes = b"") -> bytes:
    return ber.sequence(ber.integer(code, tag=ber.ENUMERATED), ber.octets(matched), ber.octets(text), extra,
                        tag=tag)


class Session:
    """The state of one connection: who is bound, the SASL context while a bind is in progress."""

    def __init__(self, tree: DirectoryTree, creds: LabCredentials, users: NtlmUserStore, *,
                 tls: bool) -> None:
        self._tree = tree
        self._creds = creds
        self._users = users
        self._tls = tls
        self._context: Any = None
        self.bound: str | None = None  # the reader's name once a bind succeeded; "" for anonymous
        self.on_request: Callable[[str], None] = lambda _kind: None

    def handle(self, raw: bytes) -> Reply:
        try:
            message, _ = ber.decode(raw)
            parts = message.children
            msg_id, op = parts[0].as_int(), parts[1]
            controls = next((p for p in parts[2:] if p.tag == ber.CONTEXT | ber.CONSTRUCTED | 0), None)
        except (ber.BerError, IndexError):
            return self._disconnect("malformed LDAP message")
        if op.tag == _UNBIND:
            return Reply([], close=True)
        if op.tag == _ABANDON:
            return Reply([])
        if op.tag == _BIND:
            self.on_request("bind")
            return self._bind(msg_id, op)
        if op.tag == _SEARCH:
            self.on_request("search")
            return Reply(list(self._search(msg_id, op, controls)))
        if op.tag in _REFUSED:
            self.on_request("refused")
            return Reply([_message(msg_id, result(_REFUSED[op.tag], UNWILLING,
                                                  "the lab directory serves reads only"))])
        return self._disconnect(f"unknown LDAP operation (tag {op.tag:#x})")

    def _disconnect(self, why: str) -> Reply:
        # Notice of Disconnection (RFC 4511 4.4.1): message id 0, ExtendedResponse with its OID.
        notice = result(0x78, PROTOCOL_ERROR, why, extra=ber.octets("1.3.6.1.4.1.1466.20036", tag=0x8A))
        return Reply([_message(0, notice)], close=True)

    # -- bind ---------------------------------------------------------------------------------------------

    def _bind(self, msg_id: int, op: ber.Element) -> Reply:
        def answer(code: int, text: str = "", token: bytes | None = None, layer: Any = None) -> Reply:
            extra = ber.octets(token, tag=ber.CONTEXT | 7) if token else b""
            return Reply([_message(msg_id, result(0x61, code, text, extra=extra))], layer=layer)

        try:
            version, name, auth = op.children[:3]
        except ValueError:
            return self._disconnect("malformed bind request")
        self.bound = None
        if version.as_int() != 3:
            return answer(PROTOCOL_ERROR, "only LDAP version 3 is served")
        if auth.tag == ber.CONTEXT | 0:  # simple
            self._context = None
            if not name.value and not auth.value:
                self.bound = ""
                return answer(SUCCESS)
            if not self._tls:
                return answer(STRONGER_AUTH, _SIGNING_REQUIRED)
            if self._simple_ok(name.as_str(), auth.as_str()):
                self.bound = self._creds.user
                return answer(SUCCESS)
            log.info("lab directory: simple bind refused for %r", name.as_str())
            return answer(INVALID_CREDENTIALS, _BAD_CREDENTIALS)
        if auth.tag != ber.CONTEXT | ber.CONSTRUCTED | 3:
            return answer(AUTH_METHOD_NOT_SUPPORTED, "unknown authentication choice")
        sasl = auth.children
        mechanism = sasl[0].as_str() if sasl else ""
        if mechanism != "GSS-SPNEGO" or self._tls:
            self._context = None
            why = ("the lab directory serves GSS-SPNEGO on plain LDAP only (simple binds over TLS)"
                   if self._tls else f"SASL mechanism {mechanism!r} is not supported (GSS-SPNEGO is)")
            return answer(AUTH_METHOD_NOT_SUPPORTED, why)
        token = sasl[1].value if len(sasl) > 1 else b""
        try:
            with _acceptor_file(self._users.path):
                if self._context is None:
                    self._context = spnego.server(protocol="negotiate")
                out = self._context.step(token)
        except Exception as exc:  # wrong password, unknown user, garbage: a logon failure, as AD answers
            log.info("lab directory: SASL bind refused: %s", type(exc).__name__)
            self._context = None
            return answer(INVALID_CREDENTIALS, _BAD_CREDENTIALS)
        if not self._context.complete:
            return answer(SASL_IN_PROGRESS, token=out)
        context, self._context = self._context, None
        if not self._creds.matches(str(context.client_principal or "")):
            log.info("lab directory: SASL bind of %r refused: not the lab's reader", context.client_principal)
            return answer(INVALID_CREDENTIALS, _BAD_CREDENTIALS)
        if not context.context_attr & spnego.ContextReq.integrity:
            return answer(STRONGER_AUTH, _SIGNING_REQUIRED)
        self.bound = self._creds.user
        return answer(SUCCESS, token=out, layer=context)

    def _simple_ok(self, name: str, password: str) -> bool:
        reader = self._tree.reader
        named = self._creds.matches(name) or normal_dn(name) == normal_dn(reader.dn) or (
            name.casefold() == f"{reader.sam_account_name}@{self._tree.model.domain}".casefold())
        return named and hmac.compare_digest(password.encode(), self._creds.password.encode())

    # -- search -------------------------------------------------------------------------------------------

    def _search(self, msg_id: int, op: ber.Element, controls: ber.Element | None) -> Iterator[bytes]:
        def done(code: int, text: str = "", matched: str = "") -> bytes:
            return _message(msg_id, result(0x65, code, text, matched))

        try:
            base, scope, _deref, size_limit, _time, types_only, query, wanted = op.children[:8]
            sd_flags = _sd_flags(controls)
        except Refused as refused:
            yield done(refused.code, refused.text)
            return
        except (ValueError, ber.BerError):
            yield done(PROTOCOL_ERROR, "malformed search request")
            return
        names = [a.as_str() for a in wanted.children]
        if base.value == b"" and scope.as_int() == 0:
            attrs = self._tree.root_dse()
            if _matches_root(query):
                yield _message(msg_id, _entry("", _select(attrs, names, types_only.as_int() != 0)))
            yield done(SUCCESS)
            return
        if self.bound is None or self.bound == "":
            yield done(OPERATIONS_ERROR, _NEEDS_BIND)
            return
        target = self._tree.get(base.as_str())
        if target is None:
            yield done(NO_SUCH_OBJECT, "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT), data 0, "
                       "best match of:\n\t''\n", self._tree.model.base_dn)
            return
        limit = size_limit.as_int()
        sent = 0
        try:
            for entry in self._scope(target, scope.as_int()):
                if not _evaluate(query, entry):
                    continue
                if limit and sent >= limit:
                    yield done(SIZE_LIMIT, "")
                    return
                attrs = self._attributes(entry, names, scope.as_int(), sd_flags)
                yield _message(msg_id, _entry(entry.dn, _select(attrs, names, types_only.as_int() != 0)))
                sent += 1
        except Refused as refused:
            yield done(refused.code, refused.text)
            return
        yield done(SUCCESS)

    def _scope(self, target: DirEntry, scope: int) -> Iterator[DirEntry]:
        if scope == 0:
            yield target
            return
        if scope not in (1, 2):
            raise Refused(PROTOCOL_ERROR, f"unknown search scope {scope}")
        below = "," + normal_dn(target.dn)
        if scope == 2:
            yield target
        for key, entry in self._tree.entries.items():
            if key.endswith(below) and (scope == 2 or "," not in key[: -len(below)]):
                yield entry

    def _attributes(self, entry: DirEntry, names: list[str], scope: int,
                    sd_flags: int | None) -> dict[str, list[bytes]]:
        attrs = dict(entry.attributes)
        asked = {n.casefold() for n in names}
        readable = sd_flags is not None and not sd_flags & sd.SACL_SECURITY_INFORMATION
        if "ntsecuritydescriptor" in asked and sd_flags is not None and readable:
            attrs["nTSecurityDescriptor"] = [self._tree.descriptor(entry, sd_flags)]
        for name in names:
            key = name.casefold()
            if key == "tokengroups":
                if scope == 0 and entry.groups:  # AD computes it on base searches only
                    attrs["tokenGroups"] = [sd.sid_bytes(s) for s in entry.groups]
            elif key in _CONSTRUCTED:
                value = self._tree.computed(entry, name)
                if value is not None:
                    attrs[{"msds-user-account-control-computed": "msDS-User-Account-Control-Computed",
                           "msds-userpasswordexpirytimecomputed": "msDS-UserPasswordExpiryTimeComputed"}
                          .get(key, name)] = value
        return attrs


def _sd_flags(controls: ber.Element | None) -> int | None:
    """The SD flags control's value; an unknown critical control is refused ([MS-ADTS] 3.1.1.3.4.1)."""
    flags: int | None = None
    for control in controls.children if controls is not None else []:
        parts = control.children
        oid = parts[0].as_str()
        critical = any(p.tag == ber.BOOLEAN and p.value not in (b"", b"\x00") for p in parts[1:])
        value = next((p.value for p in parts[1:] if p.tag == ber.OCTET_STRING), None)
        if oid == SD_FLAGS_OID:
            inner = ber.decode(value)[0].children if value else []
            flags = inner[0].as_int() & 0xF if inner else 0xF
        elif critical:
            raise Refused(UNAVAILABLE_CRITICAL, f"the lab directory does not serve the control {oid}")
    return flags


def _select(attrs: dict[str, list[bytes]], names: list[str],
            types_only: bool) -> list[tuple[str, list[bytes]]]:
    asked = {n.casefold() for n in names if n != "*"}
    everything = not names or "*" in names
    if names == ["1.1"]:
        return []
    out = []
    for name, values in attrs.items():
        key = name.casefold()
        named = key in asked
        if named or (everything and key not in _USER_READ_RIGHTS and key not in _CONSTRUCTED):
            out.append((name, [] if types_only else values))
    return out


def _entry(dn: str, attrs: list[tuple[str, list[bytes]]]) -> bytes:
    body = b"".join(ber.sequence(ber.octets(name), ber.sequence(*map(ber.octets, values), tag=ber.SET))
                    for name, values in attrs)
    return ber.sequence(ber.octets(dn), ber.sequence(body), tag=0x64)


def _matches_root(query: ber.Element) -> bool:
    """The rootDSE matches (objectClass=*) only, which is what clients send for it."""
    return query.tag == ber.CONTEXT | 7 and query.as_str().casefold() == "objectclass"


def _evaluate(query: ber.Element, entry: DirEntry) -> bool:
    tag = query.tag
    if tag == ber.CONTEXT | ber.CONSTRUCTED | 0:
        return all(_evaluate(q, entry) for q in query.children)
    if tag == ber.CONTEXT | ber.CONSTRUCTED | 1:
        return any(_evaluate(q, entry) for q in query.children)
    if tag == ber.CONTEXT | ber.CONSTRUCTED | 2:
        return not _evaluate(query.children[0], entry)
    if tag == ber.CONTEXT | 7:
        return _values(entry, query.as_str()) is not None
    if tag == ber.CONTEXT | ber.CONSTRUCTED | 3:
        name_el, value_el = query.children[:2]
        values = _values(entry, name_el.as_str())
        if values is None:
            return False
        wanted = value_el.value
        if name_el.as_str().casefold() == "objectcategory" and b"=" not in wanted:
            # AD maps a class name to its category: (objectCategory=person) means CN=Person,CN=Schema,...
            wanted_text = wanted.decode("utf-8", "replace").casefold()
            return any(v.decode().split(",", 1)[0].split("=", 1)[-1].casefold() == wanted_text
                       for v in values)
        if name_el.as_str().casefold() in _BINARY:
            return wanted in values
        return any(_equal(v, wanted) for v in values)
    raise Refused(UNWILLING, f"the lab directory does not serve this filter type (tag {tag:#x})")


def _values(entry: DirEntry, name: str) -> list[bytes] | None:
    key = name.casefold()
    return next((v for n, v in entry.attributes.items() if n.casefold() == key), None)


def _equal(stored: bytes, wanted: bytes) -> bool:
    if stored == wanted:
        return True
    with contextlib.suppress(UnicodeDecodeError):
        return stored.decode().casefold() == wanted.decode().casefold()
    return False
