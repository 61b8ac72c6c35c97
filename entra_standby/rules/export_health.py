"""export-health: the active's newest Export on each connector succeeded, so a standby takes over from a
server whose changes reached AD and Entra ID (probe-review §4 items 6 and 7)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from ..facts.collection import HostFacts, PairFacts
from ..facts.model import ExportCounters, RunRecord
from ._common import Reporter, aware, human_age, now_of
from .base import Finding, Severity, check
from .sync import SUCCESS_EQUIVALENT, interval_s
from .thresholds import threshold_float

_OPS = "https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-sync-service-manager-ui-operations"
_DELETES = ("https://learn.microsoft.com/entra/identity/hybrid/connect/"
            "how-to-connect-sync-feature-prevent-accidental-deletes")

EXPORT_REMEDIATION = (
    "on the active: open Synchronization Service Manager > Operations (or Get-ADSyncRunProfileResult / "
    "Get-ADSyncRunStepResult), fix the cause the failed Export names, then run the Export again "
    "(Start-ADSyncSyncCycle -PolicyType Delta) and check it ends in success before failing over"
)

# Result -> (what it means, severity, what to do). The names and meanings are [OPS] (the Operations tab);
# the deletion threshold is [DELETES]. A stopped-* run aborted: nothing after the stop was exported.
STOPPED_OR_ERRORS: dict[str, tuple[str, Severity, str]] = {
    "completed-export-errors": (
        "the export completed but some objects failed to export",
        Severity.HIGH,
        "read the export errors (Operations > the Export run, or Get-ADSyncRunStepResult), fix the objects "
        "(often duplicate attributes or data validation), and let the next cycle export them",
    ),
    "stopped-deletion-threshold-exceeded": (
        "the export deletion threshold stopped the export (event 116, source Directory Synchronization): "
        "no change reaches Entra ID until it is resolved",
        Severity.CRITICAL,
        "check the pending deletes are intended (csexport, reference §7.1); if they are, "
        "Disable-ADSyncExportDeletionThreshold, run the Export, then Enable-ADSyncExportDeletionThreshold "
        f"({_DELETES}); if not, fix the scope change that caused them",
    ),
    "stopped-server-down": (
        "the connected directory did not answer: the export stopped",
        Severity.CRITICAL,
        "check the directory the connector exports to is reachable from the active (DCs for an AD connector, "
        "Test-AdSyncAzureServiceConnectivity for Entra ID), then run the Export again",
    ),
    "stopped-connectivity": (
        "the connection to the connected directory failed: the export stopped",
        Severity.CRITICAL,
        "check name resolution, proxy and firewall from the active to the connected directory, and the "
        "connector account's credentials, then run the Export again",
    ),
    "stopped-extension-dll-exception": (
        "an extension threw an exception: the export stopped",
        Severity.CRITICAL,
        "read the Application log (source ADSync) for the exception, fix or remove the extension, then run "
        "the Export again",
    ),
    "stopped-error-limit": (
        "the export stopped at the error limit (more than 5,000 errors)",
        Severity.CRITICAL,
        "read the export errors (Operations > the Export run), fix their common cause, then run the "
        "Export again",
    ),
}


def _latest_exports(runs: tuple[RunRecord, ...]) -> dict[str, RunRecord]:
    """Each connector's newest completed Export (an in-progress one has no verdict yet)."""
    latest: dict[str, RunRecord] = {}
    for run in runs:
        if run.profile.lower() != "export" or not run.complete or run.end is None:
            continue
        seen = latest.get(run.connector.lower())
        if seen is None or aware(run.end) > aware(seen.end or seen.start):
            latest[run.connector.lower()] = run
    return latest


def _counted(counters: ExportCounters | None, error: str | None) -> tuple[str, dict[str, Any]]:
    """The step counters as a phrase and as finding values (or what kept them from being read)."""
    if counters is None:
        why = error or "not reported"
        return f"; step counters unavailable ({why})", {"export_counters": None, "export_counters_error": why}
    phrase = (f"; exported {counters.add} add(s), {counters.update} update(s), {counters.rename} rename(s), "
              f"{counters.delete} delete(s), {counters.delete_add} delete-add(s); "
              f"{counters.failure} failure(s)")
    values = {"export_counters": {"add": counters.add, "update": counters.update, "rename": counters.rename,
                                  "delete": counters.delete, "delete_add": counters.delete_add,
                                  "failure": counters.failure}}
    return phrase, values


