"""Simulated sync cycles, exports to the tenant and the staging log (engine level, no wire)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from lab_sim_helpers import action, probe_data, run_cmdlet

from entra_standby.lab.lab import Lab
from entra_standby.lab.state import ENTRA_CONNECTOR


def _fast(**servers: Any) -> dict[str, Any]:
    return {"name": "cycle-test", "lab": {"cycle_duration_s": 0.3}, "servers": servers}


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_cycle_on_the_active_imports_syncs_and_exports_to_the_tenant() -> None:
    with Lab(_fast(), serve=False) as lab:
        server = lab.servers["aadc01"]
        assert lab.tenant is not None
        before = len(server.state.runs)
        lab.onprem.set_attribute("canary@contoso.com", "extensionAttribute1", "drill-42")
        assert run_cmdlet(server.engine, "Start-ADSyncSyncCycle", PolicyType="Delta").outputs == [
            {"Result": "Success"}
        ]
        assert probe_data(server.engine, "scheduler")["sync_cycle_in_progress"] is True
        again = run_cmdlet(server.engine, "Start-ADSyncSyncCycle")
        assert again.failure is not None and "already running" in again.failure.message
        _wait(lambda: bool(probe_data(server.engine, "run-history")["busy_connectors"]))
        server.engine.cycle.join(10)
        assert probe_data(server.engine, "scheduler")["sync_cycle_in_progress"] is False
        new = server.state.runs[before:]
        assert [(r.connector, r.profile) for r in new][:2] == [
            ("contoso.com", "Delta Import"),
            (ENTRA_CONNECTOR, "Delta Import"),
        ]
        assert {r.result for r in new} == {"success"} and all(r.complete for r in new)
        assert (ENTRA_CONNECTOR, "Export") in {(r.connector, r.profile) for r in new}
        assert lab.tenant.last_exporter == "aadc01"
        canary = lab.tenant.find_user("canary@contoso.com")
        assert canary is not None and canary.extension_attributes["extensionAttribute1"] == "drill-42"


def test_staging_server_never_exports() -> None:
    with Lab(_fast(), serve=False) as lab:
        server = lab.servers["aadc02"]
        assert lab.tenant is not None
        exports_before = len(lab.tenant.export_log)
        started = action(server.engine, "start-sync-cycle", PolicyType="Initial")
        assert started["ok"] is True and started["data"]["sync_cycle_in_progress"] is True
        server.engine.cycle.join(10)
        profiles = [r.profile for r in server.state.runs[-4:]]
        assert profiles == ["Full Import", "Full Import", "Full Synchronization", "Full Synchronization"]
        assert len(lab.tenant.export_log) == exports_before


def test_staging_change_takes_effect_mid_cycle() -> None:
    scenario = _fast()
    scenario["lab"]["cycle_duration_s"] = 1.2
    with Lab(scenario, serve=False) as lab:
        server = lab.servers["aadc01"]
        action(server.engine, "start-sync-cycle")
        refused = action(server.engine, "set-staging", Enabled=True)  # the action refuses while a cycle runs
        assert refused["ok"] is False and refused["error"]["kind"] == "Busy"
        assert server.state.staging is False
        # A flag written behind the action's back (Set-ADSyncGlobalSettings by hand) still stops the export.
        assert lab.context is not None
        lab.context.staging_log.record(server.state, True)
        server.engine.cycle.join(10)
        assert lab.tenant is not None and lab.tenant.last_exporter is None
        assert "Export" not in {r.profile for r in server.state.runs if r.start >= lab.staging_log[-1].utc}


def test_deletion_threshold_stops_the_export() -> None:
    scenario = _fast(aadc01={"pending_exports": {ENTRA_CONNECTOR: {"deletes": 1200}}})
    with Lab(scenario, serve=False) as lab:
        server = lab.servers["aadc01"]
        action(server.engine, "start-sync-cycle")
        server.engine.cycle.join(10)
        export = [r for r in server.state.runs if r.profile == "Export" and r.connector == ENTRA_CONNECTOR][
            -1
        ]
        assert export.result == "stopped-deletion-threshold-exceeded"
        assert lab.tenant is not None and lab.tenant.last_exporter is None


def test_stopping_the_lab_ends_a_running_cycle() -> None:
    scenario = _fast()
    scenario["lab"]["cycle_duration_s"] = 60
    before = threading.active_count()
    lab = Lab(scenario, serve=False).start()
    action(lab.servers["aadc01"].engine, "start-sync-cycle")
    began = time.monotonic()
    lab.stop()
    assert time.monotonic() - began < 5
    assert threading.active_count() == before
    assert lab.servers["aadc01"].state.runs[-1].result == "stopped-server-down"


def test_staging_log_proves_the_order_of_a_failover() -> None:
    with Lab(_fast(), serve=False) as lab:
        active, standby = lab.servers["aadc01"].engine, lab.servers["aadc02"].engine
        assert [(e.server, e.staging_enabled) for e in lab.staging_log] == [
            ("aadc01", False),
            ("aadc02", True),
        ]
        action(active, "set-staging", Enabled=True)
        action(standby, "set-staging", Enabled=False)
        assert lab.max_unstaged_at_once() == 1
        log = lab.staging_log
        assert log[-2].monotonic_ns < log[-1].monotonic_ns and log[-1].utc >= log[-2].utc
    with Lab(_fast(), serve=False) as wrong_order:
        action(wrong_order.servers["aadc02"].engine, "set-staging", Enabled=False)
        action(wrong_order.servers["aadc01"].engine, "set-staging", Enabled=True)
        assert wrong_order.max_unstaged_at_once() == 2


def test_concurrent_staging_changes_are_serialised() -> None:
    with Lab(_fast(), serve=False) as lab:
        engines = [lab.servers["aadc01"].engine, lab.servers["aadc02"].engine]

        def flip(index: int) -> None:
            for n in range(50):
                action(engines[index], "set-staging", Enabled=bool((n + index) % 2))

        threads = [threading.Thread(target=flip, args=(i,)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stamps = [e.monotonic_ns for e in lab.staging_log]
        assert len(stamps) == 102 and stamps == sorted(stamps)
        final = {name: server.state.staging for name, server in lab.servers.items()}
        replay = {e.server: e.staging_enabled for e in lab.staging_log}
        assert final == replay
