"""Install checks: adsync-service, version-supported, version-parity, adsynctools, machine-identity."""

from __future__ import annotations

import pytest
from factbuilders import change, drop, healthy_pair, run, run_all_hosts, set_role

from entra_standby.errors import FactUnavailableError, InventoryError
from entra_standby.rules import Severity
from entra_standby.rules.versions import parse_version, require_version


def test_healthy_pair_passes_every_install_check() -> None:
    pair = healthy_pair()
    for check_id in ("adsync-service", "version-supported", "version-parity", "adsynctools"):
        assert run_all_hosts(check_id, pair) == [], check_id
    assert run("machine-identity", pair) == []


# --- adsync-service --------------------------------------------------------------------------------------


def test_stopped_manual_service_reports_both_problems() -> None:
    pair = change(healthy_pair(), "aadc02", "service", status="Stopped", start_mode="Manual")
    findings = run("adsync-service", pair, "aadc02")
    assert len(findings) == 2
    assert {tuple(sorted(f.values)) for f in findings} == {("service", "status"), ("service", "start_mode")}
    assert all("aadc02" in f.message and f.severity is Severity.CRITICAL for f in findings)
    assert any("Stopped" in f.message for f in findings) and any("Manual" in f.message for f in findings)


def test_missing_service_is_one_finding() -> None:
    pair = change(healthy_pair(), "aadc01", "service", exists=False, status=None, start_mode=None)
    [finding] = run("adsync-service", pair, "aadc01")
    assert "not installed" in finding.message and finding.values["exists"] is False


def test_automatic_spelling_is_accepted() -> None:
    assert (
        run("adsync-service", change(healthy_pair(), "aadc01", "service", start_mode="Automatic"), "aadc01")
        == []
    )


# --- versions --------------------------------------------------------------------------------------------


def test_version_parsing_is_numeric() -> None:
    assert parse_version("2.10.0.0") > require_version("2.9.99.0")  # type: ignore[operator]
    assert parse_version("2.5.79") == require_version("2.5.79.0")
    assert parse_version("v2.4.0-preview") == require_version("2.4.0")
    assert parse_version("unknown") is None and parse_version(None) is None
    with pytest.raises(ValueError):
        require_version("x")


def test_version_below_floor_is_critical_with_both_versions() -> None:
    pair = change(healthy_pair(), "aadc02", "version", product_version="2.4.18.0", display_version="2.4.18.0")
    [finding] = run("version-supported", pair, "aadc02")
    assert "2.4.18.0" in finding.message and "2.5.79.0" in finding.message and "aadc02" in finding.message
    assert finding.values == {"version": "2.4.18.0", "min_version": "2.5.79.0"}
    assert finding.severity is Severity.CRITICAL


def test_1x_version_is_called_retired() -> None:
    pair = change(healthy_pair(), "aadc01", "version", product_version="1.6.16.0")
    [finding] = run("version-supported", pair, "aadc01")
    assert "1.x" in finding.message and finding.severity is Severity.CRITICAL


def test_version_falls_back_to_display_version_and_errors_when_none() -> None:
    pair = change(healthy_pair(), "aadc01", "version", product_version=None, display_version="2.4.18.0")
    assert run("version-supported", pair, "aadc01")[0].values["version"] == "2.4.18.0"
    pair = change(healthy_pair(), "aadc01", "version", product_version=None, display_version=None)
    with pytest.raises(FactUnavailableError, match="aadc01"):
        run("version-supported", pair, "aadc01")


def test_version_floor_from_inventory() -> None:
    assert run("version-supported", healthy_pair(thresholds={"min_version": "2.6.1.0"}), "aadc01") != []
    with pytest.raises(InventoryError, match="min_version"):
        run("version-supported", healthy_pair(thresholds={"min_version": "latest"}), "aadc01")


def test_version_parity_older_standby_fails() -> None:
    pair = change(healthy_pair(), "aadc01", "version", product_version="2.5.190.0")
    [finding] = run("version-parity", pair, "aadc02")
    assert (
        "older than" in finding.message and "2.5.79.0" in finding.message and "2.5.190.0" in finding.message
    )
    assert finding.values["active"] == "aadc01" and finding.values["active_version"] == "2.5.190.0"
    # The option for swing upgrades allows only a newer standby, never an older one.
    allowed = change(
        healthy_pair(thresholds={"allow_standby_newer_version": True}),
        "aadc01",
        "version",
        product_version="2.5.190.0",
    )
    assert run("version-parity", allowed, "aadc02") != []


def test_version_parity_newer_standby_depends_on_the_swing_upgrade_option() -> None:
    pair = change(healthy_pair(), "aadc02", "version", product_version="2.5.190.0")
    [finding] = run("version-parity", pair, "aadc02")
    assert "newer than" in finding.message
    swing = change(
        healthy_pair(thresholds={"allow_standby_newer_version": True}),
        "aadc02",
        "version",
        product_version="2.5.190.0",
    )
    assert run("version-parity", swing, "aadc02") == []


def test_version_parity_applies_to_standbys_only_and_needs_an_active() -> None:
    pair = change(healthy_pair(), "aadc01", "version", product_version="2.5.190.0")
    assert run("version-parity", pair, "aadc01") == []
    [finding] = run("version-parity", set_role(pair, "aadc01", "standby"), "aadc02")
    assert "no active server" in finding.message


def test_version_parity_with_active_fact_missing_is_unavailable() -> None:
    with pytest.raises(FactUnavailableError, match="aadc01"):
        run("version-parity", drop(healthy_pair(), "aadc01", "version", "timeout"), "aadc02")


# --- adsynctools -----------------------------------------------------------------------------------------


def test_adsynctools_missing_or_1x_fails() -> None:
    [finding] = run(
        "adsynctools", change(healthy_pair(), "aadc02", "machine", adsynctools_versions=()), "aadc02"
    )
    assert "not installed" in finding.message and finding.severity is Severity.LOW
    [finding] = run(
        "adsynctools", change(healthy_pair(), "aadc02", "machine", adsynctools_versions=("1.5.3",)), "aadc02"
    )
    assert "1.5.3" in finding.message and finding.values["adsynctools_versions"] == ["1.5.3"]
    both = change(healthy_pair(), "aadc02", "machine", adsynctools_versions=("1.5.3", "2.4.0"))
    assert run("adsynctools", both, "aadc02") == []


# --- machine-identity ------------------------------------------------------------------------------------


def test_shared_machine_identifier_names_both_servers() -> None:
    pair = change(healthy_pair(), "aadc02", "machine", sync_machine_identifier="AADC01-SYNC-MACHINE-ID")
    [finding] = run("machine-identity", pair)
    assert finding.values["servers"] == ["aadc01", "aadc02"]
    assert "aadc01" in finding.message and "aadc02" in finding.message
    assert finding.target == "contoso-prod"


def test_every_shared_identifier_group_is_reported() -> None:
    pair = healthy_pair(standbys=("aadc02", "aadc03", "aadc04"))
    pair = change(pair, "aadc02", "machine", sync_machine_identifier="aadc01-sync-machine-id")
    pair = change(pair, "aadc04", "machine", sync_machine_identifier="aadc03-sync-machine-id")
    findings = run("machine-identity", pair)
    assert sorted(tuple(f.values["servers"]) for f in findings) == [
        ("aadc01", "aadc02"),
        ("aadc03", "aadc04"),
    ]
