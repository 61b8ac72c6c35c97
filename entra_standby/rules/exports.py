"""What the standby would write on its first export after failover: pending adds, updates and deletes."""

from __future__ import annotations

from collections.abc import Iterator

from ..facts.collection import HostFacts, PairFacts
from ._common import Reporter
from .base import Finding, Severity, check
from .thresholds import threshold_int

DEFAULT_DELETION_THRESHOLD = 500  # export deletion threshold default (reference §7.4)

EXPORTS_REMEDIATION = (
    'on the standby: list the pending exports with csexport "<connector>" %temp%\\x.xml /f:x '
    "and CSExportAnalyzer; remove their cause (OU filter, partition or rule drift from the active, "
    "stale import), run Start-ADSyncSyncCycle -PolicyType Initial and re-check before any failover"
)


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
    guard = server.config.deletion_threshold
    # Deletes past the export deletion threshold stop the first export (stopped-deletion-threshold-exceeded);
    # a disabled threshold lets them through, which is worse, so the default still marks them critical.
    deletion_limit = (
        guard.threshold if guard.enabled and guard.threshold is not None else DEFAULT_DELETION_THRESHOLD
    )
    for stats in server.pending_exports.connectors:
        for kind, limit in limits.items():
            count: int = getattr(stats, kind)
            above_guard = kind == "deletes" and count > deletion_limit
            if count <= limit and not above_guard:
                continue
            values = {
                "connector": stats.connector,
                "kind": kind,
                "count": count,
                "limit": limit,
                "source": server.pending_exports.source,
            }
            if above_guard:
                yield report(
                    f"{server.host}: connector '{stats.connector}' has {count} pending deletes, above the "
                    f"export deletion threshold {deletion_limit} (limit {limit})",
                    severity=Severity.CRITICAL,
                    deletion_threshold=deletion_limit,
                    values=values,
                )
            else:
                yield report(
                    f"{server.host}: connector '{stats.connector}' has {count} pending {kind} "
                    f"(limit {limit})",
                    values=values,
                )
