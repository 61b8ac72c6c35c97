"""The AD DS connector account (MSOL_…) of each server: usable, and delegated what the active's is.

Each install creates its own MSOL_ account with the express rights only; delegations added later for the
active's account do not follow (reference §6.4). The standby looks healthy while staged, fails after failover.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from ..facts.collection import HostFacts, PairFacts
from ..facts.model import Ace, Connector, ObjectPermissions
from ._common import Reporter, no_active_finding, now_of
from .base import Finding, Severity, check
from .drift import feature_error, feature_state
from .guids import (
    ALL_OBJECTS,
    CMDLET_FOR_GUID,
    FEATURE_GRANTS,
    IMPLIED_RIGHTS,
    PROPERTY_SET_MEMBERS,
    USER_CLASS,
    RequiredGrant,
    guid_name,
)

_ADSYNCCONFIG_PSM1 = (
    r"C:\Program Files\Microsoft Azure Active Directory Connect\AdSyncConfig\AdSyncConfig.psm1"
)
ADSYNCCONFIG = f"Import-Module '{_ADSYNCCONFIG_PSM1}'"
ACCOUNT_REMEDIATION = (
    f"on a host with RSAT-AD-PowerShell, as a Domain/Enterprise Admin: {ADSYNCCONFIG}; then the "
    "ADSyncConfig Set-ADSync*Permissions cmdlet named in the finding with -ADConnectorAccountName "
    "<MSOL_…> -ADConnectorAccountDomain <domain>; unlock/enable the account with Unlock-ADAccount / "
    "Enable-ADAccount"
)
DOUBLE_HOP_REMEDIATION = (
    "allow the second hop for this server: Kerberos resource-based constrained delegation from the sync "
    "server to the domain controllers, or connect with CredSSP (inventory connection auth: credssp); or give "
    "the pair a directory: block so the tool host reads the accounts over LDAP instead (docs/directory.md)"
)
DIRECTORY_REMEDIATION = (
    "fix the pair's directory: block (a DC that answers on its port, the reader's credentials, the CA for "
    "ldaps), then re-run; any domain user can read the rights"
)
_READ_RIGHTS = frozenset({"ReadProperty", "GenericRead", "ListChildren", "ListObject", "ReadControl"})


SELF = "self"  # the object the ACL sits on (a domain root: replication rights)
USERS = "users"  # user objects below it (an OU: password writeback, ms-DS-ConsistencyGuid)

# ActiveDirectorySecurityInheritance values (System.DirectoryServices): which objects an ACE reaches.
_REACHES_SELF = frozenset({"none", "all", "selfandchildren"})
_REACHES_CHILDREN = frozenset({"all", "descendents", "children", "selfandchildren"})


@dataclass(frozen=True)
class Grant:
    """A right on an object type, on the object itself or on the users below it; ``object_type`` all-zero
    means every property/right."""

    right: str
    object_type: str
    target: str = SELF

    def describe(self) -> str:
        text = f"{self.right} {guid_name(self.object_type)}"
        return text if self.target == SELF else f"{text} inherited to users"


def _components(right: str) -> frozenset[str]:
    return IMPLIED_RIGHTS.get(right, frozenset({right}))


def reaches(ace: Ace, target: str) -> bool:
    """Does the ACE apply to ``target``? An inherit-only ACE (Descendents, Children) does not apply to the
    object itself; an ACE for "this object only" (None) reaches no child; an ACE restricted to another object
    class (InheritedObjectType neither all-zero nor user) reaches no user."""
    inheritance = ace.inheritance.strip().lower()
    if target == SELF:
        return inheritance in _REACHES_SELF
    return inheritance in _REACHES_CHILDREN and ace.inherited_object_type.lower() in (ALL_OBJECTS, USER_CLASS)


def _object_types(ace: Ace) -> frozenset[str]:
    """The properties an ACE's ObjectType stands for: itself, and for a property set its member attributes."""
    own = ace.object_type.lower()
    return frozenset({own}) | PROPERTY_SET_MEMBERS.get(own, frozenset())


