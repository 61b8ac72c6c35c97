"""OS checks: tls12, dotnet, patch-age, os-build-parity, pending-reboot, os-supported."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from factbuilders import NOW, change, drop, healthy_pair, put, run, run_all_hosts

from entra_standby.errors import FactUnavailableError, InventoryError
from entra_standby.facts.collection import PairFacts
from entra_standby.facts.model import HotFix, RebootMarkers, RegistryValue, TlsFacts, UpdateEntry
from entra_standby.rules import Severity
from entra_standby.rules.system import TLS12_VALUES


def test_healthy_pair_passes_every_os_check() -> None:
    pair = healthy_pair()
    for check_id in ("tls12", "dotnet", "patch-age", "pending-reboot", "os-supported", "os-build-parity"):
        assert run_all_hosts(check_id, pair) == [], check_id


# --- tls12 -----------------------------------------------------------------------------------------------


def _tls(
    pair_host: str, replace: dict[tuple[str, str], int | None], drop: set[tuple[str, str]] | None = None
) -> TlsFacts:
    rows = []
    for path, name, value in TLS12_VALUES:
        if drop and (path, name) in drop:
            continue
        rows.append(RegistryValue(path, name, replace.get((path, name), value)))
    return TlsFacts(tuple(rows), 528449)


def _on_build(version: str) -> PairFacts:
    return change(healthy_pair(), "aadc02", "version", product_version=version, display_version=version)


def test_tls12_names_every_missing_or_wrong_value() -> None:
    (p1, n1, _), (p2, n2, _), (p3, n3, _) = TLS12_VALUES[0], TLS12_VALUES[5], TLS12_VALUES[6]
    tls = _tls("aadc02", {(p1, n1): None, (p2, n2): 1}, drop={(p3, n3)})
    # 2.4.128.0 lies in Microsoft's enforcement window (2.3.20.0 .. 2.4.129.0): every gap is HIGH.
    findings = run("tls12", put(_on_build("2.4.128.0"), "aadc02", "tls", tls), "aadc02")
    assert len(findings) == 3
    by_name = {(f.values["path"], f.values["name"]): f for f in findings}
    assert by_name[(p1, n1)].values["value"] is None and "Not Found" in by_name[(p1, n1)].message
    assert by_name[(p2, n2)].values == {"path": p2, "name": n2, "value": 1, "expected": 0}
    assert by_name[(p3, n3)].values["value"] is None
    assert all(f.message.startswith("aadc02:") and f.severity is Severity.HIGH for f in findings)
    assert all(f.target == "contoso-prod/aadc02" for f in findings)
    assert "-Value 0" in by_name[(p2, n2)].remediation


def test_tls12_path_spelling_is_normalised() -> None:
    rows = tuple(
        RegistryValue(p.replace("HKLM:\\", "HKEY_LOCAL_MACHINE\\").upper() + "\\", n.lower(), v)
        for p, n, v in TLS12_VALUES
    )
    assert run("tls12", put(healthy_pair(), "aadc01", "tls", TlsFacts(rows, 528449)), "aadc01") == []


@pytest.mark.parametrize("version", ["2.4.131.0", "2.5.79.0", "2.5.190.0"])
def test_tls12_missing_value_on_exempt_build_is_low(version: str) -> None:
    path, name, _ = TLS12_VALUES[3]  # 64-bit .NET SchUseStrongCrypto
    tls = _tls("aadc02", {(path, name): None})
    [finding] = run("tls12", put(_on_build(version), "aadc02", "tls", tls), "aadc02")
    assert finding.severity is Severity.LOW
    assert "Not Found, recommended 1" in finding.message
    assert "does not require TLS enforcement" in finding.message
    assert finding.values["value"] is None and finding.values["build"] == version


@pytest.mark.parametrize(("index", "value"), [(0, 0), (1, 0), (4, 0), (5, 1), (7, 1)])
def test_tls12_value_that_disables_tls12_stays_high_on_exempt_build(index: int, value: int) -> None:
    path, name, _ = TLS12_VALUES[index]
    tls = _tls("aadc02", {(path, name): value})
    [finding] = run("tls12", put(_on_build("2.5.79.0"), "aadc02", "tls", tls), "aadc02")
    assert finding.severity is Severity.HIGH and "disables TLS 1.2" in finding.message


@pytest.mark.parametrize("version", ["2.3.20.0", "2.4.129.0"])
def test_tls12_missing_value_in_enforcement_window_stays_high(version: str) -> None:
    path, name, _ = TLS12_VALUES[3]
    [finding] = run("tls12", put(_on_build(version), "aadc02", "tls", _tls("aadc02", {(path, name): None})),
                    "aadc02")
    assert finding.severity is Severity.HIGH and "must be 1" in finding.message


def test_tls12_unknown_build_is_held_to_the_requirement() -> None:
    path, name, _ = TLS12_VALUES[3]
    pair = put(healthy_pair(), "aadc02", "tls", _tls("aadc02", {(path, name): None}))
    pair = drop(pair, "aadc02", "version")
    [finding] = run("tls12", pair, "aadc02")
    assert finding.severity is Severity.HIGH


def test_tls12_empty_probe_reports_all_eight() -> None:
    findings = run("tls12", put(healthy_pair(), "aadc01", "tls", TlsFacts((), 528449)), "aadc01")
    assert len(findings) == 8


# --- dotnet ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("release", [461808, 528449])
def test_dotnet_at_or_above_floor_passes(release: int) -> None:
    pair = put(
        healthy_pair(),
        "aadc02",
        "tls",
        dataclasses.replace(healthy_pair().server("aadc02").tls, dotnet_release=release),
    )
    assert run("dotnet", pair, "aadc02") == []


def test_dotnet_below_floor_fails_with_release_in_message() -> None:
    pair = change(healthy_pair(), "aadc02", "tls", dotnet_release=460805)
    [finding] = run("dotnet", pair, "aadc02")
    assert "aadc02" in finding.message and "460805" in finding.message and "461808" in finding.message
    assert finding.values == {"dotnet_release": 460805, "min_dotnet_release": 461808}


def test_dotnet_missing_fails() -> None:
    [finding] = run("dotnet", change(healthy_pair(), "aadc01", "tls", dotnet_release=None), "aadc01")
    assert "not installed" in finding.message


def test_dotnet_threshold_from_inventory_changes_verdict() -> None:
    assert run("dotnet", healthy_pair(thresholds={"min_dotnet_release": 533320}), "aadc01") != []
    pair = change(
        healthy_pair(thresholds={"min_dotnet_release": 460000}), "aadc01", "tls", dotnet_release=460805
    )
    assert run("dotnet", pair, "aadc01") == []


def test_bad_threshold_value_is_an_inventory_error() -> None:
    with pytest.raises(InventoryError, match="min_dotnet_release"):
        run("dotnet", healthy_pair(thresholds={"min_dotnet_release": "lots"}), "aadc01")


# --- patch-age -------------------------------------------------------------------------------------------


def _updates(
    days: int,
    title: str = "2026-09 Cumulative Update for Microsoft server operating system (KB5065432)",
    result: int = 2,
) -> UpdateEntry:
    return UpdateEntry(NOW - timedelta(days=days), title, 1, result)


def test_patch_age_old_update_fails_with_date_and_age() -> None:
    pair = change(healthy_pair(), "aadc02", "os", updates=(_updates(62),), hotfixes=())
    [finding] = run("patch-age", pair, "aadc02")
    assert "aadc02" in finding.message and "62 days" in finding.message and "KB5065432" in finding.message
    assert finding.values["age_days"] == 62 and finding.values["max_patch_age_days"] == 45
    assert finding.severity is Severity.MEDIUM


def test_patch_age_ignores_failed_updates_and_defender_definitions() -> None:
    updates = (
        _updates(1, "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602"),
        _updates(20, result=4),  # failed cumulative update
        _updates(62),
    )
    pair = change(healthy_pair(), "aadc02", "os", updates=updates, hotfixes=())
    [finding] = run("patch-age", pair, "aadc02")
    assert finding.values["age_days"] == 62


def test_patch_age_uses_hotfix_dates_when_update_history_is_unreadable() -> None:
    pair = change(
        healthy_pair(),
        "aadc01",
        "os",
        updates=(),
        update_history_error="COM 0x80070005",
        hotfixes=(HotFix("KB1", NOW - timedelta(days=3)),),
    )
    assert run("patch-age", pair, "aadc01") == []


def test_patch_age_without_any_date_and_unreadable_history_is_unavailable() -> None:
    pair = change(
        healthy_pair(),
        "aadc01",
        "os",
        updates=(),
        update_history_error="COM 0x80070005",
        hotfixes=(HotFix("KB1", None),),
    )
    with pytest.raises(FactUnavailableError, match=r"aadc01.*0x80070005"):
        run("patch-age", pair, "aadc01")


def test_patch_age_threshold_from_inventory_changes_verdict() -> None:
    pair = change(
        healthy_pair(thresholds={"max_patch_age_days": 70}),
        "aadc02",
        "os",
        updates=(_updates(62),),
        hotfixes=(),
    )
    assert run("patch-age", pair, "aadc02") == []
    assert run("patch-age", healthy_pair(thresholds={"max_patch_age_days": 2}), "aadc02") != []


# --- os-build-parity -------------------------------------------------------------------------------------


def test_os_build_parity_older_ubr_fails_naming_both_builds() -> None:
    pair = change(healthy_pair(), "aadc02", "os", ubr=3807)
    [finding] = run("os-build-parity", pair, "aadc02")
    assert "aadc02" in finding.message and "20348.3807" in finding.message and "20348.4405" in finding.message
    assert finding.values["active"] == "aadc01"


def test_os_build_parity_newer_standby_passes_and_active_is_not_checked() -> None:
    pair = change(healthy_pair(), "aadc02", "os", ubr=5000)
    assert run("os-build-parity", pair, "aadc02") == []
    assert run("os-build-parity", change(healthy_pair(), "aadc01", "os", ubr=1), "aadc01") == []


def test_os_build_parity_without_active_reports_it() -> None:
    from factbuilders import set_role

    pair = set_role(healthy_pair(), "aadc01", "standby")
    [finding] = run("os-build-parity", pair, "aadc02")
    assert "no active server in the inventory" in finding.message


# --- pending-reboot --------------------------------------------------------------------------------------


def test_pending_reboot_reports_every_marker() -> None:
    markers = RebootMarkers(cbs_reboot_pending=True, wu_reboot_required=True, netlogon_pending=True)
    findings = run("pending-reboot", change(healthy_pair(), "aadc02", "os", reboot=markers), "aadc02")
    assert sorted(f.values["marker"] for f in findings) == [
        "cbs_reboot_pending",
        "netlogon_pending",
        "wu_reboot_required",
    ]
    assert all("aadc02" in f.message for f in findings)


def test_pending_file_rename_is_only_a_hint_unless_asked() -> None:
    markers = RebootMarkers(pending_file_rename=True)
    assert run("pending-reboot", change(healthy_pair(), "aadc02", "os", reboot=markers), "aadc02") == []
    pair = change(
        healthy_pair(thresholds={"reboot_counts_file_rename": True}), "aadc02", "os", reboot=markers
    )
    [finding] = run("pending-reboot", pair, "aadc02")
    assert "PendingFileRenameOperations" in finding.message


# --- os-supported ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [14393, 17763, 20348])
def test_supported_releases_pass(build: int) -> None:
    assert run("os-supported", change(healthy_pair(), "aadc01", "os", build=build), "aadc01") == []


def test_server_2025_is_flagged_and_critical_without_kb5070773() -> None:
    patched = change(
        healthy_pair(),
        "aadc02",
        "os",
        caption="Microsoft Windows Server 2025 Standard",
        build=26100,
        ubr=6905,
    )
    [finding] = run("os-supported", patched, "aadc02")
    assert finding.severity is Severity.HIGH and "2025" in finding.message and "26100.6905" in finding.message
    unpatched = change(patched, "aadc02", "os", ubr=4000)
    [finding] = run("os-supported", unpatched, "aadc02")
    assert finding.severity is Severity.CRITICAL and "KB5070773" in finding.message


def test_old_release_and_server_core_are_both_reported() -> None:
    pair = change(
        healthy_pair(),
        "aadc02",
        "os",
        caption="Microsoft Windows Server 2012 R2 Standard",
        build=9600,
        ubr=1,
        installation_type="Server Core",
    )
    findings = run("os-supported", pair, "aadc02")
    assert len(findings) == 2
    assert any("2012 R2" in f.message for f in findings) and any("Server Core" in f.message for f in findings)
