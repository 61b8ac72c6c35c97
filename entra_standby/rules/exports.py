"""What the standby would write on its first export after failover: pending adds, updates and deletes."""

from __future__ import annotations

from collections.abc import Iterator

from ..facts.collection import HostFacts, PairFacts
from ..facts.model import ConfigFacts, DeletionThreshold
from ._common import Reporter
from .base import Finding, Severity, check
from .thresholds import threshold_int

DEFAULT_DELETION_THRESHOLD = 500  # export deletion threshold default (reference §7.4)
ENTRA_CONNECTOR_ID = "b891884f-051e-4a83-95af-2544101c9083"  # fixed on every install (reference §2.2)

EXPORTS_REMEDIATION = (
    'on the standby: list the pending exports with csexport "<connector>" %temp%\\x.xml /f:x '
    "and CSExportAnalyzer; remove their cause (OU filter, partition or rule drift from the active, "
    "stale import), run Start-ADSyncSyncCycle -PolicyType Initial and re-check before any failover"
)


def entra_connector_names(config: ConfigFacts) -> set[str]:
    """Lower-case names of the Entra ID connector(s): the fixed identifier; without one (older evidence), the
    connector type Extensible2 that the Entra connector has."""
    return {
        c.name.lower()
        for c in config.connectors
        if (c.identifier or "").lower() == ENTRA_CONNECTOR_ID
        or (c.identifier is None and c.type.lower() == "extensible2")
    }


def deletion_guard(guard: DeletionThreshold) -> tuple[int, str]:
    """The pending-delete count treated as a mass delete, and how to name that line in a message.

    Deletes past the export deletion threshold stop the first export to Entra ID
    (stopped-deletion-threshold-exceeded); a disabled or unreadable threshold lets them through, which is
    worse, so the default still marks them critical. A percentage threshold cannot be turned into a count
    from the connector statistics, so the default count stands in for it.
    """
    default = DEFAULT_DELETION_THRESHOLD
    if guard.enabled and guard.mode != "percentage" and guard.threshold is not None:
        return guard.threshold, f"the export deletion threshold {guard.threshold}"
    if guard.enabled is None:
        return default, f"{default}, the default threshold (this server's threshold is unknown)"
    if guard.enabled:
        return default, (
            f"{default}, the default threshold (this server's threshold is {guard.percentage}% of the "
            "connector's objects, which the statistics do not count)"
        )
    return default, f"{default}, the default threshold (the export deletion threshold is disabled)"


@check(
    "pending-exports",
    title="standby's pending exports within limits",
    severity=Severity.HIGH,
    scope="standby",
    remediation=EXPORTS_REMEDIATION,
    needs=("pending-exports", "config"),
)
def pending_exports(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("pending-exports", pair, server)
    limits = {
        "adds": threshold_int(pair, "max_pending_adds"),
        "updates": threshold_int(pair, "max_pending_updates"),
        "deletes": threshold_int(pair, "max_pending_deletes"),
    }
    deletion_limit, line = deletion_guard(server.config.deletion_threshold)
    entra = entra_connector_names(server.config)
    for stats in server.pending_exports.connectors:
        to_entra = stats.connector.lower() in entra
        for kind, limit in limits.items():
            count: int = getattr(stats, kind)
            mass_delete = kind == "deletes" and count > deletion_limit
            if count <= limit and not mass_delete:
                continue
            values = {
                "connector": stats.connector,
                "kind": kind,
                "count": count,
                "limit": limit,
                "source": server.pending_exports.source,
            }
            if mass_delete and to_entra:
                yield report(
                    f"{server.host}: connector '{stats.connector}' has {count} pending deletes, above {line} "
                    f"(limit {limit}); the first export to Entra ID after failover would stop "
                    "(stopped-deletion-threshold-exceeded) or, with the threshold off, delete them",
                    severity=Severity.CRITICAL,
                    deletion_threshold=deletion_limit,
                    values=values,
                )
            elif mass_delete:
                # The export deletion threshold guards exports to Entra ID only: nothing stops these.
                yield report(
                    f"{server.host}: connector '{stats.connector}' has {count} pending deletes in Active "
                    f"Directory, more than {deletion_limit} (limit {limit}); no deletion threshold guards "
                    "exports to AD, so the first export after failover would delete them",
                    severity=Severity.CRITICAL,
                    mass_delete_line=deletion_limit,
                    values=values,
                )
            else:
                yield report(
                    f"{server.host}: connector '{stats.connector}' has {count} pending {kind} "
                    f"(limit {limit})",
                    values=values,
                )