def _matches(ace: Ace, right: str, grant: Grant) -> bool:
    rights = set(ace.rights).union(*(IMPLIED_RIGHTS.get(r, frozenset()) for r in ace.rights))
    if right not in rights or not reaches(ace, grant.target):
        return False
    types = _object_types(ace)
    return grant.object_type.lower() in types or ALL_OBJECTS in types


def covers(aces: Iterable[Ace], grant: Grant) -> bool:
    """Do these ACEs allow ``grant`` (every simple right it implies) where it must apply, with no Deny ACE
    taking it away there?"""
    aces = tuple(aces)
    for right in _components(grant.right):
        allowed = any(a.access.lower() == "allow" and _matches(a, right, grant) for a in aces)
        denied = any(a.access.lower() == "deny" and _matches(a, right, grant) for a in aces)
        if not allowed or denied:
            return False
    return True


def granted(aces: Iterable[Ace]) -> set[Grant]:
    """The Allow grants an ACE list holds, one per right flag, object type and target it reaches."""
    return {
        Grant(right, ace.object_type.lower(), target)
        for ace in aces
        if ace.access.lower() == "allow"
        for right in ace.rights
        for target in (SELF, USERS)
        if reaches(ace, target)
    }


def account_name(conn: Connector) -> str:
    user = conn.account_user or "<unknown account>"
    return f"{conn.account_domain}\\{user}" if conn.account_domain else user


def _grant_command(grant: Grant, conn: Connector, obj: ObjectPermissions) -> str:
    domain = conn.account_domain or "<domain>"
    ident = f"-ADConnectorAccountName {conn.account_user} -ADConnectorAccountDomain {domain}"
    cmdlet = CMDLET_FOR_GUID.get(grant.object_type)
    if cmdlet is None and grant.right in _READ_RIGHTS:
        cmdlet = "Set-ADSyncBasicReadPermissions"
    if cmdlet is None:
        return (
            f'dsacls "{obj.object_dn}" /G "{account_name(conn)}:<right>" granting {grant.describe()} as the '
            f"active's account has it (compare: Show-ADSyncADObjectPermissions -ADobjectDN '{obj.object_dn}')"
        )
    scoped = (
        ""
        if cmdlet == "Set-ADSyncPasswordHashSyncPermissions" or obj.scope == "domain-root"
        else f" -ADobjectDN '{obj.object_dn}'"
    )
    return f"{cmdlet} {ident}{scoped}"


TOKEN_GROUPS_LIMIT = (
    "if the right is granted through a domain-local group of another domain, this check cannot see it "
    "(the account's tokenGroups hold its own domain's and universal groups only): confirm with dsacls"
)
"""probe-review C4: a false "lacks" in multi-domain forests, so every "lacks" says it."""


def _remediation(missing: list[Grant], conn: Connector, obj: ObjectPermissions) -> str:
    commands = sorted({_grant_command(g, conn, obj) for g in missing})
    return f"{ADSYNCCONFIG}; " + "; ".join(commands) + f" ({TOKEN_GROUPS_LIMIT})"


def _objects(conn: Connector, scope: str) -> list[ObjectPermissions]:
    roots = [o for o in conn.permissions if o.scope == "domain-root"]
    if scope == "domain-root":
        return roots
    ous = [o for o in conn.permissions if o.scope != "domain-root"]
    return ous or roots  # no synced OU listed: the whole domain is in scope, grants live on the root


def required_grants(servers: Iterable[HostFacts]) -> dict[str, tuple[RequiredGrant, ...]]:
    """Grants the enabled features need, over all ``servers``: a standby must do what the active does.

    A feature no server could read (its ADSync read failed and the tenant's flag is unknown too) is
    required: "could not read" must not pass as "off"."""
    need: dict[str, tuple[RequiredGrant, ...]] = {}
    for server in servers:
        config = server.config
        for feature in ("password_hash_sync", "password_writeback"):
            if feature_state(config, feature) is not False:
                need[feature] = FEATURE_GRANTS[feature]
        if (config.source_anchor or "").lower() == "ms-ds-consistencyguid":
            need["consistency_guid"] = FEATURE_GRANTS["consistency_guid"]
    return need


