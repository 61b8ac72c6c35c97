"""connect-health-agent (issue 16 point 4): the Connect Health sync agent running, automatic, same version."""

from __future__ import annotations

import pytest
from factbuilders import change, healthy_pair, run

from entra_standby.errors import FactUnavailableError
from entra_standby.facts.model import HealthAgentFacts, HealthAgentService
from entra_standby.rules import Severity

INSIGHTS, MONITOR = "AzureADConnectHealthSyncInsights", "AzureADConnectHealthSyncMonitor"


def _agent(version: str = "4.5.2466.0", **monitor: object) -> HealthAgentFacts:
    fields = {"exists": True, "state": "Running", "start_mode": "Auto", "version": version, **monitor}
    return HealthAgentFacts((HealthAgentService(INSIGHTS, True, "Running", "Auto", version),
                             HealthAgentService(MONITOR, **fields)))  # type: ignore[arg-type]


def test_running_automatic_same_version_passes() -> None:
    assert run("connect-health-agent", healthy_pair()) == []


def test_stopped_manual_service_is_named_with_its_state() -> None:
    stopped = _agent(state="Stopped", start_mode="Manual")
    pair = change(healthy_pair(), "aadc02", "machine", health_agent=stopped)
    [finding] = run("connect-health-agent", pair)
    assert finding.severity is Severity.MEDIUM
    assert f"aadc02: Connect Health sync service {MONITOR} is Stopped, start mode Manual" in finding.message
    assert "Set-Service -StartupType Automatic" in finding.remediation


def test_missing_service_and_differing_version() -> None:
    pair = change(healthy_pair(), "aadc02", "machine",
                  health_agent=_agent("4.2.1100.0", exists=False, state=None, start_mode=None))
    missing, versions = sorted(run("connect-health-agent", pair), key=lambda f: "versions" in f.message)
    assert f"{MONITOR} is not installed" in missing.message
    assert versions.severity is Severity.LOW
    assert "(aadc01 (active): 4.5.2466.0, aadc02: 4.2.1100.0)" in versions.message


def test_a_service_the_facts_do_not_list_is_missing() -> None:
    pair = change(healthy_pair(), "aadc01", "machine", health_agent=HealthAgentFacts(_agent().services[:1]))
    [finding] = run("connect-health-agent", pair)
    assert f"aadc01: Connect Health sync service {MONITOR} is not installed" in finding.message


def test_unreadable_or_older_facts_are_no_verdict() -> None:
    pair = change(healthy_pair(), "aadc02", "machine", health_agent=HealthAgentFacts((), "Failed: WMI"))
    with pytest.raises(FactUnavailableError, match="Connect Health agent unreadable: Failed: WMI"):
        run("connect-health-agent", pair)
    with pytest.raises(FactUnavailableError, match="no health agent block"):
        run("connect-health-agent", change(healthy_pair(), "aadc01", "machine", health_agent=None))


def test_no_agent_on_any_server_is_not_applicable_but_on_one_server_it_fails() -> None:
    from entra_standby.results import Outcome, evaluate_check
    from entra_standby.rules import load_all

    spec = load_all()["connect-health-agent"]
    absent = HealthAgentFacts(tuple(HealthAgentService(name) for name in (INSIGHTS, MONITOR)))
    nowhere = change(change(healthy_pair(), "aadc01", "machine", health_agent=absent),
                     "aadc02", "machine", health_agent=absent)
    skipped = evaluate_check(spec, nowhere)
    assert skipped.outcome is Outcome.SKIPPED and "Entra ID P1" in (skipped.reason or ""), skipped
    only_active = change(healthy_pair(), "aadc02", "machine", health_agent=absent)
    failed = evaluate_check(spec, only_active)
    assert failed.outcome is Outcome.FAILED
    messages = " / ".join(f.message for f in failed.findings)
    assert f"aadc02: Connect Health sync service {INSIGHTS} is not installed" in messages, messages
    assert f"aadc02: Connect Health sync service {MONITOR} is not installed" in messages, messages
