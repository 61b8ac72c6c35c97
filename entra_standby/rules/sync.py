"""Sync-engine checks: the scheduler runs, the standby imports and syncs recently, deletes are guarded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from ..errors import FactUnavailableError
from ..facts.collection import HostFacts, PairFacts
from ..facts.model import RunRecord
from ._common import Reporter, aware, human_age, now_of
from .base import Finding, Severity, check
from .thresholds import threshold_float, threshold_int

DEFAULT_INTERVAL_S = 1800.0  # AllowedSyncCycleInterval default (reference §1.1)

# --- sync-scheduler --------------------------------------------------------------------------------------

SCHEDULER_REMEDIATION = (
    "on the server: Set-ADSyncScheduler -SyncCycleEnabled $true; if SchedulerSuspended is True, "
    "finish the upgrade or close the Entra Connect wizard (never set SchedulerSuspended yourself); "
    "then Start-ADSyncSyncCycle -PolicyType Delta"
)


def interval_s(server: HostFacts) -> float:
    sched = server.scheduler
    return sched.effective_interval_s or sched.allowed_interval_s or DEFAULT_INTERVAL_S


@check(
    "sync-scheduler",
    title="sync scheduler enabled, not suspended, not overdue",
    severity=Severity.HIGH,
    scope="host",
    remediation=SCHEDULER_REMEDIATION,
    needs=("scheduler",),
)
def sync_scheduler(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("sync-scheduler", pair, server)
    sched = server.scheduler
    if not sched.sync_cycle_enabled:
        yield report(
            f"{server.host}: SyncCycleEnabled is False: no import, sync or export cycles run",
            sync_cycle_enabled=False,
            remediation=f"on {server.host}: Set-ADSyncScheduler -SyncCycleEnabled $true (it may be stored "
            "in the tenant: re-read Get-ADSyncScheduler on both servers afterwards)",
        )
    if sched.scheduler_suspended:
        yield report(
            f"{server.host}: SchedulerSuspended is True: cycles are blocked (upgrade or open wizard)",
            scheduler_suspended=True,
            remediation=f"on {server.host}: complete the upgrade or close the Entra Connect wizard; do not "
            "set SchedulerSuspended yourself",
        )
    if sched.next_start_utc is None or sched.sync_cycle_in_progress:
        return  # nothing scheduled to be late, or the cycle is running now
    interval = interval_s(server)
    due = aware(sched.next_start_utc)
    late = (now_of(pair, server) - due).total_seconds()
    if late > interval:
        yield report(
            f"{server.host}: next sync cycle was due {due:%Y-%m-%d %H:%M:%S}Z, {human_age(late)} ago "
            f"(more than one interval of {human_age(interval)})",
            next_start_utc=due.isoformat(),
            overdue_s=round(late),
            interval_s=interval,
        )


# --- recent-imports --------------------------------------------------------------------------------------

RUN_KINDS: dict[str, str] = {"import": "import", "sync": "synchroni"}
"""Kind -> lower-case fragment of the run profile name (Full/Delta Import, Full/Delta Synchronization)."""

RUNS_REMEDIATION = (
    "on the standby: fix the failing run (Synchronization Service Manager > Operations, or "
    "Get-ADSyncRunProfileResult), then Start-ADSyncSyncCycle -PolicyType Initial and check that "
    "every connector's import and sync end in success"
)


SUCCESS_EQUIVALENT = frozenset({"success", "completed-no-objects"})
"""Results that need no action: nothing to import is not a failure (probe-review R3; [OPS])."""


def _with_warnings(result: str) -> bool:
    """completed-*-warnings: the run completed; [OPS] has warnings looked at only after errors."""
    low = result.lower()
    return low.startswith("completed-") and low.endswith("-warnings")


def _completed_ok(result: str) -> bool:
    return result.lower() in SUCCESS_EQUIVALENT or _with_warnings(result)


def _finished(runs: tuple[RunRecord, ...], connector: str, fragment: str) -> list[RunRecord]:
    """Completed runs of one kind on one connector, newest first (in-progress runs have no verdict yet)."""
    done = [
        r
        for r in runs
        if r.connector.lower() == connector.lower()
        and fragment in r.profile.lower()
        and r.complete
        and r.end is not None
    ]
    return sorted(done, key=lambda r: aware(r.end or r.start), reverse=True)


@check(
    "recent-imports",
    title="standby imports and syncs every connector recently",
    severity=Severity.HIGH,
    scope="standby",
    remediation=RUNS_REMEDIATION,
    needs=("run-history", "scheduler", "connectors"),
)
def recent_imports(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("recent-imports", pair, server)
    now = now_of(pair, server)
    runs = server.run_history.runs
    configured = [c.name for c in server.connectors.connectors]
    # The configured connectors; a connector seen only in the history was deleted and will not run again.
    connectors = configured or sorted({r.connector for r in runs})
    max_minutes = threshold_float(pair, "max_run_age_minutes")
    max_age = (
        timedelta(minutes=max_minutes)
        if max_minutes is not None
        else timedelta(seconds=2 * interval_s(server))
    )
    stale_days = threshold_int(pair, "stale_run_critical_days")
    stale = timedelta(days=stale_days)
    for connector in connectors:
        for kind, fragment in RUN_KINDS.items():
            done = _finished(runs, connector, fragment)
            if not done:
                yield report(
                    f"{server.host}: connector '{connector}' has no completed {kind} run in its history",
                    severity=Severity.CRITICAL,
                    connector=connector,
                    kind=kind,
                    last_run=None,
                )
                continue
            latest = done[0]
            ended = aware(latest.end or latest.start)
            age = now - ended
            last_ok = next((r for r in done if _completed_ok(r.result)), None)
            ok_ended = aware(last_ok.end or last_ok.start) if last_ok else None
            if ok_ended is None or now - ok_ended > stale:
                since = (
                    f"last success {ok_ended:%Y-%m-%d %H:%M}Z"
                    if ok_ended
                    else "never succeeded in the history"
                )
                yield report(
                    f"{server.host}: connector '{connector}' has no successful {kind} in {stale_days} days "
                    f"({since})",
                    severity=Severity.CRITICAL,
                    connector=connector,
                    kind=kind,
                    last_success=ok_ended.isoformat() if ok_ended else None,
                    stale_run_critical_days=stale_days,
                )
            if not _completed_ok(latest.result):
                yield report(
                    f"{server.host}: connector '{connector}': latest {latest.profile} ended "
                    f"{ended:%Y-%m-%d %H:%M}Z with {latest.result}",
                    connector=connector,
                    kind=kind,
                    profile=latest.profile,
                    result=latest.result,
                    end=ended.isoformat(),
                    run_history_id=latest.run_history_id,
                )
                continue
            if _with_warnings(latest.result):
                yield report(
                    f"{server.host}: connector '{connector}': latest {latest.profile} ended "
                    f"{ended:%Y-%m-%d %H:%M}Z with {latest.result} (completed; look at the warnings)",
                    severity=Severity.LOW,
                    connector=connector,
                    kind=kind,
                    profile=latest.profile,
                    result=latest.result,
                    end=ended.isoformat(),
                    run_history_id=latest.run_history_id,
                )
            if age > max_age and ok_ended is not None and now - ok_ended <= stale:
                yield report(
                    f"{server.host}: connector '{connector}': latest {latest.profile} ended "
                    f"{human_age(age.total_seconds())} ago (limit {human_age(max_age.total_seconds())})",
                    connector=connector,
                    kind=kind,
                    profile=latest.profile,
                    end=ended.isoformat(),
                    age_minutes=round(age.total_seconds() / 60),
                    max_age_minutes=max_age.total_seconds() / 60,
                )


# --- deletion-threshold ----------------------------------------------------------------------------------

DELETION_REMEDIATION = (
    "on the server: Enable-ADSyncExportDeletionThreshold -DeletionThreshold 500 (the setting is "
    "held in the tenant; re-read Get-ADSyncExportDeletionThreshold on both servers)"
)


@check(
    "deletion-threshold",
    title="accidental-delete prevention enabled",
    severity=Severity.MEDIUM,
    scope="host",
    remediation=DELETION_REMEDIATION,
    needs=("config",),
)
def deletion_threshold(pair: PairFacts, server: HostFacts) -> Iterator[Finding]:
    report = Reporter("deletion-threshold", pair, server)
    guard = server.config.deletion_threshold
    if guard.enabled is None:  # the server did not say: unknown is not "disabled"
        raise FactUnavailableError(server.host, "config", guard.error or "deletion threshold not readable")
    if not guard.enabled:
        yield report(
            f"{server.host}: export deletion threshold (accidental-delete prevention) is disabled",
            enabled=False,
            threshold=guard.threshold,
        )
