"""Sync checks: sync-scheduler, recent-imports, deletion-threshold."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from factbuilders import AAD, AD, NOW, change, healthy_pair, run, run_all_hosts

from entra_standby.errors import FactUnavailableError
from entra_standby.facts.collection import PairFacts
from entra_standby.facts.model import DeletionThreshold, RunRecord
from entra_standby.rules import Severity


def test_healthy_pair_passes_every_sync_check() -> None:
    pair = healthy_pair()
    for check_id in ("sync-scheduler", "recent-imports", "deletion-threshold"):
        assert run_all_hosts(check_id, pair) == [], check_id


# --- sync-scheduler --------------------------------------------------------------------------------------


def test_disabled_and_suspended_scheduler_reports_both() -> None:
    pair = change(healthy_pair(), "aadc02", "scheduler", sync_cycle_enabled=False, scheduler_suspended=True)
    findings = run("sync-scheduler", pair, "aadc02")
    assert {next(iter(f.values)) for f in findings} == {"sync_cycle_enabled", "scheduler_suspended"}
    assert all(f.message.startswith("aadc02:") for f in findings)
    assert any("Set-ADSyncScheduler -SyncCycleEnabled $true" in f.remediation for f in findings)


def test_overdue_cycle_fails_only_past_one_interval() -> None:
    late_ok = change(healthy_pair(), "aadc01", "scheduler", next_start_utc=NOW - timedelta(minutes=29))
    assert run("sync-scheduler", late_ok, "aadc01") == []
    overdue = change(healthy_pair(), "aadc01", "scheduler", next_start_utc=NOW - timedelta(hours=3))
    [finding] = run("sync-scheduler", overdue, "aadc01")
    assert "aadc01" in finding.message and "3.0 h ago" in finding.message
    assert finding.values["overdue_s"] == 3 * 3600 and finding.values["interval_s"] == 1800
    running = change(overdue, "aadc01", "scheduler", sync_cycle_in_progress=True)
    assert run("sync-scheduler", running, "aadc01") == []


def test_scheduler_needs_an_evaluation_time() -> None:
    pair = dataclasses.replace(healthy_pair(), now_utc=None)
    pair = dataclasses.replace(
        pair, servers=tuple(dataclasses.replace(s, collected_utc=None) for s in pair.servers)
    )
    with pytest.raises(FactUnavailableError, match="now_utc"):
        run("sync-scheduler", pair, "aadc01")


# --- recent-imports --------------------------------------------------------------------------------------


def _with_runs(pair: PairFacts, runs: list[RunRecord]) -> PairFacts:
    return change(pair, "aadc02", "run-history", runs=tuple(runs))


def _run(
    connector: str,
    profile: str,
    minutes_ago: float,
    result: str = "success",
    complete: bool = True,
) -> RunRecord:
    end = NOW - timedelta(minutes=minutes_ago)
    return RunRecord(
        f"{connector}-{profile}-{minutes_ago}",
        connector,
        profile,
        result,
        end - timedelta(seconds=20),
        end if complete else None,
        complete,
    )


def _fresh(minutes_ago: float = 10) -> list[RunRecord]:
    return [_run(c, p, minutes_ago) for c in (AD, AAD) for p in ("Delta Import", "Delta Synchronization")]


def test_recent_imports_fresh_history_passes_and_active_is_not_checked() -> None:
    assert run("recent-imports", _with_runs(healthy_pair(), _fresh()), "aadc02") == []
    stale_active = change(healthy_pair(), "aadc01", "run-history", runs=())
    assert run("recent-imports", stale_active, "aadc01") == []


def test_recent_imports_reports_every_stale_and_failed_run() -> None:
    runs = [
        _run(AD, "Delta Import", 180),  # too old (default limit: 2 x 30 min)
        _run(AD, "Delta Synchronization", 10),
        _run(AAD, "Delta Import", 10, "stopped-connectivity"),
        _run(AAD, "Delta Import", 40),
        _run(AAD, "Delta Synchronization", 10, "completed-sync-errors"),
    ]
    findings = run("recent-imports", _with_runs(healthy_pair(), runs), "aadc02")
    assert len(findings) == 4
    # The Entra sync never succeeded in the history: critical, on top of its failed latest run.
    [never] = [f for f in findings if f.severity is Severity.CRITICAL]
    assert (
        never.values["connector"] == AAD
        and never.values["kind"] == "sync"
        and never.values["last_success"] is None
    )
    by_key = {(f.values["connector"], f.values["kind"]): f for f in findings if f is not never}
    assert "3.0 h ago (limit 60 min)" in by_key[(AD, "import")].message
    assert by_key[(AD, "import")].values["age_minutes"] == 180
    assert "stopped-connectivity" in by_key[(AAD, "import")].message
    assert by_key[(AAD, "sync")].values["result"] == "completed-sync-errors"
    assert all(f.severity is Severity.HIGH and "aadc02" in f.message for f in by_key.values())


def test_recent_imports_nothing_in_seven_days_is_critical() -> None:
    runs = [_run(c, p, 8 * 24 * 60) for c in (AD, AAD) for p in ("Full Import", "Full Synchronization")]
    findings = run("recent-imports", _with_runs(healthy_pair(), runs), "aadc02")
    assert len(findings) == 4
    assert all(f.severity is Severity.CRITICAL and "7 days" in f.message for f in findings)


def test_recent_imports_connector_without_runs_is_critical() -> None:
    runs = [r for r in _fresh() if r.connector == AD]
    findings = run("recent-imports", _with_runs(healthy_pair(), runs), "aadc02")
    assert {(f.values["connector"], f.values["kind"]) for f in findings} == {(AAD, "import"), (AAD, "sync")}
    assert all(f.severity is Severity.CRITICAL for f in findings)


def test_recent_imports_judges_configured_connectors_only() -> None:
    gone = "fabrikam.com"  # removed from the configuration 9 days ago; its old runs are still in the history
    deleted = [_run(gone, "Delta Import", 9 * 24 * 60), _run(gone, "Delta Synchronization", 9 * 24 * 60)]
    assert run("recent-imports", _with_runs(healthy_pair(), [*_fresh(), *deleted]), "aadc02") == []


def test_recent_imports_ignores_runs_in_progress() -> None:
    runs = [*_fresh(), _run(AD, "Delta Import", 1, "in-progress", complete=False)]
    assert run("recent-imports", _with_runs(healthy_pair(), runs), "aadc02") == []


def test_recent_imports_limit_follows_interval_and_inventory() -> None:
    old = _with_runs(healthy_pair(), _fresh(minutes_ago=90))
    assert len(run("recent-imports", old, "aadc02")) == 4
    slow = change(old, "aadc02", "scheduler", effective_interval_s=3600)  # 2 x 60 min
    assert run("recent-imports", slow, "aadc02") == []
    relaxed = _with_runs(healthy_pair(thresholds={"max_run_age_minutes": 120}), _fresh(minutes_ago=90))
    assert run("recent-imports", relaxed, "aadc02") == []
    strict = _with_runs(healthy_pair(thresholds={"max_run_age_minutes": 5}), _fresh(minutes_ago=10))
    assert len(run("recent-imports", strict, "aadc02")) == 4


# --- deletion-threshold ----------------------------------------------------------------------------------


def test_disabled_deletion_threshold_fails() -> None:
    pair = change(healthy_pair(), "aadc01", "config", deletion_threshold=DeletionThreshold(False, None))
    [finding] = run("deletion-threshold", pair, "aadc01")
    assert "aadc01" in finding.message and "disabled" in finding.message
    assert finding.values == {"enabled": False, "threshold": None}
    assert "Enable-ADSyncExportDeletionThreshold" in finding.remediation


def test_unknown_deletion_threshold_is_an_error_not_disabled() -> None:
    unknown = DeletionThreshold(enabled=None,
                                error="Microsoft.OptionalFeature.ExportDeletionThreshold absent")
    pair = change(healthy_pair(), "aadc02", "config", deletion_threshold=unknown)
    with pytest.raises(FactUnavailableError, match="ExportDeletionThreshold absent"):
        run("deletion-threshold", pair, "aadc02")
