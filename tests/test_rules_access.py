"""audit-access (issue 10 point 3), and the rule sides of review items R3 (run results that need no action)
and O5 (unreadable reboot markers are no verdict, not "no reboot pending")."""

from __future__ import annotations

import dataclasses

import pytest
from factbuilders import AD, ad_connector, change, change_ad_connector, healthy_pair, run

from entra_standby.facts.collection import PairFacts
from entra_standby.facts.model import RunRecord, TokenGroup
from entra_standby.results import Outcome, evaluate_check
from entra_standby.rules import Severity, load_all


def _groups(pair: PairFacts, host: str, *keep: str) -> PairFacts:
    """The host's audit account with only the groups whose name ends with one of ``keep``."""
    groups = pair.server(host).access.groups
    return change(pair, host, "access",
                  groups=tuple(g for g in groups if g.name.rsplit("\\", 1)[-1] in keep))


def test_healthy_account_passes() -> None:
    assert run("audit-access", healthy_pair(), "aadc02") == []


def test_no_adsync_group_is_one_high_finding_naming_the_group() -> None:
    pair = _groups(healthy_pair(), "aadc02", "Administrators")
    [finding] = run("audit-access", pair, "aadc02")
    assert finding.severity is Severity.HIGH and finding.values["group"] == "ADSyncAdmins"
    assert "in neither ADSyncAdmins nor ADSyncOperators" in finding.message
    assert finding.remediation.startswith("net localgroup ADSyncAdmins CONTOSO\\svc-entra-audit /add")


def test_operators_only_is_medium_and_asks_for_browse_too() -> None:
    pair = _groups(healthy_pair(), "aadc02", "Administrators")
    operators = TokenGroup("AADC02\\ADSyncOperators", "S-1-5-21-9-8-7-1011")
    pair = change(pair, "aadc02", "access", groups=(*pair.server("aadc02").access.groups, operators))
    [finding] = run("audit-access", pair, "aadc02")
    assert finding.severity is Severity.MEDIUM
    assert "in ADSyncOperators but not ADSyncAdmins" in finding.message
    assert "must also be in ADSyncBrowse" in finding.message


def test_custom_domain_prefix_of_the_group_counts() -> None:
    pair = _groups(healthy_pair(), "aadc02", "Administrators")
    domain_group = TokenGroup("CONTOSO\\ADSyncAdmins", "S-1-5-21-1-2-3-4000")
    pair = change(pair, "aadc02", "access", groups=(*pair.server("aadc02").access.groups, domain_group))
    assert run("audit-access", pair, "aadc02") == []


@pytest.mark.parametrize("elevated, filtered", [(False, True), (True, False)])
def test_not_local_admin_is_medium(elevated: bool, filtered: bool) -> None:
    pair = healthy_pair()
    if filtered:  # Administrators in the token, but deny-only: a medium-integrity (UAC-filtered) token
        pair = change(pair, "aadc02", "access", elevated=elevated)
    else:
        pair = _groups(pair, "aadc02", "ADSyncAdmins", "ADSyncBrowse")
    [finding] = run("audit-access", pair, "aadc02")
    assert finding.severity is Severity.MEDIUM and finding.values["group"] == "Administrators"
    assert ("its token is filtered" in finding.message) is filtered


def test_constrained_language_is_the_only_finding() -> None:
    pair = _groups(healthy_pair(), "aadc02", "Remote Management Users")
    pair = change(pair, "aadc02", "access", language_mode="ConstrainedLanguage")
    [finding] = run("audit-access", pair, "aadc02")
    assert "ConstrainedLanguage session" in finding.message


# --- O5: unreadable reboot markers -------------------------------------------------------------------------


def test_unreadable_reboot_markers_are_no_verdict() -> None:
    pair = change(healthy_pair(), "aadc02", "os",
                  reboot_error="AccessDenied: Requested registry access is not allowed.")
    result = evaluate_check(load_all()["pending-reboot"], pair, pair.server("aadc02"))
    assert result.outcome is Outcome.ERROR
    assert "reboot markers could not be read: AccessDenied" in (result.reason or "")
    healthy = healthy_pair()
    assert evaluate_check(load_all()["pending-reboot"], healthy, healthy.server("aadc02")).outcome \
        is Outcome.PASSED


# --- R3: results that need no action, and warnings --------------------------------------------------------


def _latest_ad_import(pair: PairFacts, result: str) -> PairFacts:
    runs = pair.server("aadc02").run_history.runs
    newest = max((r for r in runs if r.connector == AD and "import" in r.profile.lower()),
                 key=lambda r: r.start)
    changed: list[RunRecord] = [dataclasses.replace(r, result=result) if r is newest else r for r in runs]
    return change(pair, "aadc02", "run-history", runs=tuple(changed))


def test_completed_no_objects_needs_no_action() -> None:
    assert run("recent-imports", _latest_ad_import(healthy_pair(), "completed-no-objects"), "aadc02") == []


def test_warnings_are_low() -> None:
    [finding] = run("recent-imports", _latest_ad_import(healthy_pair(), "completed-sync-warnings"), "aadc02")
    assert finding.severity is Severity.LOW and "look at the warnings" in finding.message


def test_errors_stay_high() -> None:
    [finding] = run("recent-imports", _latest_ad_import(healthy_pair(), "completed-export-errors"), "aadc02")
    assert finding.severity is Severity.HIGH and finding.values["result"] == "completed-export-errors"


# --- C4: a grant through another domain's domain-local group is invisible, and every "lacks" says so --------


def test_lacks_findings_name_the_token_groups_limit() -> None:
    empty = tuple(dataclasses.replace(o, aces=()) for o in ad_connector(healthy_pair(), "aadc02").permissions)
    pair = change_ad_connector(healthy_pair(), "aadc02", permissions=empty)
    findings = [f for f in run("connector-account", pair, "aadc02") if " lacks " in f.message]
    assert findings
    assert all("domain-local group of another domain" in f.remediation for f in findings)
