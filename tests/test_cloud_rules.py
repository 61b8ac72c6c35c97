"""Cloud checks on hand-built facts: cloud-sync-enabled, cloud-sync-fresh, cloud-canary."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from factbuilders import NOW, change, drop, healthy_pair, run

from entra_standby.errors import FactUnavailableError
from entra_standby.facts.collection import FactError, PairFacts
from entra_standby.facts.model import CanaryFacts, CloudFacts
from entra_standby.rules import REGISTRY, Severity, load_all

TENANT = "7d3f5a1e-2c4b-4e8f-9a6d-1b2c3d4e5f60"


def with_cloud(pair: PairFacts, *, sync_enabled: bool | None = True,
               age: timedelta | None = timedelta(minutes=20), canary: CanaryFacts | None = None) -> PairFacts:
    cloud = CloudFacts(TENANT, sync_enabled, NOW - age if age is not None else None, canary=canary,
                       collected_utc=NOW)
    return dataclasses.replace(pair, cloud=cloud, cloud_configured=True)


def test_cloud_checks_are_registered_pair_scoped_and_need_the_cloud() -> None:
    load_all()
    for check_id, severity in (("cloud-sync-enabled", Severity.CRITICAL), ("cloud-sync-fresh", Severity.HIGH),
                               ("cloud-canary", Severity.HIGH)):
        spec = REGISTRY[check_id]
        assert spec.scope == "pair"
        assert spec.needs == ("cloud",)
        assert spec.severity == severity


def test_healthy_cloud_passes_every_cloud_check() -> None:
    canary = CanaryFacts("canary@contoso.com", True, NOW - timedelta(minutes=5))
    pair = with_cloud(healthy_pair(), canary=canary)
    for check_id in ("cloud-sync-enabled", "cloud-sync-fresh", "cloud-canary"):
        assert run(check_id, pair) == [], check_id


# --- cloud-sync-enabled ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "words"), [(False, "no longer"), (None, "never been synced")])
def test_sync_disabled_or_never_enabled_is_critical(value: bool | None, words: str) -> None:
    [finding] = run("cloud-sync-enabled", with_cloud(healthy_pair(), sync_enabled=value))
    assert finding.severity == Severity.CRITICAL
    assert words in finding.message
    assert TENANT in finding.message
    assert finding.values["on_premises_sync_enabled"] is value


# --- cloud-sync-fresh ------------------------------------------------------------------------------------


def test_fresh_sync_within_threshold_passes() -> None:
    assert run("cloud-sync-fresh", with_cloud(healthy_pair(), age=timedelta(minutes=89))) == []


def test_stale_sync_fails_with_age_and_threshold() -> None:
    pair = with_cloud(healthy_pair(), age=timedelta(hours=6))
    pair = change(pair, "aadc01", "service", status="Stopped")  # the active server is visibly broken
    [finding] = run("cloud-sync-fresh", pair)
    assert finding.severity == Severity.HIGH
    assert "6.0 h ago" in finding.message
    assert "threshold 90 min" in finding.message
    assert finding.values["age_minutes"] == 360.0
    assert finding.values["threshold_minutes"] == 90.0
    assert "nothing is exporting" not in finding.message  # the stopped service explains it


def test_stale_while_servers_look_healthy_says_nothing_is_exporting() -> None:
    [finding] = run("cloud-sync-fresh", with_cloud(healthy_pair(), age=timedelta(hours=3)))
    assert "every server looks healthy" in finding.message
    assert "nothing is exporting" in finding.message
    assert finding.values["servers_look_healthy"] is True


def test_stale_with_every_server_staged_names_staging_mode() -> None:
    pair = change(with_cloud(healthy_pair(), age=timedelta(hours=3)), "aadc01", "scheduler",
                  staging_mode_enabled=True)
    [finding] = run("cloud-sync-fresh", pair)
    assert "every server is in staging mode" in finding.message
    assert "out of staging mode" in finding.remediation
    assert finding.values["staging_servers"] == ["aadc01", "aadc02"]


def test_stale_with_a_server_unreadable_does_not_claim_health() -> None:
    pair = drop(with_cloud(healthy_pair(), age=timedelta(hours=3)), "aadc02", "scheduler")
    [finding] = run("cloud-sync-fresh", pair)
    assert "nothing is exporting" not in finding.message


def test_threshold_comes_from_the_pair() -> None:
    pair = with_cloud(healthy_pair(thresholds={"cloud_sync_max_age_minutes": 30}), age=timedelta(minutes=45))
    [finding] = run("cloud-sync-fresh", pair)
    assert "45 min ago" in finding.message
    assert "threshold 30 min" in finding.message
    relaxed = with_cloud(healthy_pair(thresholds={"cloud_sync_max_age_minutes": 600}), age=timedelta(hours=6))
    assert run("cloud-sync-fresh", relaxed) == []


def test_never_synced_tenant_is_a_finding() -> None:
    [finding] = run("cloud-sync-fresh", with_cloud(healthy_pair(), age=None))
    assert "no sync from on-premises ever reached" in finding.message


def test_missing_cloud_facts_raise_fact_unavailable_naming_the_cause() -> None:
    error = FactError("cloud", "cloud", "AADSTS7000215: Invalid client secret")
    pair = dataclasses.replace(healthy_pair(), cloud_configured=True, cloud_error=error)
    for check_id in ("cloud-sync-enabled", "cloud-sync-fresh", "cloud-canary"):
        with pytest.raises(FactUnavailableError, match="AADSTS7000215"):
            run(check_id, pair)


# --- cloud-canary ----------------------------------------------------------------------------------------


def test_canary_not_configured_has_nothing_to_say() -> None:
    assert run("cloud-canary", with_cloud(healthy_pair(), canary=None)) == []


def test_canary_missing_user_is_a_finding() -> None:
    pair = with_cloud(healthy_pair(), canary=CanaryFacts("ghost@contoso.com", False))
    [finding] = run("cloud-canary", pair)
    assert "ghost@contoso.com not found" in finding.message
    assert finding.values["found"] is False


def test_canary_stale_fails_with_age_and_threshold() -> None:
    canary = CanaryFacts("canary@contoso.com", True, NOW - timedelta(hours=2))
    [finding] = run("cloud-canary", with_cloud(healthy_pair(), canary=canary))
    assert "2.0 h ago" in finding.message
    assert "threshold 90 min" in finding.message
    assert finding.values["age_minutes"] == 120.0


def test_canary_never_synced_is_a_finding() -> None:
    pair = with_cloud(healthy_pair(), canary=CanaryFacts("c@contoso.com", True, None))
    [finding] = run("cloud-canary", pair)
    assert "never been synced" in finding.message


def test_canary_fresh_passes_even_if_tenant_clock_is_stale() -> None:
    canary = CanaryFacts("canary@contoso.com", True, NOW - timedelta(minutes=10))
    assert run("cloud-canary", with_cloud(healthy_pair(), age=timedelta(days=2), canary=canary)) == []
