"""Read connector accounts from a DC over LDAP: state, transitive groups and the ACEs that are theirs.

One connection per run and pair (the first DC of ``servers`` that answers). A non-admin reader suffices:
nTSecurityDescriptor is readable with the SD flags control asking for the DACL only
([MS-ADTS] 3.1.1.3.4.1.11), tokenGroups and the computed account state with plain read rights.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..facts.model import AccountState, Ace, ObjectPermissions
from . import ldap
from .config import DirectoryConfig
from .errors import DirectoryError
from .facts import DirectoryAccount, DirectoryFacts
from .sd import RawAce, dacl, sid_text

# userAccountControl / msDS-User-Account-Control-Computed bits ([MS-ADTS] 2.2.16).
_UF_ACCOUNTDISABLE, _UF_DONT_EXPIRE_PASSWD = 0x2, 0x10000
_UF_LOCKOUT, _UF_PASSWORD_EXPIRED = 0x10, 0x800000
_NEVER = (0, 0x7FFFFFFFFFFFFFFF)
_ACCOUNT_ATTRIBUTES = ("objectSid", "userAccountControl", "msDS-User-Account-Control-Computed", "pwdLastSet",
                       "accountExpires", "msDS-UserPasswordExpiryTimeComputed", "distinguishedName")


def filetime(value: bytes | None) -> datetime | None:
    """A FILETIME attribute as UTC; None for 0 / "never" / unparseable."""
    if value is None:
        return None
    try:
        ticks = int(value)
    except ValueError:
        return None
    if ticks in _NEVER or ticks < 0:
        return None
    try:
        return datetime(1601, 1, 1, tzinfo=UTC) + timedelta(microseconds=ticks // 10)
    except OverflowError:
        return None


def _int(value: bytes | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def connect(config: DirectoryConfig) -> ldap.LdapConnection:
    """A bound connection to the first DC that answers; a bind refusal is not retried on the next DC."""
    errors: list[str] = []
    for server in config.servers:
        try:
            conn = ldap.LdapConnection(server, config.port, tls=config.transport == "ldaps",
                                       timeout=config.timeout,
                                       ca_file=str(config.ca_bundle) if config.ca_bundle else None,
                                       tls_name=config.tls_server_name)
        except DirectoryError as exc:
            if exc.kind != "unreachable":
                raise
            errors.append(str(exc))
            continue
        try:
            _bind(conn, config, server)
        except BaseException:
            conn.close()
            raise
        return conn
    raise DirectoryError(f"no domain controller of {config.domain} answered: {'; '.join(errors)}",
                         fix="check directory.servers and that this host reaches them on port "
                         f"{config.port}", kind="unreachable")


def _principal(config: DirectoryConfig) -> str | None:
    user = config.username
    if user is None or config.auth != "kerberos" or "\\" not in user:
        return user
    return f"{user.split(chr(92), 1)[1]}@{config.domain.upper()}"  # DOMAIN\user -> user@REALM


def _bind(conn: ldap.LdapConnection, config: DirectoryConfig, server: str) -> None:
    who = config.username or "the Kerberos ticket cache's principal"
    if config.auth == "simple":
        assert config.username is not None and config.password is not None  # validated by the inventory
        conn.bind_simple(config.username, config.password)
        return
    import spnego

    # On 389 every message is signed and sealed; inside TLS the DC refuses a sign/seal layer, and MIT
    # Kerberos asserts it unless told not to (GSS_KRB5_CRED_NO_CI_FLAGS_X, pyspnego's no_integrity).
    req = (spnego.ContextReq.default if not conn.tls
           else spnego.ContextReq.mutual_auth | spnego.ContextReq.no_integrity)
    protocol = "ntlm" if config.auth == "ntlm" else "kerberos"
    if protocol == "kerberos" and not _kerberos_available():
        raise DirectoryError("auth kerberos needs the Kerberos extra",
                             fix="pip install 'entra-standby[kerberos]' (needs libkrb5-dev to build)",
                             kind="auth")
    try:
        with _krb5_config(config.krb5_config):
            context: Any = spnego.client(_principal(config), config.password,
                                         hostname=config.spn_host or server, service="ldap",
                                         protocol=protocol, context_req=req)
            conn.bind_sasl(context, who)
    except spnego.exceptions.SpnegoError as exc:
        raise DirectoryError(f"{server}: {protocol} authentication as {who} failed: {_spnego_reason(exc)}",
                             fix=_spnego_fix(protocol, exc), kind="auth") from None


_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _krb5_config(path: Path | None) -> Iterator[None]:
    """KRB5_CONFIG = ``path`` while the bind runs (MIT krb5 reads it when a context starts), then as it was:
    the process's other Kerberos users (WinRM) keep theirs. Binds with a config of their own take turns."""
    if path is None:
        yield
        return
    with _ENV_LOCK:
        before = os.environ.get("KRB5_CONFIG")
        os.environ["KRB5_CONFIG"] = str(path)
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("KRB5_CONFIG", None)
            else:
                os.environ["KRB5_CONFIG"] = before


