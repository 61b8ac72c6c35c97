"""export-health (issue 16 point 1): the active's newest Export on each connector, named with its counters."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from factbuilders import AAD, AD, NOW, change, healthy_pair, run

from entra_standby.facts.collection import PairFacts
from entra_standby.facts.model import ExportCounters, PendingExport, RunRecord
from entra_standby.rules import Severity
from entra_standby.rules.export_health import STOPPED_OR_ERRORS


def _newest_export(pair: PairFacts, host: str, connector: str, **fields: object) -> PairFacts:
    """Change the host's newest Export row of one connector."""
    runs = pair.server(host).run_history.runs
    target = max((r for r in runs if r.connector == connector and r.profile == "Export"),
                 key=lambda r: r.end or r.start)
    new = tuple(dataclasses.replace(r, **fields) if r is target else r for r in runs)  # type: ignore[arg-type]
    return change(pair, host, "run-history", runs=new)


def test_healthy_active_and_standby_pass() -> None:
    pair = healthy_pair()
    assert run("export-health", pair, "aadc01") == []
    assert run("export-health", pair, "aadc02") == []


@pytest.mark.parametrize("result", sorted(STOPPED_OR_ERRORS))
def test_each_failed_result_is_named_with_its_meaning_and_counters(result: str) -> None:
    counters = ExportCounters(add=2, update=40, delete=0, failure=7)
    pair = _newest_export(healthy_pair(), "aadc01", AAD, result=result, export_counters=counters)
    [finding] = run("export-health", pair, "aadc01")
    meaning, severity, _fix = STOPPED_OR_ERRORS[result]
    assert finding.severity is severity and finding.values["result"] == result
    assert f"with {result}: {meaning}" in finding.message
    assert "2 add(s), 40 update(s)" in finding.message and "7 failure(s)" in finding.message
    assert finding.values["export_counters"]["failure"] == 7


def test_deletion_threshold_is_critical_and_names_event_116_and_the_backlog() -> None:
    pair = _newest_export(healthy_pair(), "aadc01", AAD, result="stopped-deletion-threshold-exceeded")
    pair = change(pair, "aadc01", "pending-exports",
                  connectors=(PendingExport(AAD, 0, 3, 812), PendingExport(AD, 0, 0, 0)))
    [finding] = run("export-health", pair, "aadc01")
    assert finding.severity is Severity.CRITICAL and "event 116" in finding.message
    assert "812 delete(s) still pending export" in finding.message
    assert finding.values["pending_deletes"] == 812
    assert "Disable-ADSyncExportDeletionThreshold" in finding.remediation


def test_unreadable_counters_are_said_not_invented() -> None:
    pair = _newest_export(healthy_pair(), "aadc01", AD, result="stopped-server-down",
                          export_counters=None, export_counters_error="no export counters on 1 step(s)")
    [finding] = run("export-health", pair, "aadc01")
    assert "step counters unavailable (no export counters on 1 step(s))" in finding.message
    assert finding.values["export_counters"] is None


def test_success_with_counted_failures_is_a_finding() -> None:
    pair = _newest_export(healthy_pair(), "aadc01", AAD, export_counters=ExportCounters(failure=3))
    [finding] = run("export-health", pair, "aadc01")
    assert finding.severity is Severity.HIGH and "counts 3 export failure(s)" in finding.message


def test_warnings_are_low_and_no_objects_is_success() -> None:
    pair = _newest_export(healthy_pair(), "aadc01", AAD, result="completed-export-warnings")
    [finding] = run("export-health", pair, "aadc01")
    assert finding.severity is Severity.LOW
    pair = _newest_export(healthy_pair(), "aadc01", AAD, result="completed-no-objects")
    assert run("export-health", pair, "aadc01") == []


def test_only_the_newest_export_counts_and_an_older_failure_does_not() -> None:
    pair = healthy_pair()
    runs = pair.server("aadc01").run_history.runs
    oldest = min((r for r in runs if r.connector == AAD and r.profile == "Export"), key=lambda r: r.start)
    changed = tuple(dataclasses.replace(r, result="stopped-connectivity") if r is oldest else r for r in runs)
    assert run("export-health", change(pair, "aadc01", "run-history", runs=changed), "aadc01") == []


def test_no_export_on_the_active_and_a_stale_export_are_findings() -> None:
    pair = healthy_pair()
    runs = pair.server("aadc01").run_history.runs
    no_ad_export = tuple(r for r in runs if not (r.connector == AD and r.profile == "Export"))
    [missing] = run("export-health", change(pair, "aadc01", "run-history", runs=no_ad_export), "aadc01")
    assert f"connector '{AD}' has no completed Export" in missing.message
    old = tuple(dataclasses.replace(r, start=r.start - timedelta(hours=5), end=(r.end or r.start)
                                    - timedelta(hours=5)) for r in runs)
    stale = run("export-health", change(pair, "aadc01", "run-history", runs=old), "aadc01")
    assert {f.severity for f in stale} == {Severity.MEDIUM} and len(stale) == 2
    assert all("changes are not leaving the active" in f.message for f in stale)


def test_a_standby_is_not_judged_on_exports() -> None:
    pair = _newest_export(healthy_pair(), "aadc01", AAD, result="stopped-connectivity")
    runs = pair.server("aadc01").run_history.runs
    pair = change(pair, "aadc02", "run-history", runs=runs)
    assert run("export-health", pair, "aadc02") == []


def test_an_in_progress_export_is_not_the_newest_verdict() -> None:
    pair = healthy_pair()
    runs = pair.server("aadc01").run_history.runs
    running = RunRecord("x", AAD, "Export", "in-progress", NOW - timedelta(seconds=5), None, False)
    assert run("export-health", change(pair, "aadc01", "run-history", runs=(running, *runs)), "aadc01") == []

