"""Authentication for the lab's listeners: Basic, and Negotiate/NTLM through pyspnego's acceptor.

pyspnego's NTLM acceptor looks users up in a flat file, found through ``spnego._ntlm._get_credential_file()``
(which reads the ``NTLM_USER_FILE`` environment variable) on every logon. One environment variable cannot
name a different file for every lab in a process, and one shared file cannot hold the same user with two
passwords (the first line wins). So:

* every running server writes **its own user file** (``NtlmUserStore``: three lines for ``user``,
  ``DOMAIN\\user`` and ``user@DOMAIN``, mode 0600, in a private temporary directory, removed on stop), in
  the smbpasswd form with the password's LM and NT hashes, so a logon does not derive them again;
* the connection handler names that file for **the current thread** while it creates and steps its
  acceptor (``_acceptor_file``), and the lookup hook returns the thread's file, falling back to
  ``NTLM_USER_FILE`` for any other caller. The hook is installed once, at import.

Several labs with any credentials (the same user name with different passwords included) can therefore
run concurrently in one process, and pytest-xdist workers are separate processes anyway. The environment
is never modified. Passwords are never logged. The hook relies on pyspnego's private lookup function; the
project pins pyspnego < 0.13 and ``test_wire_protocol`` proves the behaviour on every run.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import spnego
import spnego._ntlm as _spnego_ntlm
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from spnego._ntlm_raw.crypto import ntowfv1
from spnego.channel_bindings import GssChannelBindings

from entra_standby.errors import LabError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabCredentials:
    """The one account a lab server accepts; clients may write ``user``, ``DOMAIN\\user`` or ``user@domain``.

    ``username`` may itself be given as ``DOMAIN\\user`` or ``user@domain``; the domain part then wins.
    """

    username: str
    password: str
    domain: str = "LAB"

    def __post_init__(self) -> None:
        fields = (("username", self.username), ("password", self.password), ("domain", self.domain))
        for label, value in fields:
            if any(c in value for c in ":\r\n"):
                raise LabError(f"lab credentials: the {label} must not contain ':' or line breaks")
        if not self.user:
            raise LabError("lab credentials: the username is empty")

    @property
    def user(self) -> str:
        """The bare user name."""
        name = self.username.split("\\", 1)[-1]
        return name.split("@", 1)[0] if "@" in name else name

    @property
    def realm(self) -> str:
        """The domain (NetBIOS-style) this user belongs to."""
        if "\\" in self.username:
            return self.username.split("\\", 1)[0]
        if "@" in self.username:
            return self.username.split("@", 1)[1]
        return self.domain

    def matches(self, supplied_user: str, supplied_domain: str | None = None) -> bool:
        """Whether a user name as a client wrote it (any of the three forms) names this account."""
        domain, user = supplied_domain, supplied_user
        if "\\" in user:
            domain, user = user.split("\\", 1)
        elif "@" in user and not domain:
            user, domain = user.split("@", 1)
        if user.casefold() != self.user.casefold():
            return False
        return not domain or domain.casefold() == self.realm.casefold()

    def __repr__(self) -> str:  # never show the password
        return f"LabCredentials(username={self.username!r}, password='***', domain={self.domain!r})"


_thread_file = threading.local()
_default_lookup = _spnego_ntlm._get_credential_file


def _lab_credential_file() -> str | None:
    override: str | None = getattr(_thread_file, "path", None)
    return override if override else _default_lookup()


if getattr(_spnego_ntlm._get_credential_file, "__name__", "") != _lab_credential_file.__name__:
    _spnego_ntlm._get_credential_file = _lab_credential_file


@contextlib.contextmanager
def _acceptor_file(path: Path) -> Iterator[None]:
    """Make pyspnego's NTLM acceptor read ``path`` while this thread creates or steps a context."""
    previous = getattr(_thread_file, "path", None)
    _thread_file.path = str(path)
    try:
        yield
    finally:
        _thread_file.path = previous