def _kerberos_available() -> bool:
    try:
        import gssapi  # type: ignore[import-not-found,unused-ignore]  # noqa: F401  (the kerberos extra)
    except ImportError:
        return False
    return True


def _spnego_reason(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


def _spnego_fix(protocol: str, exc: Exception) -> str:
    text = str(exc).lower()
    if protocol == "kerberos" and "skew" in text:
        return "the clocks of this host and the DC differ by more than 5 minutes: sync this host's time"
    if protocol == "kerberos" and ("server not found" in text or "unknown server" in text):
        return "the DC's SPN ldap/<host> is unknown: set directory.spn_host to the DC's host name"
    if protocol == "kerberos" and ("credentials cache" in text or "no credentials" in text):
        return "no Kerberos ticket: run kinit, or set directory.username and a password source"
    return "check directory.username and its password, or the Kerberos configuration (krb5_config)"


def read_directory(config: DirectoryConfig, accounts: Iterable[tuple[str, str | None]],
                   objects: Sequence[tuple[str, str]]) -> DirectoryFacts:
    """Read each (user, domain) account and its ACEs on ``objects`` ((dn, scope) pairs)."""
    with connect(config) as conn:
        descriptors: dict[str, _Dacl] = {}
        for dn, _ in objects:
            if dn.lower() not in descriptors:
                descriptors[dn.lower()] = _read_dacl(conn, dn)
        names: dict[str, str] = {}
        read = [_read_account(conn, config, user, domain, objects, descriptors, names)
                for user, domain in dict.fromkeys(accounts)]
        return DirectoryFacts(server=conn.host, accounts=tuple(read))


_Dacl = tuple[RawAce, ...] | DirectoryError  # an object's DACL, or why it could not be read


def _read_dacl(conn: ldap.LdapConnection, dn: str) -> _Dacl:
    try:
        entries = conn.search(dn, ldap.SCOPE_BASE, ldap.present("objectClass"), ["nTSecurityDescriptor"],
                              sd_flags=ldap.DACL_SECURITY_INFORMATION)
    except DirectoryError as exc:
        return exc
    raw = entries[0].first("nTSecurityDescriptor") if entries else None
    if raw is None:
        return DirectoryError(f"{conn.host}: {dn}: no nTSecurityDescriptor returned (the reader lacks Read "
                              "Permissions on it)")
    return dacl(raw)


def _domain_matches(config: DirectoryConfig, domain: str | None) -> bool:
    return domain is None or domain.lower() in (config.domain, config.netbios_guess.lower())


def _read_account(conn: ldap.LdapConnection, config: DirectoryConfig, user: str, domain: str | None,
                  objects: Sequence[tuple[str, str]], descriptors: dict[str, _Dacl],
                  names: dict[str, str]) -> DirectoryAccount:
    if not _domain_matches(config, domain):
        return DirectoryAccount(user, domain, error=f"the account's domain {domain} is not the directory "
                                f"block's domain {config.domain} (one domain per pair is read)")
    try:
        found = conn.search(config.base_dn, ldap.SCOPE_SUBTREE,
                            ldap.and_(ldap.eq("objectCategory", "person"),
                                      ldap.eq("sAMAccountName", ldap.escape_value(user))),
                            _ACCOUNT_ATTRIBUTES)
        if not found:
            return DirectoryAccount(user, domain, account=AccountState(found=False))
        entry = found[0]
        token = conn.search(entry.dn, ldap.SCOPE_BASE, ldap.present("objectClass"), ["tokenGroups"])
    except DirectoryError as exc:
        return DirectoryAccount(user, domain, error=str(exc))
    sid = sid_text(entry.first("objectSid") or b"")[0]
    groups = tuple(sid_text(g)[0] for g in (token[0].attributes.get("tokengroups", []) if token else []))
    uac = _int(entry.first("userAccountControl"))
    computed = _int(entry.first("msDS-User-Account-Control-Computed"))
    state = AccountState(
        found=True, distinguished_name=entry.dn, sid=sid, enabled=not uac & _UF_ACCOUNTDISABLE,
        locked_out=bool(computed & _UF_LOCKOUT), password_expired=bool(computed & _UF_PASSWORD_EXPIRED),
        password_never_expires=bool(uac & _UF_DONT_EXPIRE_PASSWD),
        password_last_set=filetime(entry.first("pwdLastSet")))
    mine = {sid, *groups}
    who = f"{domain}\\{user}" if domain else user
    permissions: list[ObjectPermissions] = []
    for dn, scope in objects:
        aces = descriptors[dn.lower()]
        if isinstance(aces, DirectoryError):
            return DirectoryAccount(user, domain, account=state, groups=groups, error=str(aces))
        permissions.append(ObjectPermissions(dn, scope, tuple(
            _ace(conn, config, a, who if a.sid == sid else None, names) for a in aces if a.sid in mine)))
    return DirectoryAccount(
        user, domain, account=state, permissions=tuple(permissions), groups=groups,
        account_expires_utc=filetime(entry.first("accountExpires")),
        password_expires_utc=filetime(entry.first("msDS-UserPasswordExpiryTimeComputed")))


def _ace(conn: ldap.LdapConnection, config: DirectoryConfig, raw: RawAce, name: str | None,
         names: dict[str, str]) -> Ace:
    return Ace(identity=name or _sid_name(conn, config, raw.sid, names), rights=raw.rights,
               access="Allow" if raw.allow else "Deny", object_type=raw.object_type,
               inherited_object_type=raw.inherited_object_type, inheritance=raw.inheritance,
               inherited=raw.inherited)


def _sid_name(conn: ldap.LdapConnection, config: DirectoryConfig, sid: str, names: dict[str, str]) -> str:
    """A group's sAMAccountName for messages; the SID itself when unreadable (BUILTIN, other domains)."""
    if sid not in names:
        names[sid] = sid
        try:
            found = conn.search(config.base_dn, ldap.SCOPE_SUBTREE, ldap.eq("objectSid", _sid_bytes(sid)),
                                ["sAMAccountName"])
        except DirectoryError:
            found = []
        if found and found[0].text("sAMAccountName"):
            names[sid] = f"{config.netbios_guess.upper()}\\{found[0].text('sAMAccountName')}"
    return names[sid]


def _sid_bytes(sid: str) -> bytes:
    parts = sid.split("-")
    subs = [int(p) for p in parts[3:]]
    return (bytes([int(parts[1]), len(subs)]) + int(parts[2]).to_bytes(6, "big")
            + b"".join(s.to_bytes(4, "little") for s in subs))
