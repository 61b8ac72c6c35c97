"""pending-full-sync (issue 16 point 8): no connector override or Initial policy pending on the standby."""

from __future__ import annotations

import pytest
from factbuilders import change, drop, healthy_pair, run

from entra_standby.errors import FactUnavailableError
from entra_standby.facts.model import ConnectorOverride, ConnectorOverridesFacts
from entra_standby.rules import Severity

AAD_ID = "b891884f-051e-4a83-95af-2544101c9083"


def _overrides(*rows: ConnectorOverride, error: str | None = None) -> ConnectorOverridesFacts:
    return ConnectorOverridesFacts(rows, error)


def test_no_override_and_delta_policy_passes() -> None:
    assert run("pending-full-sync", healthy_pair(), "aadc02") == []


def test_full_import_pending_is_high_and_names_the_connector_from_the_connectors_facts() -> None:
    pair = change(healthy_pair(), "aadc02", "scheduler",
                  connector_overrides=_overrides(ConnectorOverride(AAD_ID.upper(), None, True, False)))
    [finding] = run("pending-full-sync", pair, "aadc02")
    assert finding.severity is Severity.HIGH
    assert ("aadc02: a full import is pending on connector contoso.onmicrosoft.com - AAD "
            "(Get-ADSyncSchedulerConnectorOverride FullImportRequired=True, FullSyncRequired=False)"
            in finding.message)
    assert "Start-ADSyncSyncCycle -PolicyType Initial" in finding.remediation
    assert "still staged" in finding.remediation
    assert finding.target == "contoso-prod/aadc02"


def test_full_sync_only_is_medium_and_both_is_high() -> None:
    pair = change(healthy_pair(), "aadc02", "scheduler", connector_overrides=_overrides(
        ConnectorOverride("aadc02-ad-guid", None, False, True),
        ConnectorOverride(AAD_ID, "named by the object", True, True)))
    found = {f.values["connector"]: f for f in run("pending-full-sync", pair, "aadc02")}
    assert found["contoso.com"].severity is Severity.MEDIUM
    assert "a full synchronization is pending on connector contoso.com" in found["contoso.com"].message
    both = found["named by the object"]
    assert both.severity is Severity.HIGH
    assert "a full import and a full synchronization are pending" in both.message


def test_initial_policy_is_high_and_a_running_cycle_is_said() -> None:
    pair = change(healthy_pair(), "aadc02", "scheduler", next_policy_type="Initial",
                  sync_cycle_in_progress=True)
    [finding] = run("pending-full-sync", pair, "aadc02")
    assert finding.severity is Severity.HIGH
    assert "the scheduler's next cycle is Initial (NextSyncCyclePolicyType)" in finding.message
    assert "A cycle is running now (SyncCycleInProgress)" in finding.message


def test_the_active_is_not_judged() -> None:
    pair = change(healthy_pair(), "aadc01", "scheduler", next_policy_type="Initial",
                  connector_overrides=_overrides(ConnectorOverride(AAD_ID, None, True, True)))
    assert run("pending-full-sync", pair, "aadc01") == []


def test_without_connectors_facts_the_identifier_names_the_connector() -> None:
    pair = change(drop(healthy_pair(), "aadc02", "connectors"), "aadc02", "scheduler",
                  connector_overrides=_overrides(ConnectorOverride(AAD_ID, None, True, False)))
    [finding] = run("pending-full-sync", pair, "aadc02")
    assert f"pending on connector {AAD_ID} " in finding.message


@pytest.mark.parametrize(("block", "why"), [
    (None, "no connector_overrides block"),
    (ConnectorOverridesFacts((), "Failed: Get-ADSyncSchedulerConnectorOverride returned an object without"),
     "returned an object without"),
    (ConnectorOverridesFacts((ConnectorOverride(AAD_ID, None, None, False),)), "neither true nor false"),
])
def test_unreadable_overrides_are_no_verdict(block: ConnectorOverridesFacts | None, why: str) -> None:
    pair = change(healthy_pair(), "aadc02", "scheduler", connector_overrides=block)
    with pytest.raises(FactUnavailableError, match=why):
        run("pending-full-sync", pair, "aadc02")

