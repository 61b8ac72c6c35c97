"""pending-full-sync: nothing on the standby makes the first cycle after a failover a full one
(probe-review §4 item 11).

A connector override (Set-ADSyncSchedulerConnectorOverride -FullImportRequired / -FullSyncRequired) or the
scheduler's NextSyncCyclePolicyType Initial make the next cycle run a full import and/or a full
synchronization ([SCHED] "Customizing a sync cycle"; upgrades add overrides, Microsoft's upgrade page). On a
large directory that takes hours, and after a failover no export leaves the new active until it ends. Run on
the standby while it is still staged, the same cycle exports nothing and costs nobody anything.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import FactUnavailableError
from ..facts.collection import HostFacts, PairFacts
from ..facts.model import ConnectorOverride
from ._common import Reporter
from .base import Finding, Severity, check

_SCHED = "https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler"
_UPGRADE = "https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-upgrade-previous-version"

PENDING_FULL_SYNC_REMEDIATION = (
    "on the standby, while it is still staged (it exports nothing): Start-ADSyncSyncCycle -PolicyType "
    "Initial, wait until Get-ADSyncConnectorRunStatus is empty and each connector's Full Import and Full "
    "Synchronization ended in success, then audit again; the connector overrides are cleared once their "
    f"full steps ran ({_UPGRADE}). Start it explicitly on the standby: NextSyncCyclePolicyType is stored "
    "in the tenant, so the active's own Initial cycle can reset it to Delta before the standby ran one "
    f"({_SCHED})"
)


def _overrides(server: HostFacts) -> tuple[ConnectorOverride, ...]:
    block = server.scheduler.connector_overrides
    if block is None or block.error is not None:
        why = block.error if block is not None else "no connector_overrides block in the scheduler facts"
        raise FactUnavailableError(server.host, "scheduler", f"connector overrides unreadable: {why}")
    return block.overrides


def _connector_names(server: HostFacts) -> dict[str, str]:
    """Connector identifier -> name, from the connectors facts when they were gathered (names only: the
    verdict never depends on them, so a failed connectors probe does not cost this check its verdict)."""
    if not server.has("connectors"):
        return {}
    return {c.identifier.lower(): c.name for c in server.connectors.connectors}


@check(
    "pending-full-sync",
    title="no full import or full synchronization pending on the standby",
    severity=Severity.HIGH,
    scope="standby",
    remediation=PENDING_FULL_SYNC_REMEDIATION,
    needs=("scheduler",),
)
def pending_full_sync(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("pending-full-sync", pair, server)
    host = server.host
    scheduler = server.scheduler
    overrides = _overrides(server)
    names = _connector_names(server)
    for row in overrides:
        if row.full_import_required is None or row.full_sync_required is None:
            which = row.connector_name or row.connector_identifier or "a connector"
            raise FactUnavailableError(host, "scheduler", f"connector override of {which} unreadable "
                                       "(a flag is neither true nor false)")
    running = (" A cycle is running now (SyncCycleInProgress): if it is that full cycle, let it finish and "
               "audit again." if scheduler.sync_cycle_in_progress else "")
    if scheduler.next_policy_type.lower() == "initial":
        yield report(
            f"{host}: the scheduler's next cycle is Initial (NextSyncCyclePolicyType): a full import and "
            "full synchronization of every connector; after a failover no export would leave this server "
            f"until it ends (hours on a large directory).{running}",
            values={"server": host, "next_policy_type": scheduler.next_policy_type,
                    "sync_cycle_in_progress": scheduler.sync_cycle_in_progress},
        )
    for row in overrides:
        if not (row.full_import_required or row.full_sync_required):
            continue
        ident = (row.connector_identifier or "").strip("{}").lower()
        connector = (row.connector_name or names.get(ident) or row.connector_identifier
                     or "unnamed connector")
        if row.full_import_required and row.full_sync_required:
            pending, severity = "a full import and a full synchronization are", Severity.HIGH
        elif row.full_import_required:
            pending, severity = "a full import is", Severity.HIGH
        else:
            pending, severity = "a full synchronization is", Severity.MEDIUM
        yield report(
            f"{host}: {pending} pending on connector {connector} (Get-ADSyncSchedulerConnectorOverride "
            f"FullImportRequired={row.full_import_required}, FullSyncRequired={row.full_sync_required}): the "
            f"first cycle after a failover would run it before exporting anything.{running}",
            severity=severity,
            values={"server": host, "connector": connector, "connector_identifier": row.connector_identifier,
                    "full_import_required": row.full_import_required,
                    "full_sync_required": row.full_sync_required,
                    "sync_cycle_in_progress": scheduler.sync_cycle_in_progress},
        )
