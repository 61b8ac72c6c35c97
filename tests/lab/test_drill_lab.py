"""The lab behaves like a real pair for the failover drill, seen through unmodified pypsrp (HostSession):
refusals of set-staging, Busy cycles, the tenant-wide scheduler, write-canary and the tenant, PHS/PWWB
evidence (password-sync probe), faults armed on a step, state faults, the wizard and the automatic scheduler.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from entra_standby.errors import EntraStandbyError, HostError, ScenarioError
from entra_standby.facts.parse import ProbeFailedError, parse_action_output, parse_probe_output
from entra_standby.facts.password_sync import PasswordSyncFacts, parse_password_sync_output
from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab
from entra_standby.lab.scenario import load_scenario
from entra_standby.lab.state import ENTRA_CONNECTOR
from entra_standby.lab.wizard import WizardRefusedError
from entra_standby.probes import load_action, load_probe
from entra_standby.remoting import HostSession, ProbeCall

ROOT = Path(__file__).resolve().parents[2]
CANARY = "canary@contoso.com"


def _scenario(**lab: Any) -> dict[str, Any]:
    return {"name": "drill-lab", "lab": {"cycle_duration_s": 0.4, **lab}}


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab(_scenario(), cloud=False) as running:
        yield running


def _session(lab: Lab, name: str, **connection: Any) -> HostSession:
    inventory = inventory_from_dict(lab.inventory_dict(), path=ROOT / "inventory" / "lab.yml")
    address = lab.servers[name].address
    entry = next(s for p in inventory.pairs for s in p.servers if s.host == address)
    settings = dataclasses.replace(entry.connection, retries=0, **connection)
    return HostSession(dataclasses.replace(entry, connection=settings))


def _act(session: HostSession, name: str, **params: Any) -> dict[str, Any]:
    out = session.run_script(ProbeCall(name, load_action(name).text, params), idempotent=False)
    assert len(out) == 1, out
    envelope: dict[str, Any] = json.loads(str(out[0]))
    return envelope


def _probe_raw(session: HostSession, name: str, **params: Any) -> str:
    out = session.run_script(ProbeCall(name, load_probe(name).text, params))
    assert len(out) == 1, out
    return str(out[0])


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def _cycle_done(lab: Lab, name: str) -> None:
    state = lab.servers[name].state
    _wait(lambda: not state.sync_cycle_in_progress)


# --- set-staging refusals, Busy, tenant-wide scheduler ----------------------------------------------------


def test_set_staging_refuses_while_a_cycle_runs_and_writes_nothing(lab: Lab) -> None:
    lab.set_fault("aadc01", cycle_never_ends=True)
    with _session(lab, "aadc01") as active:
        assert _act(active, "start-sync-cycle")["ok"] is True
        log_before = len(lab.staging_log)
        refused = _act(active, "set-staging", Enabled=True)
        assert refused["ok"] is False and refused["error"]["kind"] == "Busy"
        assert "running" in refused["error"]["message"]
        assert lab.servers["aadc01"].state.staging is False and len(lab.staging_log) == log_before
        busy = _act(active, "start-sync-cycle")  # a second start meets the busy engine
        assert busy["ok"] is False and busy["error"]["kind"] == "Busy"
        with pytest.raises(ProbeFailedError) as info:  # the harness's parser knows the new kinds
            parse_action_output("aadc01", "start-sync-cycle", json.dumps(busy))
        assert info.value.error_kind == "Busy"
        lab.set_fault("aadc01", cycle_never_ends=False)
        _cycle_done(lab, "aadc01")
        done = _act(active, "set-staging", Enabled=True)
        assert done["ok"] is True and done["data"]["staging_mode_enabled"] is True
    assert lab.max_unstaged_at_once() == 1


def test_set_staging_refuses_while_the_scheduler_is_suspended(lab: Lab) -> None:
    with lab.wizard("aadc02"), _session(lab, "aadc02") as standby:
        refused = _act(standby, "set-staging", Enabled=False)
        assert refused["ok"] is False and refused["error"]["kind"] == "Suspended"
        assert lab.servers["aadc02"].state.staging is True
    assert lab.servers["aadc02"].state.scheduler.scheduler_suspended is False  # the wizard closed


def test_sync_cycle_switch_is_tenant_wide_and_allowed_during_a_cycle(lab: Lab) -> None:
    lab.set_fault("aadc01", cycle_never_ends=True)
    with _session(lab, "aadc01") as active, _session(lab, "aadc02") as standby:
        assert _act(active, "start-sync-cycle")["ok"] is True
        off = _act(active, "set-sync-cycle", Enabled=False)
        assert off["ok"] is True and off["data"]["sync_cycle_enabled"] is False
        other = json.loads(_probe_raw(standby, "scheduler"))["data"]
        assert other["sync_cycle_enabled"] is False  # [SCHED]: the change reaches the staging server
        assert other["staging_mode_enabled"] is True  # ... except the staging flag
        assert _act(standby, "set-sync-cycle", Enabled=True)["ok"] is True
        assert lab.servers["aadc01"].state.scheduler.sync_cycle_enabled is True
        assert lab.servers["aadc01"].state.scheduler.scheduler_suspended is False  # per server


def test_scenario_refuses_tenant_wide_settings_that_differ() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario({"servers": {"aadc02": {"scheduler": {"sync_cycle_enabled": False}}}})
    message = str(info.value)
    assert "servers.aadc02.scheduler.sync_cycle_enabled" in message and "tenant.scheduler" in message
    same = load_scenario({"servers": {"aadc01": {"scheduler": {"customized_interval_s": 3600}},
                                      "aadc02": {"scheduler": {"customized_interval_s": 3600}}}})
    assert same.tenant["scheduler"]["customized_interval_s"] == 3600
    once = load_scenario({"tenant": {"scheduler": {"sync_cycle_enabled": False}},
                          "servers": {"aadc02": {"scheduler": {"scheduler_suspended": True}}}})
    assert {s["scheduler"]["sync_cycle_enabled"] for s in once.servers.values()} == {False}
    with Lab(once, serve=False, cloud=False) as lab:
        a, b = (lab.servers[n].state.scheduler for n in ("aadc01", "aadc02"))
        assert a.shared is b.shared and a.sync_cycle_enabled is False
        assert (a.scheduler_suspended, b.scheduler_suspended) == (False, True)


# --- canary and the tenant ---------------------------------------------------------------------------------


def test_canary_reaches_the_tenant_only_through_an_export_of_the_unstaged_server(lab: Lab) -> None:
    tenant = lab.tenant
    assert tenant is not None

    def cloud_value() -> str | None:
        return tenant.users[CANARY].extension_attributes.get("extensionAttribute3")

    with _session(lab, "aadc02") as standby, _session(lab, "aadc01") as active:
        written = _act(standby, "write-canary", UserPrincipalName=CANARY, Attribute="extensionAttribute3",
                       Value="drill-7")
        assert written["ok"] is True, written
        assert written["data"]["attribute"] == "extensionAttribute3" and written["data"]["value"] == "drill-7"
        assert lab.onprem.snapshot()[CANARY]["extensionAttribute3"] == "drill-7"
        assert cloud_value() is None  # written on-premises, not exported yet
        assert _act(standby, "start-sync-cycle")["ok"] is True  # the staged server imports but never exports
        _cycle_done(lab, "aadc02")
        assert cloud_value() is None
        lab.set_fault("aadc01", export_result="stopped-connectivity")
        assert _act(active, "start-sync-cycle")["ok"] is True
        _cycle_done(lab, "aadc01")
        assert cloud_value() is None  # a failed export carries nothing
        exports = [r for r in lab.servers["aadc01"].state.runs if r.profile == "Export"]
        assert exports[-1].result == "stopped-connectivity"
        lab.set_fault("aadc01", export_result=None)
        assert _act(active, "start-sync-cycle")["ok"] is True
        _cycle_done(lab, "aadc01")
        assert cloud_value() == "drill-7" and tenant.last_exporter == "aadc01"


def test_write_canary_errors(lab: Lab) -> None:
    with _session(lab, "aadc01") as active:
        missing = _act(active, "write-canary", UserPrincipalName="nobody@contoso.com",
                       Attribute="extensionAttribute1", Value="x")
        assert missing["ok"] is False and "nobody@contoso.com" in missing["error"]["message"]
        lab.set_fault("aadc01", ad_unreachable=True)  # the double hop
        hop = _act(active, "write-canary", UserPrincipalName=CANARY, Attribute="extensionAttribute1",
                   Value="x")
        assert hop["ok"] is False and "Active Directory Web Services" in hop["error"]["message"]
        with pytest.raises(EntraStandbyError, match="ParameterBinding"):  # ValidatePattern: binding fails
            _act(active, "write-canary", UserPrincipalName=CANARY, Attribute="extensionAttribute16",
                 Value="x")
        upper = _act(active, "write-canary", UserPrincipalName=CANARY, Attribute="EXTENSIONATTRIBUTE9",
                     Value="y")
        assert upper["ok"] is False  # still ad_unreachable, but the case-insensitive pattern bound it
        lab.set_fault("aadc01", ad_unreachable=False)
        assert _act(active, "write-canary", UserPrincipalName=CANARY, Attribute="EXTENSIONATTRIBUTE9",
                    Value="y")["ok"] is True
    assert lab.onprem.snapshot()[CANARY].get("extensionAttribute1") is None
    assert lab.onprem.snapshot()[CANARY]["extensionAttribute9"] == "y"


# --- PHS / PWWB evidence -------------------------------------------------------------------------------


def test_password_sync_evidence_follows_the_switch(lab: Lab) -> None:
    with _session(lab, "aadc01") as old, _session(lab, "aadc02") as new:
        start = lab.servers["aadc01"].state.runs[-1].start
        since = json.loads(_probe_raw(new, "scheduler"))["data"]["next_start_utc"]  # any valid ISO text
        assert since
        switch = time.time()
        assert _act(old, "set-staging", Enabled=True)["ok"] is True
        assert _act(new, "set-staging", Enabled=False)["ok"] is True
        switched = lab.staging_log[-2].utc
        assert _act(new, "start-sync-cycle")["ok"] is True
        assert _act(old, "start-sync-cycle")["ok"] is True
        _cycle_done(lab, "aadc01")
        _cycle_done(lab, "aadc02")
        stamp = switched.isoformat().replace("+00:00", "Z")
        after_new = parse_password_sync_output("aadc02", _probe_raw(new, "password-sync", SinceUtc=stamp))
        after_old = parse_password_sync_output("aadc01", _probe_raw(old, "password-sync", SinceUtc=stamp))
    assert after_new.writeback_started and after_new.writeback_heartbeat and after_new.phs_heartbeat
    assert after_new.phs_synced_since and after_new.partitions[0].last_cycle_status == "Successful"
    assert after_new.partitions[0].dn == "DC=contoso,DC=com" and after_new.partitions_error is None
    assert after_old.writeback_stopped and not after_old.writeback_heartbeat and not after_old.phs_heartbeat
    assert not after_old.phs_synced_since  # frozen while staged
    frozen = after_old.partitions[0].last_successful_cycle_end_utc
    assert frozen is not None and frozen < switched and start is not None
    assert time.time() - switch < 30


def test_password_sync_parts_fail_on_their_own(lab: Lab) -> None:
    lab.set_fault("aadc01", adsync_stopped=True)
    with _session(lab, "aadc01") as active:
        fact = parse_probe_output("aadc01", "password-sync", _probe_raw(active, "password-sync"))
        assert isinstance(fact, PasswordSyncFacts)  # the generic parser knows the drill probe
        assert fact.partitions == () and "Synchronization Service" in (fact.partitions_error or "")
        assert fact.writeback_events_error is None
        bad = json.loads(_probe_raw(active, "password-sync", SinceUtc="yesterday-ish"))
        assert bad["ok"] is False and "SinceUtc" in bad["error"]["message"]


# --- faults armed on a step --------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["drop", "http500"])
def test_fault_before_a_step_leaves_the_server_unchanged(lab: Lab, fault: str) -> None:
    lab.arm_fault("aadc01", on="set-staging", fault=fault, when="before")
    with _session(lab, "aadc01") as active:
        with pytest.raises(HostError):
            _act(active, "set-staging", Enabled=True)
        assert lab.servers["aadc01"].state.staging is False
        assert _act(active, "set-staging", Enabled=True)["ok"] is True  # times=1: the next call goes through
    assert lab.fired_faults("aadc01") == [("set-staging", fault, "before")]


@pytest.mark.parametrize("fault", ["drop", "http500", "stall"])
def test_fault_after_a_step_applies_it_but_loses_the_answer(lab: Lab, fault: str) -> None:
    lab.arm_fault("aadc01", on="set-staging", fault=fault, when="after")
    started = time.monotonic()
    with _session(lab, "aadc01", read_timeout=2.0, operation_timeout=1) as active, pytest.raises(HostError):
        _act(active, "set-staging", Enabled=True)
    assert time.monotonic() - started < 30
    assert lab.servers["aadc01"].state.staging is True  # applied: the dangerous case for a switch
    assert lab.staging_log[-1].server == "aadc01" and lab.staging_log[-1].staging_enabled is True


def test_down_after_a_step_keeps_the_server_down_until_cleared(lab: Lab) -> None:
    lab.arm_fault("aadc02", on="start-sync-cycle", fault="down", when="after")
    with _session(lab, "aadc02") as standby, pytest.raises(HostError):
        _act(standby, "start-sync-cycle")
    assert lab.servers["aadc02"].faults.down is True
    _wait(lambda: any(r.profile == "Delta Import" and r.start >= lab.staging_log[0].utc
                      for r in lab.servers["aadc02"].state.runs))  # the cycle did start
    lab.clear_faults("aadc02")
    with _session(lab, "aadc02") as standby:
        assert json.loads(_probe_raw(standby, "scheduler"))["ok"] is True


def test_step_faults_match_probes_and_cmdlets_and_are_cleared(lab: Lab) -> None:
    lab.arm_fault("aadc01", on="scheduler", fault="http500", times=2)
    with _session(lab, "aadc01") as active:
        with pytest.raises(HostError):  # a probe is retried by the harness (idempotent): both attempts fail
            active.run_script(ProbeCall("scheduler", load_probe("scheduler").text), idempotent=False)
        assert json.loads(_probe_raw(active, "version"))["ok"] is True  # other calls are untouched
    lab.arm_fault("aadc01", on="Start-ADSyncSyncCycle", fault="drop")
    lab.clear_faults("aadc01")
    assert lab.servers["aadc01"].engine.step_faults.armed == 0
    with pytest.raises(EntraStandbyError, match="unknown step fault"):
        lab.arm_fault("aadc01", on="set-staging", fault="explode")


# --- the wizard and the scheduler ------------------------------------------------------------------------


def test_wizard_suspends_refuses_during_a_cycle_and_switches_through_the_log(lab: Lab) -> None:
    standby = lab.servers["aadc02"]
    lab.set_fault("aadc02", cycle_never_ends=True)
    standby.engine.cycle.start()
    with pytest.raises(WizardRefusedError, match="in progress"):
        lab.wizard("aadc02").configure_staging(False)
    lab.set_fault("aadc02", cycle_never_ends=False)
    _cycle_done(lab, "aadc02")
    with _session(lab, "aadc01") as active:
        assert _act(active, "set-staging", Enabled=True)["ok"] is True
    wizard = lab.wizard("aadc02")
    with wizard:
        assert standby.state.scheduler.scheduler_suspended is True
        with _session(lab, "aadc02") as session:
            assert json.loads(_probe_raw(session, "scheduler"))["data"]["scheduler_suspended"] is True
        wizard.set_staging(False)
    assert standby.state.scheduler.scheduler_suspended is False and standby.state.staging is False
    lab.wizard("aadc02").configure_staging(False, start_sync=True)
    assert standby.state.sync_cycle_in_progress is True
    _cycle_done(lab, "aadc02")
    assert lab.staging_log[-1][2:] == ("aadc02", False)
    assert lab.max_unstaged_at_once() == 1


def test_automatic_scheduler_runs_cycles_only_when_enabled_and_not_suspended() -> None:
    with Lab(_scenario(auto_cycle_interval_s=0.3, cycle_duration_s=0.1), serve=False, cloud=False) as lab:
        scheduler = lab.auto_scheduler
        assert scheduler is not None
        _wait(lambda: scheduler.started_cycles >= 2)
        lab.servers["aadc01"].state.scheduler.sync_cycle_enabled = False  # tenant-wide: both stop
        for name in lab.servers:
            _cycle_done(lab, name)
        stopped = scheduler.started_cycles
        time.sleep(0.8)
        assert scheduler.started_cycles == stopped
        lab.servers["aadc01"].state.scheduler.sync_cycle_enabled = True
        lab.servers["aadc02"].state.scheduler.scheduler_suspended = True
        runs_before = len(lab.servers["aadc02"].state.runs)
        _wait(lambda: scheduler.started_cycles >= stopped + 2)
        assert len(lab.servers["aadc02"].state.runs) == runs_before  # suspended: no cycle on aadc02
    with Lab(_scenario(), serve=False, cloud=False) as quiet:
        assert quiet.auto_scheduler is None  # off by default: tests keep their timing


def test_exports_carry_what_was_imported_not_what_is_on_premises_now() -> None:
    with Lab(_scenario(cycle_duration_s=0.6), serve=False, cloud=False) as lab:
        server = lab.servers["aadc01"]
        assert lab.tenant is not None
        before = len(server.state.runs)
        server.engine.cycle.start()
        _wait(lambda: any(r.profile == "Delta Import" and r.complete and r.connector == ENTRA_CONNECTOR
                          for r in server.state.runs[before:]))
        lab.onprem.set_attribute(CANARY, "extensionAttribute2", "late")  # after the AD import of this cycle
        _cycle_done(lab, "aadc01")
        assert lab.tenant.users[CANARY].extension_attributes.get("extensionAttribute2") is None
        server.engine.cycle.start()
        _cycle_done(lab, "aadc01")
        assert lab.tenant.users[CANARY].extension_attributes.get("extensionAttribute2") == "late"


def test_lab_password_sync_data_has_exactly_the_fact_fields(lab: Lab) -> None:
    from entra_standby.facts.password_sync import LogEvent, PartitionPasswordSync

    def names(cls: type) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    lab.wizard("aadc01").configure_staging(False, start_sync=True)  # already un-staged: writes 654 and 31019
    _cycle_done(lab, "aadc01")
    with _session(lab, "aadc01") as active:
        data = json.loads(_probe_raw(active, "password-sync"))["data"]
    assert set(data) == names(PasswordSyncFacts)
    assert data["partitions"] and set(data["partitions"][0]) == names(PartitionPasswordSync)
    assert data["phs_events"] and set(data["phs_events"][0]) == names(LogEvent)
    assert {e["id"] for e in data["writeback_events"]} == {31019}


def test_password_services_down_leaves_no_evidence_after_unstaging(lab: Lab) -> None:
    lab.set_fault("aadc02", password_services_down=True)
    with _session(lab, "aadc01") as old, _session(lab, "aadc02") as new:
        assert _act(old, "set-staging", Enabled=True)["ok"] is True
        assert _act(new, "set-staging", Enabled=False)["ok"] is True
        stamp = lab.staging_log[-1].utc.isoformat()
        assert _act(new, "start-sync-cycle")["ok"] is True
        _cycle_done(lab, "aadc02")
        fact = parse_password_sync_output("aadc02", _probe_raw(new, "password-sync", SinceUtc=stamp))
    assert not (fact.writeback_started or fact.writeback_heartbeat)
    assert not (fact.phs_heartbeat or fact.phs_synced_since)
    assert fact.writeback_events_error is None and fact.partitions  # read fine, just no evidence


def test_lab_operator_follows_wizard_instructions(lab: Lab) -> None:
    operator = lab.operator(hold_s=0.4)
    standby = lab.servers["aadc02"]
    operator.instruct(standby.address, "On 127.0.0.12: ... UNTICK 'Enable staging mode' > Next; ...")
    _wait(lambda: standby.state.scheduler.scheduler_suspended)  # the wizard is open
    operator.join(10)
    assert standby.state.staging is False and standby.state.scheduler.scheduler_suspended is False
    operator.instruct("AADC02", "TICK 'Enable staging mode'")
    operator.join(10)
    assert standby.state.staging is True and operator.errors == []
    operator.instruct("nowhere", "TICK 'Enable staging mode'")
    assert operator.errors and "nowhere" in operator.errors[0]
    idle = lab.operator(acts=False)
    idle.instruct("aadc02", "UNTICK 'Enable staging mode'")
    idle.join(1)
    assert standby.state.staging is True and len(idle.instructions) == 1
