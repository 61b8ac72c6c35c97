"""audit-access: the rights of the audit account, stated once per server with the group to add.

Without it a missing right shows as a dozen unrelated errors; the ADSync cmdlets, for one, answer a caller
outside the ADSync groups with the same "Unable to connect to the Synchronization Service ... 1) The service
is not started. 2) Your account is not a member of the required security group" as a stopped service. The
rights each probe needs, and their sources, are in docs/real-server.md ("Rights").
"""

from __future__ import annotations

from collections.abc import Iterator

from ..facts.collection import HostFacts, PairFacts
from ..facts.model import AccessFacts
from ._common import Reporter
from .base import Finding, Severity, check

ADMINISTRATORS_SID = "S-1-5-32-544"  # BUILTIN\Administrators (well-known SID)
ADSYNC_ADMINS = "ADSyncAdmins"
ADSYNC_OPERATORS = "ADSyncOperators"
ADSYNC_BROWSE = "ADSyncBrowse"

ADSYNC_PROBES = ("scheduler", "run-history", "connectors", "config", "pending-exports")
"""Probes that call ADSync cmdlets (all need the ADSync service to accept the caller)."""
ADMIN_ONLY_PROBES = ("config", "connectors")
"""Probes that read the sync configuration (Get-ADSyncGlobalSettings, Get-ADSyncRule, Get-ADSyncConnector):
ADSyncAdmins is what Microsoft names for viewing the configuration (the Synchronization Rules Editor);
whether ADSyncOperators may read it is UNCONFIRMED."""

ACCESS_REMEDIATION = (
    "on the server, add the audit account to the group named (net localgroup GROUP DOMAIN\\account /add), "
    "then start a new session; docs/real-server.md lists what each probe needs"
)


def member_of(access: AccessFacts, group: str) -> bool:
    """In the token by name (MACHINE\\group or DOMAIN\\group): the ADSync groups have no well-known SID."""
    wanted = group.lower()
    return any(g.name.lower().rsplit("\\", 1)[-1] == wanted for g in access.groups)


def local_admin(access: AccessFacts) -> bool:
    """Administrators in the token and an unfiltered (high integrity) token: UAC's remote restrictions give a
    local account a filtered token, in which Administrators is deny-only."""
    in_group = any(g.sid.upper() == ADMINISTRATORS_SID for g in access.groups)
    return in_group and access.elevated is not False


@check(
    "audit-access",
    title="the audit account has the rights the probes need",
    severity=Severity.HIGH,
    scope="host",
    remediation=ACCESS_REMEDIATION,
    needs=("access",),
)
def audit_access(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("audit-access", pair, server)
    access = server.access
    who = f"{server.host}: the audit account {access.identity}"
    if access.language_mode != "FullLanguage":
        yield report(
            f"{who} gets a {access.language_mode} session (WDAC/AppLocker or a restricted endpoint): every "
            "other probe refuses to run there",
            remediation="let the audit account use a remoting endpoint in FullLanguage on this server (an "
                        "allow-listed session configuration), or run the audit from an exempted account",
            language_mode=access.language_mode,
        )
        return
    admins, operators = member_of(access, ADSYNC_ADMINS), member_of(access, ADSYNC_OPERATORS)
    add_admins = f"net localgroup {ADSYNC_ADMINS} {access.identity} /add (on {server.host}), then re-run"
    if not admins and not operators:
        yield report(
            f"{who} is in neither {ADSYNC_ADMINS} nor {ADSYNC_OPERATORS}: the ADSync probes "
            f"({', '.join(ADSYNC_PROBES)}) are refused ('Unable to connect to the Synchronization "
            f"Service'); add it to {ADSYNC_ADMINS}",
            remediation=add_admins,
            group=ADSYNC_ADMINS,
            identity=access.identity,
        )
    elif not admins:
        yield report(
            f"{who} is in {ADSYNC_OPERATORS} but not {ADSYNC_ADMINS}: reading the sync configuration "
            f"({', '.join(ADMIN_ONLY_PROBES)}) may be refused (which group each ADSync cmdlet needs is "
            f"UNCONFIRMED); add it to {ADSYNC_ADMINS}"
            + ("" if member_of(access, ADSYNC_BROWSE) else f" (Microsoft: {ADSYNC_OPERATORS} members must "
               f"also be in {ADSYNC_BROWSE})"),
            severity=Severity.MEDIUM,
            remediation=add_admins,
            group=ADSYNC_ADMINS,
            identity=access.identity,
        )
    if not local_admin(access):
        filtered = any(g.sid.upper() == ADMINISTRATORS_SID for g in access.groups)
        yield report(
            f"{who} is not a local administrator"
            + (" in this session (its token is filtered: UAC remote restrictions)" if filtered else "")
            + ": Windows Update history and the reboot markers cannot be read, so patch-age relies on "
            "hotfix dates alone and pending-reboot has no verdict",
            severity=Severity.MEDIUM,
            remediation=(f"add {access.identity} to the Administrators group of {server.host}, or accept "
                         "that patch-age and pending-reboot see less (docs/real-server.md)"),
            group="Administrators",
            identity=access.identity,
        )
