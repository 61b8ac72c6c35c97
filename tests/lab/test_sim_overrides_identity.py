"""The lab's connector overrides and Entra connector identity (issue 16 points 8 and 9), engine level."""

from __future__ import annotations

from typing import Any

from lab_sim_helpers import probe_data, run_cmdlet

from entra_standby.lab.lab import Lab
from entra_standby.lab.state import ENTRA_CONNECTOR, ENTRA_CONNECTOR_ID


def _scenario(**servers: Any) -> dict[str, Any]:
    return {"name": "overrides-test", "lab": {"cycle_duration_s": 0.2}, "servers": servers}


def test_an_override_makes_a_delta_cycle_run_that_full_step_then_is_spent() -> None:
    spec = _scenario(aadc02={"connector_overrides": {ENTRA_CONNECTOR: {"full_import_required": True}}})
    with Lab(spec, serve=False) as lab:
        server = lab.servers["aadc02"]
        rows = {r["connector_identifier"]: r for r in
                probe_data(server.engine, "scheduler")["connector_overrides"]["overrides"]}
        assert rows[ENTRA_CONNECTOR_ID]["full_import_required"] is True
        assert rows[ENTRA_CONNECTOR_ID]["full_sync_required"] is False
        assert all(r["connector_name"] is None for r in rows.values())  # by identifier, as Microsoft reads it
        before = len(server.state.runs)
        assert run_cmdlet(server.engine, "Start-ADSyncSyncCycle", PolicyType="Delta").outputs == [
            {"Result": "Success"}]
        server.engine.cycle.join(10)
        ran = [(r.connector, r.profile) for r in server.state.runs[before:]]
        assert (ENTRA_CONNECTOR, "Full Import") in ran and ("contoso.com", "Delta Import") in ran
        assert (ENTRA_CONNECTOR, "Delta Synchronization") in ran
        after = probe_data(server.engine, "scheduler")["connector_overrides"]["overrides"]
        assert not any(r["full_import_required"] or r["full_sync_required"] for r in after)


def test_entra_identity_by_default_and_as_a_scenario_sets_it() -> None:
    spec = _scenario(aadc02={"entra_identity": {"identity_type": None}},
                     aadc01={"entra_identity": {"certificate_not_after": None}})
    with Lab(spec, serve=False) as lab:
        active = probe_data(lab.servers["aadc01"].engine, "connectors")["entra_identity"]
        assert active["identity_type"] == "Application" and active["certificate_not_after"] is None
        assert active["certificate_error"].startswith(
            "no certificate expiry in Get-ADSyncEntraConnectorCredential")
        standby = probe_data(lab.servers["aadc02"].engine, "connectors")["entra_identity"]
        assert standby["identity_type"] is None
        assert standby["error"].startswith("CommandNotFound: The term 'Get-ADSyncEntraConnectorCredential'")
    with Lab(_scenario(), serve=False) as lab:
        healthy = probe_data(lab.servers["aadc02"].engine, "connectors")["entra_identity"]
        assert healthy["identity_type"] == "Application" and healthy["error"] is None
        assert healthy["certificate_not_after"] and healthy["certificate_source"]