def with_directory(pair: PairFacts, conn: Connector) -> Connector:
    """The connector with its account state and rights as read over LDAP (the pair's ``directory:`` block),
    replacing what the sync server's probe read inside its session; unchanged without a block."""
    if not pair.directory_configured or conn.type.upper() != "AD":
        return conn
    if pair.directory is None:
        why = pair.directory_error.message if pair.directory_error else "not read"
        return replace(conn, permissions=(), permissions_error=f"LDAP read from this host failed: {why}",
                       permissions_error_kind="directory")
    entry = pair.directory.account(conn.account_user, conn.account_domain)
    if entry is None or entry.error:
        reason = (entry.error if entry is not None else None) or "the account was not read"
        return replace(conn, account=entry.account if entry and entry.account else conn.account,
                       permissions=(), permissions_error=f"LDAP read from this host failed: {reason}",
                       permissions_error_kind="directory")
    return replace(conn, account=entry.account, permissions=entry.permissions, permissions_error=None,
                   permissions_error_kind=None)


def _account_expired(report: Reporter, pair: PairFacts, server: HostFacts,
                     conn: Connector) -> Iterator[Finding]:
    entry = pair.directory.account(conn.account_user, conn.account_domain) if pair.directory else None
    expires = entry.account_expires_utc if entry is not None else None
    if expires is not None and expires <= now_of(pair, server):
        host = server.host
        who = account_name(conn)
        yield report(
            f"{host}: AD connector '{conn.name}' account {who} expired on {expires:%Y-%m-%d %H:%M} UTC",
            connector=conn.name, account=who, account_expires_utc=expires.isoformat(),
            remediation=f"Clear-ADAccountExpiration -Identity '{conn.account_user}' (a sync account must "
            "not expire)",
        )


def _account_state(report: Reporter, host: str, conn: Connector) -> Iterator[Finding]:
    who = account_name(conn)
    acct = conn.account
    base = {"connector": conn.name, "account": who}
    if acct is None or not acct.found:
        yield report(
            f"{host}: AD connector '{conn.name}' account {who} not found in AD",
            values=base,
            remediation=f"create {who} (or pick an existing account) and enter it for forest "
            f"{conn.forest or conn.name} in the Entra Connect wizard, then grant its rights "
            "with the ADSyncConfig Set-ADSync*Permissions cmdlets",
        )
        return
    if acct.enabled is False:
        yield report(
            f"{host}: AD connector '{conn.name}' account {who} is disabled",
            values=base,
            enabled=False,
            remediation=f"Enable-ADAccount -Identity '{acct.distinguished_name or conn.account_user}'",
        )
    if acct.locked_out:
        yield report(
            f"{host}: AD connector '{conn.name}' account {who} is locked out",
            values=base,
            locked_out=True,
            remediation=f"Unlock-ADAccount -Identity '{acct.distinguished_name or conn.account_user}'; find "
            "what used an old password (Security log event 4740 on the PDC emulator)",
        )
    if acct.password_expired:
        yield report(
            f"{host}: AD connector '{conn.name}' account {who} has an expired password",
            values=base,
            password_expired=True,
            remediation=f"reset {who}'s password (Set-ADAccountPassword), enter it in the connector's "
            "properties on this server, and exempt the account from expiry",
        )


