"""The result model: every check on every target classified as passed, failed, error or skipped."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from factbuilders import NOW, change, drop, healthy_pair

from entra_standby.facts.collection import FactError
from entra_standby.facts.model import CloudFacts
from entra_standby.results import Outcome, evaluate_check, evaluate_pair, targets
from entra_standby.rules import load_all


def test_healthy_pair_passes_every_host_check_and_skips_cloud_checks_without_a_cloud_block() -> None:
    results = evaluate_pair(healthy_pair())
    registry = load_all()
    assert {r.check_id for r in results} == set(registry)
    for r in results:
        expected = Outcome.SKIPPED if "cloud" in registry[r.check_id].needs else Outcome.PASSED
        assert r.outcome is expected, (r.check_id, r.target, r.findings, r.reason)
    skipped = [r for r in results if r.outcome is Outcome.SKIPPED]
    assert all("no cloud block" in (r.reason or "") for r in skipped)


def test_targets_follow_the_check_scope() -> None:
    pair = healthy_pair(standbys=("aadc02", "aadc03"))
    registry = load_all()
    assert targets(registry["staging-flag"], pair) == [None]
    assert [s.host for s in targets(registry["tls12"], pair) if s] == ["aadc01", "aadc02", "aadc03"]
    assert [s.host for s in targets(registry["recent-imports"], pair) if s] == ["aadc02", "aadc03"]


def test_a_failing_check_carries_every_finding() -> None:
    pair = change(healthy_pair(), "aadc02", "service", status="Stopped", start_mode="Manual")
    result = evaluate_check(load_all()["adsync-service"], pair, pair.server("aadc02"))
    assert result.outcome is Outcome.FAILED
    assert result.target == "contoso-prod/aadc02"
    assert len(result.findings) == 2
    assert all("aadc02" in f.message for f in result.findings)


def test_a_missing_fact_is_an_error_naming_host_and_cause_once() -> None:
    pair = drop(healthy_pair(), "aadc02", "tls", message="aadc02: unreachable: connection refused")
    result = evaluate_check(load_all()["tls12"], pair, pair.server("aadc02"))
    assert result.outcome is Outcome.ERROR
    assert result.reason == "aadc02: unreachable: connection refused"
    assert result.findings == ()


def test_a_parity_check_errors_when_the_active_facts_are_missing() -> None:
    pair = drop(healthy_pair(), "aadc01", "version", message="aadc01: unreachable: timed out")
    result = evaluate_check(load_all()["version-parity"], pair, pair.server("aadc02"))
    assert result.outcome is Outcome.ERROR
    assert "aadc01" in (result.reason or "")


def test_cloud_checks_error_when_configured_but_not_gathered_and_skip_without_canary() -> None:
    registry = load_all()
    broken = dataclasses.replace(healthy_pair(), cloud_configured=True,
                                 cloud_error=FactError("cloud", "cloud", "tenant t: AADSTS7000215"))
    result = evaluate_check(registry["cloud-sync-fresh"], broken)
    assert result.outcome is Outcome.ERROR and "AADSTS7000215" in (result.reason or "")

    fresh = CloudFacts("t", True, NOW - timedelta(minutes=5))
    configured = dataclasses.replace(healthy_pair(), cloud=fresh, cloud_configured=True)
    assert evaluate_check(registry["cloud-sync-fresh"], configured).outcome is Outcome.PASSED
    canary = evaluate_check(registry["cloud-canary"], configured)
    assert canary.outcome is Outcome.SKIPPED and "canary_user" in (canary.reason or "")


def test_unknown_check_ids_are_refused() -> None:
    with pytest.raises(KeyError, match="no-such-check"):
        evaluate_pair(healthy_pair(), ["no-such-check"])


def test_worst_severity_is_the_highest_finding() -> None:
    pair = change(healthy_pair(), "aadc02", "version", product_version="1.6.16.0")
    result = evaluate_check(load_all()["version-supported"], pair, pair.server("aadc02"))
    assert result.outcome is Outcome.FAILED
    assert str(result.worst_severity) == "critical"
