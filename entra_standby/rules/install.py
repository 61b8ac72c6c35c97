"""Checks on the Entra Connect install: the ADSync service, its version, ADSyncTools, machine identity."""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import FactUnavailableError, InventoryError
from ..facts.collection import HostFacts, PairFacts
from ._common import Reporter, no_active_finding
from .base import Finding, Severity, check, target_of
from .thresholds import threshold_bool, threshold_str
from .versions import Version, parse_version, require_version

# --- adsync-service --------------------------------------------------------------------------------------

SERVICE_REMEDIATION = (
    "on the server: Set-Service ADSync -StartupType Automatic; Start-Service ADSync "
    "(then check the Application log, source ADSync, if it stops again)"
)


@check(
    "adsync-service",
    title="ADSync service running and automatic",
    severity=Severity.CRITICAL,
    scope="host",
    remediation=SERVICE_REMEDIATION,
    needs=("service",),
)
def adsync_service(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("adsync-service", pair, server)
    svc = server.service
    if not svc.exists:
        yield report(
            f"{server.host}: service {svc.name} is not installed",
            service=svc.name,
            exists=False,
            remediation=f"install Entra Connect on {server.host} (staging mode) or remove it from the "
            "inventory",
        )
        return
    if (svc.status or "").lower() != "running":
        yield report(
            f"{server.host}: service {svc.name} is {svc.status or 'in an unknown state'}, not Running",
            service=svc.name,
            status=svc.status,
        )
    if (svc.start_mode or "").lower() not in ("auto", "automatic"):
        yield report(
            f"{server.host}: service {svc.name} start mode is {svc.start_mode or 'unknown'}, not Automatic",
            service=svc.name,
            start_mode=svc.start_mode,
        )


# --- version-supported / version-parity ------------------------------------------------------------------


def installed_version(pair: PairFacts, server: HostFacts) -> Version:
    """miiserver.exe ProductVersion, else the uninstall entry's DisplayVersion."""
    facts = server.version
    version = parse_version(facts.product_version) or parse_version(facts.display_version)
    if version is None:
        raise FactUnavailableError(
            target_of(pair, server),
            "version",
            f"no readable Entra Connect version (product {facts.product_version!r}, "
            f"display {facts.display_version!r})",
        )
    return version


def min_version(pair: PairFacts) -> Version:
    text = threshold_str(pair, "min_version")
    try:
        return require_version(text)
    except ValueError:
        raise InventoryError(
            f"pair {pair.name}: threshold min_version {text!r} is not a version such as 2.5.79.0",
            key="thresholds.min_version",
            fix="write it as four dotted numbers",
        ) from None


VERSION_REMEDIATION = (
    "upgrade Entra Connect on the server with the installer from the Entra admin center "
    "(standby first, then fail over and upgrade the old active); all 1.x builds have stopped working"
)


@check(
    "version-supported",
    title="Entra Connect version supported",
    severity=Severity.CRITICAL,
    scope="host",
    remediation=VERSION_REMEDIATION,
    needs=("version",),
)
def version_supported(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("version-supported", pair, server)
    version = installed_version(pair, server)
    floor = min_version(pair)
    if version.major < 2:
        yield report(
            f"{server.host}: Entra Connect {version} is a retired 1.x build that can no longer sync "
            f"(need {floor} or later)",
            version=str(version),
            min_version=str(floor),
        )
    elif version < floor:
        yield report(
            f"{server.host}: Entra Connect {version} is below the supported floor {floor}",
            version=str(version),
            min_version=str(floor),
        )


PARITY_REMEDIATION = (
    "upgrade the older server so both run the same Entra Connect build (in a swing upgrade the "
    "standby is upgraded first; set thresholds.allow_standby_newer_version: true during it)"
)


@check(
    "version-parity",
    title="standby runs the active's Entra Connect version",
    severity=Severity.HIGH,
    scope="standby",
    remediation=PARITY_REMEDIATION,
    needs=("version",),
)
def version_parity(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("version-parity", pair, server)
    active = pair.active
    if active is None:
        yield no_active_finding(report, pair, server)
        return
    mine, theirs = installed_version(pair, server), installed_version(pair, active)
    if mine == theirs:
        return
    allow_newer = threshold_bool(pair, "allow_standby_newer_version")
    if mine > theirs and allow_newer:
        return
    relation = "older than" if mine < theirs else "newer than"
    note = (
        ""
        if mine < theirs
        else " (allow this during a swing upgrade with thresholds.allow_standby_newer_version)"
    )
    yield report(
        f"{server.host}: Entra Connect {mine} is {relation} the active {active.host}'s {theirs}{note}",
        version=str(mine),
        active=active.host,
        active_version=str(theirs),
        allow_standby_newer_version=allow_newer,
    )


# --- adsynctools -----------------------------------------------------------------------------------------

ADSYNCTOOLS_REMEDIATION = (
    "on the server, in Windows PowerShell 5.1 as administrator: "
    "Install-Module ADSyncTools -MinimumVersion 2.0.0 -Scope AllUsers"
)


@check(
    "adsynctools",
    title="ADSyncTools 2.x installed",
    severity=Severity.LOW,
    scope="host",
    remediation=ADSYNCTOOLS_REMEDIATION,
    needs=("machine",),
)
def adsynctools(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("adsynctools", pair, server)
    found = server.machine.adsynctools_versions
    versions = [v for v in (parse_version(text) for text in found) if v is not None]
    if any(v.major >= 2 for v in versions):
        return
    if not found:
        yield report(
            f"{server.host}: the ADSyncTools module is not installed (2.x is Microsoft's current "
            "troubleshooting module)",
            adsynctools_versions=[],
        )
    else:
        yield report(
            f"{server.host}: only ADSyncTools {', '.join(found)} installed; 2.x is the current module",
            adsynctools_versions=list(found),
        )


# --- machine-identity ------------------------------------------------------------------------------------

IDENTITY_REMEDIATION = (
    "rebuild the cloned server from a fresh Entra Connect install (not a VM copy) so each "
    "server has its own SyncMachineIdentifier (HKLM:\\SOFTWARE\\Microsoft\\Azure AD Connect); "
    "see Microsoft's application-based authentication troubleshooting"
)


@check(
    "machine-identity",
    title="SyncMachineIdentifier unique per server",
    severity=Severity.HIGH,
    scope="pair",
    remediation=IDENTITY_REMEDIATION,
    needs=("machine",),
)
def machine_identity(pair: PairFacts) -> Iterator[Finding]:
    report = Reporter("machine-identity", pair)
    by_id: dict[str, list[str]] = {}
    for server in pair.servers:
        identifier = server.machine.sync_machine_identifier
        if identifier:  # absent before application-based authentication; nothing to compare then
            by_id.setdefault(identifier.strip().lower(), []).append(server.host)
    for identifier, hosts in sorted(by_id.items()):
        if len(hosts) > 1:
            yield report(
                f"{' and '.join(hosts)} share SyncMachineIdentifier {identifier} (cloned VM?); "
                "application-based authentication breaks (event 906, AADSTS700027)",
                servers=hosts,
                sync_machine_identifier=identifier,
            )