def _backlog(server: HostFacts, connector: str) -> tuple[str, dict[str, Any]]:
    """Pending exports on the connector: the backlog a standby would inherit (when the probe answered)."""
    if not server.has("pending-exports"):
        return "", {}
    rows = server.pending_exports.connectors
    row = next((p for p in rows if p.connector.lower() == connector.lower()), None)
    if row is None:
        return "", {}
    return (f"; {row.adds} add(s), {row.updates} update(s), {row.deletes} delete(s) still pending export",
            {"pending_adds": row.adds, "pending_updates": row.updates, "pending_deletes": row.deletes})


@check(
    "export-health",
    title="active's newest Export on every connector succeeded",
    severity=Severity.HIGH,
    scope="host",
    remediation=EXPORT_REMEDIATION,
    needs=("run-history", "connectors", "scheduler"),
)
def export_health(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("export-health", pair, server)
    now = now_of(pair, server)
    # Read on every server, so one whose facts are missing says so as every host check does.
    runs = server.run_history.runs
    configured = [c.name for c in server.connectors.connectors]
    cycle_s = interval_s(server)
    # A standby skips every Export while staging ([SCHED]): only the active has exports to judge.
    if server.role != "active":
        return
    latest = _latest_exports(runs)
    connectors = configured or sorted({r.connector for r in runs if r.profile.lower() == "export"})
    max_minutes = threshold_float(pair, "max_run_age_minutes")
    max_age = timedelta(minutes=max_minutes) if max_minutes is not None else timedelta(seconds=2 * cycle_s)
    for connector in connectors:
        run = latest.get(connector.lower())
        if run is None:
            yield report(
                f"{server.host}: connector '{connector}' has no completed Export in its run history "
                "(the active exports every cycle)",
                connector=connector,
            )
            continue
        ended = aware(run.end or run.start)
        result = run.result.lower()
        counted, counter_values = _counted(run.export_counters, run.export_counters_error)
        base = {"connector": connector, "result": run.result, "end": ended.isoformat(),
                "run_history_id": run.run_history_id, **counter_values}
        if result in STOPPED_OR_ERRORS:
            meaning, severity, fix = STOPPED_OR_ERRORS[result]
            backlog, backlog_values = _backlog(server, connector)
            yield report(
                f"{server.host}: connector '{connector}': newest Export ended {ended:%Y-%m-%d %H:%M}Z with "
                f"{run.result}: {meaning}{counted}{backlog}",
                severity=severity,
                remediation=f"on {server.host}: {fix} ({_OPS})",
                values={**base, **backlog_values},
            )
        elif result.startswith("completed-") and result.endswith("-warnings"):
            yield report(
                f"{server.host}: connector '{connector}': newest Export ended {ended:%Y-%m-%d %H:%M}Z with "
                f"{run.result} (completed; look at the warnings){counted}",
                severity=Severity.LOW,
                values=base,
            )
        elif result not in SUCCESS_EQUIVALENT:
            backlog, backlog_values = _backlog(server, connector)
            yield report(
                f"{server.host}: connector '{connector}': newest Export ended {ended:%Y-%m-%d %H:%M}Z with "
                f"{run.result}{counted}{backlog}",
                values={**base, **backlog_values},
            )
        elif run.export_counters is not None and run.export_counters.failure > 0:
            yield report(
                f"{server.host}: connector '{connector}': newest Export ended with {run.result} but counts "
                f"{run.export_counters.failure} export failure(s){counted}",
                values=base,
            )
        age = now - ended
        if age > max_age:
            yield report(
                f"{server.host}: connector '{connector}': newest Export ended "
                f"{human_age(age.total_seconds())} ago (limit {human_age(max_age.total_seconds())}): "
                "changes are not leaving the active",
                severity=Severity.MEDIUM,
                values=base,
            )