@check(
    "connector-account",
    title="AD connector account usable and delegated like the active's",
    severity=Severity.CRITICAL,
    scope="host",
    remediation=ACCOUNT_REMEDIATION,
    needs=("connectors", "config"),
)
def connector_account(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("connector-account", pair, server)
    active = pair.active if server.role == "standby" else None
    if server.role == "standby" and active is None:
        yield no_active_finding(report, pair, server)
    compare_with = [server] + ([active] if active is not None else [])
    need = required_grants(compare_with)
    theirs = ({c.name.lower(): with_directory(pair, c) for c in active.connectors.connectors}
              if active is not None else {})
    for conn in (with_directory(pair, c) for c in server.connectors.connectors):
        if conn.type.upper() != "AD":
            continue
        yield from _account_state(report, server.host, conn)
        yield from _account_expired(report, pair, server, conn)
        who = account_name(conn)
        if conn.permissions_error and conn.permissions_error_kind == "double-hop":
            yield report(
                f"{server.host}: rights of {who} (connector '{conn.name}') could not be read: double hop - "
                "the AD reads run inside the remote session on this server, and its logon cannot pass your "
                f"credentials on to a domain controller ({conn.permissions_error})",
                severity=Severity.HIGH,
                connector=conn.name,
                account=who,
                permissions_error=conn.permissions_error,
                permissions_error_kind=conn.permissions_error_kind,
                remediation=DOUBLE_HOP_REMEDIATION,
            )
            continue
        if conn.permissions_error:
            yield report(
                f"{server.host}: rights of {who} (connector '{conn.name}') could not be read: "
                f"{conn.permissions_error}",
                severity=Severity.HIGH,
                connector=conn.name,
                account=who,
                permissions_error=conn.permissions_error,
                remediation=DIRECTORY_REMEDIATION if conn.permissions_error_kind == "directory" else
                "read the ACLs from a host that reaches a DC without a double hop (or allow "
                "Kerberos delegation), then re-run",
            )
            continue
        reported: dict[str, set[Grant]] = {}
        for feature, grants in sorted(need.items()):
            unread = [h for h in compare_with if feature_state(h.config, feature) is None]
            because = feature if not unread else (
                f"{feature}, which could not be read on "
                + ", ".join(f"{h.host} ({feature_error(h.config, feature)})" for h in unread)
                + "; required until it reads as off"
            )
            for scope in ("domain-root", "ou"):
                target = SELF if scope == "domain-root" else USERS
                wanted = [Grant(g.right, g.object_type, target) for g in grants if g.scope == scope]
                for obj in _objects(conn, scope) if wanted else []:
                    missing = [g for g in wanted if not covers(obj.aces, g)]
                    if missing:
                        reported.setdefault(obj.object_dn.lower(), set()).update(missing)
                        yield report(
                            f"{server.host}: {who} lacks {', '.join(g.describe() for g in missing)} on "
                            f"{obj.object_dn} (needed by {because})",
                            connector=conn.name,
                            account=who,
                            object_dn=obj.object_dn,
                            feature=feature,
                            missing=[g.describe() for g in missing],
                            remediation=_remediation(missing, conn, obj),
                        )
        other = theirs.get(conn.name.lower())
        if active is None or other is None:
            continue  # no such connector on the active: config-drift reports it
        if other.permissions_error:
            yield report(
                f"{server.host}: cannot compare {who}'s rights with the active {active.host}'s account: "
                f"its rights could not be read ({other.permissions_error})",
                severity=Severity.HIGH,
                connector=conn.name,
                active=active.host,
                permissions_error=other.permissions_error,
                remediation=f"fix the ACL read on {active.host} (double hop / AD module), then re-run",
            )
            continue
        mine = {o.object_dn.lower(): o for o in conn.permissions}
        for their_obj in other.permissions:
            here = mine.get(their_obj.object_dn.lower())
            if here is None:
                # Not read here: this server does not sync that domain/OU, which config-drift reports; its
                # ACL is unknown, and guessing would blame rights for a filter difference.
                continue
            done = reported.get(here.object_dn.lower(), set())
            missing = sorted(
                (g for g in granted(their_obj.aces) if g not in done and not covers(here.aces, g)),
                key=lambda g: (g.right, g.object_type),
            )
            if missing:
                yield report(
                    f"{server.host}: {who} lacks {', '.join(g.describe() for g in missing)} on "
                    f"{their_obj.object_dn} that the active {active.host}'s {account_name(other)} has",
                    connector=conn.name,
                    account=who,
                    object_dn=their_obj.object_dn,
                    active=active.host,
                    active_account=account_name(other),
                    missing=[g.describe() for g in missing],
                    remediation=_remediation(missing, conn, here),
                )
