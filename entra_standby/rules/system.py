"""Operating-system checks: supported release, patch level and age, pending reboot, TLS 1.2 and .NET."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from ..errors import FactUnavailableError
from ..facts.collection import HostFacts, PairFacts
from ..facts.model import OsFacts, RebootMarkers
from ._common import Reporter, aware, no_active_finding, now_of
from .base import Finding, Severity, check, target_of
from .thresholds import threshold_bool, threshold_int
from .versions import Version, parse_version, require_version

# --- tls12 -----------------------------------------------------------------------------------------------

_NETFX64 = r"HKLM:\SOFTWARE\Microsoft\.NETFramework\v4.0.30319"
_NETFX32 = r"HKLM:\SOFTWARE\WOW6432Node\Microsoft\.NETFramework\v4.0.30319"
_SCHANNEL = r"HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2"

TLS12_VALUES: tuple[tuple[str, str, int], ...] = (
    (_NETFX32, "SystemDefaultTlsVersions", 1),
    (_NETFX32, "SchUseStrongCrypto", 1),
    (_NETFX64, "SystemDefaultTlsVersions", 1),
    (_NETFX64, "SchUseStrongCrypto", 1),
    (_SCHANNEL + r"\Server", "Enabled", 1),
    (_SCHANNEL + r"\Server", "DisabledByDefault", 0),
    (_SCHANNEL + r"\Client", "Enabled", 1),
    (_SCHANNEL + r"\Client", "DisabledByDefault", 0),
)
"""The eight values of reference §4.1 (path, value name, required DWORD)."""


def _reg_key(path: str, name: str) -> tuple[str, str]:
    """Compare registry paths loosely: ``HKLM:\\`` or ``HKEY_LOCAL_MACHINE\\``, any case."""
    p = path.strip().lower().rstrip("\\")
    for prefix in ("hkey_local_machine\\", "hklm:\\", "hklm\\", "registry::hkey_local_machine\\"):
        if p.startswith(prefix):
            p = p[len(prefix) :]
            break
    return p, name.strip().lower()


TLS12_REMEDIATION = (
    "on the server: Set-ADSyncToolsTls12 -Enabled $true (ADSyncTools), or New-ItemProperty -Path "
    "<key> -Name <value> -PropertyType DWord -Value <data> -Force for each value named; then reboot"
)

# Microsoft (reference-connect-tls-enforcement): "This requirement only applies to versions 2.3.20.0
# through to 2.4.129.0. Entra Connect version 2.4.131.0 and higher do not require TLS enforcement."
# Builds in between, or of unknown version, are held to the requirement.
TLS_EXEMPT_FROM = "2.4.131.0"


def _disables_tls12(name: str, value: int) -> bool:
    """A value that turns TLS 1.2 (or .NET's use of it) off: DisabledByDefault non-zero, the others 0."""
    return value != 0 if name.lower() == "disabledbydefault" else value == 0


def _tls_exempt(server: HostFacts) -> Version | None:
    """The server's build when it is exempt from TLS enforcement, else None (older, or unknown)."""
    if not server.has("version"):
        return None
    build = parse_version(server.version.product_version or server.version.display_version)
    return build if build is not None and build >= require_version(TLS_EXEMPT_FROM) else None


@check(
    "tls12",
    title="TLS 1.2 enforced for .NET and SCHANNEL",
    severity=Severity.HIGH,
    scope="host",
    remediation=TLS12_REMEDIATION,
    needs=("tls",),
)
def tls12(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("tls12", pair, server)
    exempt = _tls_exempt(server)
    seen = {_reg_key(v.path, v.name): v.value for v in server.tls.values}
    for path, name, wanted in TLS12_VALUES:
        key = _reg_key(path, name)
        actual = seen.get(key)
        if actual == wanted:
            continue
        shown = "Not Found" if actual is None else str(actual)
        fix = (
            f"on {server.host}: New-ItemProperty -Path '{path}' -Name {name} -PropertyType DWord "
            f"-Value {wanted} "
            f"-Force (or Set-ADSyncToolsTls12 -Enabled $true), then reboot"
        )
        disabling = actual is not None and _disables_tls12(name, actual)
        if exempt is not None and not disabling:
            # Exempt build: TLS 1.2 works through the OS defaults; the value is hardening, not a requirement.
            yield report(
                f"{server.host}: {path}\\{name} is {shown}, recommended {wanted} (Entra Connect {exempt} is "
                f"{TLS_EXEMPT_FROM} or later and does not require TLS enforcement)",
                severity=Severity.LOW,
                remediation=fix,
                path=path,
                name=name,
                value=actual,
                expected=wanted,
                build=str(exempt),
            )
            continue
        yield report(
            f"{server.host}: {path}\\{name} is {shown}, must be {wanted}"
            + (" (it disables TLS 1.2)" if disabling else ""),
            remediation=fix,
            path=path,
            name=name,
            value=actual,
            expected=wanted,
        )


# --- dotnet ----------------------------------------------------------------------------------------------

DOTNET_REMEDIATION = (
    "install .NET Framework 4.8 (4.7.2 at least) on the server, then reboot; the release is "
    r"HKLM:\SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full\Release"
)


@check(
    "dotnet",
    title=".NET Framework 4.7.2 or later",
    severity=Severity.HIGH,
    scope="host",
    remediation=DOTNET_REMEDIATION,
    needs=("tls",),
)
def dotnet(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("dotnet", pair, server)
    floor = threshold_int(pair, "min_dotnet_release")
    release = server.tls.dotnet_release
    if release is None:
        yield report(
            f"{server.host}: .NET Framework 4.x is not installed (no NDP\\v4\\Full Release value); "
            f"need release >= {floor}",
            dotnet_release=None,
            min_dotnet_release=floor,
        )
    elif release < floor:
        yield report(
            f"{server.host}: .NET Framework release {release} is below {floor} (4.7.2)",
            dotnet_release=release,
            min_dotnet_release=floor,
        )


# --- patch-age -------------------------------------------------------------------------------------------

# Windows Update history also lists Defender definitions and the malicious-software removal tool; they say
# nothing about the OS patch level (reference §5).
_NOT_OS_PATCHES = (
    "definition update",
    "security intelligence update",
    "antimalware platform",
    "malicious software removal tool",
)
_SUCCEEDED = (2, 3)  # OperationResultCode Succeeded, SucceededWithErrors
_INSTALLATION = 1


def last_patch(facts: OsFacts) -> tuple[datetime | None, str | None]:
    """Newest successful OS update install (WU history) or hot fix (Get-HotFix), with its title/id."""
    best: tuple[datetime | None, str | None] = (None, None)
    for update in facts.updates:
        title = update.title.lower()
        if update.operation != _INSTALLATION or update.result_code not in _SUCCEEDED:
            continue
        if any(marker in title for marker in _NOT_OS_PATCHES):
            continue
        if best[0] is None or aware(update.date) > best[0]:
            best = (aware(update.date), update.title)
    for fix in facts.hotfixes:
        if fix.installed_on is not None and (best[0] is None or aware(fix.installed_on) > best[0]):
            best = (aware(fix.installed_on), fix.id)
    return best


PATCH_REMEDIATION = (
    "install the latest cumulative update on the server (Windows Update / your patching tool), "
    "reboot, and keep the standby on the same patch cycle as the active"
)


@check(
    "patch-age",
    title="OS patched recently",
    severity=Severity.MEDIUM,
    scope="host",
    remediation=PATCH_REMEDIATION,
    needs=("os",),
)
def patch_age(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("patch-age", pair, server)
    facts = server.os
    max_days = threshold_int(pair, "max_patch_age_days")
    when, what = last_patch(facts)
    if when is None:
        if facts.update_history_error:
            raise FactUnavailableError(
                target_of(pair, server),
                "os",
                f"Windows Update history unreadable ({facts.update_history_error}) "
                "and no hot fix has an install date",
            )
        yield report(
            f"{server.host}: no successful OS update found in the update history or Get-HotFix",
            last_patch=None,
            max_patch_age_days=max_days,
        )
        return
    age_days = (now_of(pair, server) - when).total_seconds() / 86400
    if age_days > max_days:
        yield report(
            f"{server.host}: last OS update {what} installed {when:%Y-%m-%d}, {age_days:.0f} days ago "
            f"(limit {max_days} days)",
            last_patch=when.isoformat(),
            update=what,
            age_days=round(age_days, 1),
            max_patch_age_days=max_days,
        )


# --- os-build-parity -------------------------------------------------------------------------------------

BUILD_PARITY_REMEDIATION = (
    "patch the standby to at least the active's cumulative update (build.UBR) and reboot; "
    "compare with Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion' "
    "CurrentBuild, UBR on both servers"
)


@check(
    "os-build-parity",
    title="standby OS build at least the active's",
    severity=Severity.MEDIUM,
    scope="standby",
    remediation=BUILD_PARITY_REMEDIATION,
    needs=("os",),
)
def os_build_parity(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("os-build-parity", pair, server)
    active = pair.active
    if active is None:
        yield no_active_finding(report, pair, server)
        return
    mine, theirs = server.os, active.os
    if (mine.build, mine.ubr) < (theirs.build, theirs.ubr):
        why = "an older OS release" if mine.build < theirs.build else "fewer cumulative updates"
        yield report(
            f"{server.host}: OS build {mine.build}.{mine.ubr} is below the active {active.host}'s "
            f"{theirs.build}.{theirs.ubr} ({why})",
            build=f"{mine.build}.{mine.ubr}",
            active=active.host,
            active_build=f"{theirs.build}.{theirs.ubr}",
        )


# --- pending-reboot --------------------------------------------------------------------------------------

_WU = r"HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update"
_CCS = r"HKLM:\SYSTEM\CurrentControlSet"
_CBS = r"HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing"
REBOOT_MARKERS: dict[str, str] = {
    "cbs_reboot_pending": _CBS + r"\RebootPending",
    "cbs_reboot_in_progress": _CBS + r"\RebootInProgress",
    "cbs_packages_pending": _CBS + r"\PackagesPending",
    "wu_reboot_required": _WU + r"\RebootRequired",
    "computer_rename_pending": _CCS + r"\Control\ComputerName (active vs pending name)",
    "netlogon_pending": r"HKLM:\SYSTEM\CurrentControlSet\Services\Netlogon JoinDomain/AvoidSpnSet",
    "update_exe_volatile": r"HKLM:\SOFTWARE\Microsoft\Updates UpdateExeVolatile",
    "pending_file_rename": _CCS + r"\Control\Session Manager PendingFileRenameOperations",
}
"""Reboot marker (RebootMarkers field) -> where Windows records it (reference §5)."""

REBOOT_REMEDIATION = "restart the server in a maintenance window (Restart-Computer) and re-run the checks"


@check(
    "pending-reboot",
    title="no reboot pending",
    severity=Severity.MEDIUM,
    scope="host",
    remediation=REBOOT_REMEDIATION,
    needs=("os",),
)
def pending_reboot(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("pending-reboot", pair, server)
    if server.os.reboot_error:
        # An unreadable marker is not an absent one (probe-review O5): no verdict rather than a false pass.
        raise FactUnavailableError(server.host, "os",
                                   f"reboot markers could not be read: {server.os.reboot_error}")
    markers: RebootMarkers = server.os.reboot
    with_renames = threshold_bool(pair, "reboot_counts_file_rename")
    for marker, where in REBOOT_MARKERS.items():
        if marker == "pending_file_rename" and not with_renames:
            continue  # a hint only: many false positives (reference §5)
        if getattr(markers, marker):
            yield report(f"{server.host}: reboot pending ({marker}: {where})", marker=marker, location=where)


# --- os-supported ----------------------------------------------------------------------------------------

SUPPORTED_BUILDS: dict[int, str] = {
    14393: "Windows Server 2016",
    17763: "Windows Server 2019",
    20348: "Windows Server 2022",
}
SERVER_2025_BUILD = 26100
SERVER_2025_MIN_UBR = 6901  # KB5070773 (20 Oct 2025) fixes a known sync issue on 2025 (reference §3.2)

OS_REMEDIATION = (
    "run Entra Connect on a full-GUI Windows Server 2022 (recommended), 2019 or 2016: build a "
    "supported server, install Entra Connect in staging mode with the active's exported settings, "
    "then retire this one"
)


@check(
    "os-supported",
    title="supported Windows Server release",
    severity=Severity.HIGH,
    scope="host",
    remediation=OS_REMEDIATION,
    needs=("os",),
)
def os_supported(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("os-supported", pair, server)
    facts = server.os
    build = f"{facts.build}.{facts.ubr}"
    if facts.build == SERVER_2025_BUILD:
        if facts.ubr < SERVER_2025_MIN_UBR:
            yield report(
                f"{server.host}: {facts.caption} (build {build}) is not supported by Entra Connect and "
                f"lacks KB5070773 (needs build {SERVER_2025_BUILD}.{SERVER_2025_MIN_UBR} or later)",
                severity=Severity.CRITICAL,
                caption=facts.caption,
                build=build,
                remediation=f"on {server.host}: install KB5070773 or later and reboot now; then move "
                "Entra Connect to Windows Server 2022",
            )
        else:
            yield report(
                f"{server.host}: {facts.caption} (build {build}) is Windows Server 2025, not supported by "
                "Entra Connect",
                caption=facts.caption,
                build=build,
            )
    elif facts.build not in SUPPORTED_BUILDS:
        yield report(
            f"{server.host}: {facts.caption} (build {build}) is not a supported release "
            f"(supported: {', '.join(SUPPORTED_BUILDS.values())})",
            caption=facts.caption,
            build=build,
        )
    if facts.installation_type and "core" in facts.installation_type.lower():
        yield report(
            f"{server.host}: installation type {facts.installation_type}; Entra Connect needs the full "
            "GUI (Server with Desktop Experience)",
            caption=facts.caption,
            installation_type=facts.installation_type,
        )
