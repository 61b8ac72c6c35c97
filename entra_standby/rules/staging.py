"""Staging mode: exactly one server of a pair exports, and each server's flag matches its role.

Only one server may export at any time; active-active is not supported (Microsoft Learn,
how-to-connect-sync-staging-server; ../shared/reference/entra-connect.md section 1.3). A standby that is
not staged writes to Entra ID and AD alongside the active one (split brain); a pair with every server staged
exports nothing, so no change reaches Entra ID and password hash sync and writeback stop.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..facts.collection import HostFacts, PairFacts
from ._common import Reporter
from .base import Finding, Severity, check

STAGING_REMEDIATION = (
    "Only one server may export, never two, not even for a moment. To change which one: stage the active "
    "server first (Entra Connect wizard > Configure staging mode > enable; confirm Get-ADSyncScheduler shows "
    "StagingModeEnabled True), then un-stage the standby (wizard > Configure staging mode > disable, start "
    "sync) and confirm Export runs appear on it. If two servers are un-staged now, put the one that should "
    "not export into staging mode at once (or stop its ADSync service) before anything else. If the roles "
    "in the inventory are stale after a planned failover, update the inventory instead."
)


def _flag(server: HostFacts) -> str:
    return "staged" if server.scheduler.staging_mode_enabled else "UN-STAGED (exporting)"


def _summary(pair: PairFacts) -> str:
    return "; ".join(f"{s.host} ({s.role}): {_flag(s)}" for s in pair.servers)


@check(
    "staging-flag",
    title="Exactly one server of the pair exports, and each staging flag matches the inventory role",
    severity=Severity.CRITICAL,
    scope="pair",
    remediation=STAGING_REMEDIATION,
    needs=("scheduler",),
)
def staging_flag(pair: PairFacts) -> Iterator[Finding]:
    flags = {s.host: s.scheduler.staging_mode_enabled for s in pair.servers}
    values = {"staging_mode_enabled": flags, "roles": {s.host: s.role for s in pair.servers}}
    exporting = [s for s in pair.servers if not s.scheduler.staging_mode_enabled]
    report = Reporter("staging-flag", pair)
    if len(exporting) > 1:
        yield report(f"{len(exporting)} servers are un-staged and export at the same time (split brain: "
                     f"active-active is not supported): {_summary(pair)}", values=values)
    elif not exporting:
        yield report(f"every server is in staging mode, so nothing exports to Entra ID: {_summary(pair)}",
                     values=values)
    actives = [s for s in pair.servers if s.role == "active"]
    if (len(exporting) == 1 and exporting[0].role == "standby" and len(actives) == 1
            and actives[0].scheduler.staging_mode_enabled):
        new, old = exporting[0], actives[0]
        yield report(f"roles swapped: {new.host} exports and {old.host}, the active in the inventory, is "
                     "staged - as after a switch or failover. If that was intended, update the inventory: "
                     f"{new.host} role active, {old.host} role standby; if not, switch back "
                     f"(all: {_summary(pair)})", values=values)
        return
    for server in pair.servers:
        staged = server.scheduler.staging_mode_enabled
        report_host = Reporter("staging-flag", pair, server)
        if server.role == "active" and staged:
            yield report_host(f"{server.host} is the active server in the inventory but is in staging mode "
                              f"(all: {_summary(pair)})", values=values)
        elif server.role == "standby" and not staged:
            yield report_host(f"{server.host} is a standby in the inventory but is NOT staged: it exports "
                              f"(all: {_summary(pair)})", values=values)
