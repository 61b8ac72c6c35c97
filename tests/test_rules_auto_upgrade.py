"""auto-upgrade (issue 16 point 6): Get-ADSyncAutoUpgrade the same on both servers, suspension named."""

from __future__ import annotations

import pytest
from factbuilders import change, healthy_pair, run

from entra_standby.errors import FactUnavailableError
from entra_standby.rules import Severity


def test_enabled_on_both_passes() -> None:
    assert run("auto-upgrade", healthy_pair()) == []


def test_disabled_on_both_passes_a_policy_of_manual_upgrades() -> None:
    pair = change(healthy_pair(), "aadc01", "version", auto_upgrade="Disabled")
    assert run("auto-upgrade", change(pair, "aadc02", "version", auto_upgrade="Disabled")) == []


def test_enabled_on_one_server_only_is_high_and_lists_both() -> None:
    pair = change(healthy_pair(), "aadc02", "version", auto_upgrade="Disabled")
    [finding] = run("auto-upgrade", pair)
    assert finding.severity is Severity.HIGH
    assert "(aadc01 (active): Enabled, aadc02: Disabled)" in finding.message
    assert finding.values["auto_upgrade"] == {"aadc01": "Enabled", "aadc02": "Disabled"}
    assert "Set-ADSyncAutoUpgrade -AutoUpgradeState" in finding.remediation


def test_suspended_names_its_reason_and_differs() -> None:
    pair = change(healthy_pair(), "aadc02", "version", auto_upgrade="Suspended",
                  auto_upgrade_reason="UpgradeNotSupportedNonLocalDbInstall")
    suspended, differs = sorted(run("auto-upgrade", pair), key=lambda f: "differs" in f.message)
    assert "aadc02: automatic upgrade is Suspended (reason UpgradeNotSupportedNonLocalDbInstall)" in \
        suspended.message
    assert suspended.values["suspension_reason"] == "UpgradeNotSupportedNonLocalDbInstall"
    assert suspended.remediation.startswith("on aadc02: fix what Get-ADSyncAutoUpgrade -Detail names")
    assert differs.severity is Severity.HIGH and "aadc02: Suspended" in differs.message


def test_suspended_on_both_is_reported_on_each_even_when_equal() -> None:
    pair = change(healthy_pair(), "aadc01", "version", auto_upgrade="Suspended")
    pair = change(pair, "aadc02", "version", auto_upgrade="Suspended")
    findings = run("auto-upgrade", pair)
    assert len(findings) == 2 and all(f.severity is Severity.MEDIUM for f in findings)
    assert all("Get-ADSyncAutoUpgrade -Detail gave no reason" in f.message for f in findings)


def test_an_unreadable_state_is_no_verdict_not_equal() -> None:
    pair = change(healthy_pair(), "aadc02", "version", auto_upgrade=None,
                  auto_upgrade_error="Failed: Get-ADSyncAutoUpgrade : Unable to connect")
    with pytest.raises(FactUnavailableError, match="auto-upgrade state unreadable: Failed: Get-ADSyncAutoUp"):
        run("auto-upgrade", pair)