class NtlmUserStore:
    """One server's NTLM user file (the acceptor matches the domain exactly as the client sent it)."""

    def __init__(self, creds: LabCredentials) -> None:
        self._creds = creds
        self._dir: Path | None = None

    @property
    def path(self) -> Path:
        if self._dir is None:
            raise LabError("the lab's NTLM user store is not open")
        return self._dir / "ntlm-users"

    def open(self) -> None:
        if self._dir is not None:
            return
        directory = Path(tempfile.mkdtemp(prefix="entra-standby-ntlm-"))
        creds = self._creds
        lines = [("", creds.user), (creds.realm, creds.user), ("", f"{creds.user}@{creds.realm}")]
        target = directory / "ntlm-users"
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            # No LM hash, as Windows has stored none since Server 2008 ("Network security: Do not store LAN
            # Manager hash value on next password change", enabled by default): the field is zeros, and the
            # NT hash is pyspnego's own NTOWFv1. NTLMv2 reads only the NT hash.
            hashes = bytes(16), ntowfv1(creds.password)
            handle.writelines(_user_line(domain, user, creds.password, hashes) for domain, user in lines)
        self._dir = directory

    def close(self) -> None:
        directory, self._dir = self._dir, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def _user_line(domain: str, user: str, password: str, hashes: tuple[bytes, bytes]) -> str:
    """One line of the user file: the smbpasswd form, with the hashes pyspnego would derive itself.

    pyspnego reads ``DOMAIN:USER:PASSWORD`` lines too, but then derives the LM hash (DES in pure Python,
    ~1.2 ms) and the NT hash on every logon; an audited host logs on once per connection (issue 13). From
    ``DOMAIN\\USER:UID:LM:NT:FLAGS:LCT`` it takes the hashes as they are: the same user matching
    (``split_username`` gives back ``domain`` and ``user``), no password in the file, and no LM hash (zeros,
    as on Windows). The NT hash is still a password equivalent for NTLM: the file is owner-only (0600) in
    its own temporary directory, removed when the server stops, and never logged. A domain
    with a backslash could not be written that way; it keeps the password form.
    """
    if "\\" in domain:
        return f"{domain}:{user}:{password}\n"
    name = f"{domain}\\{user}" if domain else user
    lm_hash, nt_hash = hashes
    return f"{name}:0:{lm_hash.hex().upper()}:{nt_hash.hex().upper()}:[U]:LCT-00000000\n"


def tls_server_end_point(cert_pem: Path) -> bytes:
    """RFC 5929 ``tls-server-end-point`` application data for the certificate in ``cert_pem``."""
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or isinstance(algorithm, hashes.MD5 | hashes.SHA1):
        algorithm = hashes.SHA256()
    der = cert.public_bytes(serialization.Encoding.DER)
    digest = hashlib.new(algorithm.name, der).digest()
    return b"tls-server-end-point:" + digest


@dataclass
class AuthOutcome:
    """What the handler should do with a request after authentication."""

    ok: bool
    headers: list[tuple[str, str]]  # WWW-Authenticate header(s) to send (401 challenge or final token)
    handshake: bool = False  # the request was part of an authentication handshake (for the counters)
    principal: str = ""


class ConnectionAuth:
    """Per-TCP-connection authentication state. NTLM authenticates the connection, not each request."""

    def __init__(self, creds: LabCredentials, *, tls: bool, allow_basic: bool, cbt: bytes | None,
                 users: NtlmUserStore) -> None:
        self._creds = creds
        self._users = users
        self._tls = tls
        self._allow_basic = allow_basic
        self._cbt = cbt
        self.context: Any = None  # spnego acceptor once a Negotiate handshake started
        self.negotiated = False  # the connection completed a Negotiate logon

    def challenge(self) -> list[tuple[str, str]]:
        offers = [("WWW-Authenticate", "Negotiate")]
        if self._allow_basic:
            offers.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        return offers

    def _reject(self, handshake: bool = True) -> AuthOutcome:
        self.context = None
        self.negotiated = False
        return AuthOutcome(ok=False, headers=self.challenge(), handshake=handshake)

    def authenticate(self, authorization: str | None, *, force_fail: bool) -> AuthOutcome:
        scheme, _, token = (authorization or "").strip().partition(" ")
        scheme = scheme.lower()
        if force_fail:
            return self._reject(handshake=scheme in ("negotiate", "ntlm") or not authorization)
        if scheme == "basic":
            return self._basic(token.strip())
        if scheme in ("negotiate", "ntlm"):
            return self._negotiate(token.strip())
        if not authorization and self.negotiated:
            return AuthOutcome(ok=True, headers=[], principal=self._creds.user)
        return self._reject()

    def _basic(self, token: str) -> AuthOutcome:
        if not self._allow_basic:
            return self._reject()
        try:
            user, sep, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return self._reject()
        if sep and self._creds.matches(user) and _consteq(password, self._creds.password):
            return AuthOutcome(ok=True, headers=[], principal=user)
        log.info("basic logon refused for %r", user)
        return self._reject()

    def _negotiate(self, token: str) -> AuthOutcome:
        try:
            in_token = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            return self._reject()
        try:
            with _acceptor_file(self._users.path):
                if self.context is None or self.negotiated:
                    bindings = GssChannelBindings(application_data=self._cbt) if self._cbt else None
                    self.context = spnego.server(protocol="negotiate", channel_bindings=bindings)
                    self.negotiated = False
                out_token = self.context.step(in_token)
        except Exception as exc:  # wrong password, unknown user, missing/wrong channel binding, garbage
            log.info("negotiate logon refused: %s", type(exc).__name__)
            return self._reject()
        if not self.context.complete:
            value = "Negotiate " + base64.b64encode(out_token or b"").decode()
            return AuthOutcome(ok=False, headers=[("WWW-Authenticate", value)], handshake=True)
        principal = str(self.context.client_principal or "")
        if not self._creds.matches(principal):
            log.info("negotiate logon of %r refused: not this server's user", principal)
            return self._reject()
        self.negotiated = True
        headers = []
        if out_token:
            headers.append(("WWW-Authenticate", "Negotiate " + base64.b64encode(out_token).decode()))
        return AuthOutcome(ok=True, headers=headers, handshake=True, principal=principal)


def _consteq(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
