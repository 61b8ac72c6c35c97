"""The switching engine against the lab, through unmodified pypsrp and msal: drill, switch, emergency
failover, demote, refusals, rollback on Ctrl-C, and the lab's own staging log as the proof that two servers
were never un-staged at once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from drillkit import drill_lab

from entra_standby.drill.console import render_record
from entra_standby.drill.engine import execute
from entra_standby.drill.lock import PairLock
from entra_standby.drill.records import RunOutcome, StepOutcome
from entra_standby.errors import DrillError


def _staging_sequence(lab: Any) -> list[tuple[str, bool]]:
    return [(e.server, e.staging_enabled) for e in lab.staging_log[2:]]  # after the two initial rows


def test_drill_passes_both_directions_and_never_two_unstaged(tmp_path: Path) -> None:
    with drill_lab(tmp_path) as d:
        record = d.run("drill")
        assert record.outcome is RunOutcome.PASSED, render_record(record)
        assert d.lab.max_unstaged_at_once() == 1
        assert _staging_sequence(d.lab) == [("aadc01", True), ("aadc02", False), ("aadc02", True),
                                             ("aadc01", False)]
        assert set(record.rto_s) == {"failover", "failback"}
        assert all(0 < seconds < 30 for seconds in record.rto_s.values())
        for direction in ("failover", "failback"):
            proofs = " ".join(record.proven[direction])
            assert "Export on" in proofs and "succeeded" in proofs, proofs
            assert "onPremisesLastSyncDateTime" in proofs, proofs
        assert d.flags() == {"aadc01": False, "aadc02": True}
        assert all(step.outcome is not StepOutcome.FAILED for step in record.steps)
        assert any("waiting for" in line for line in d.lines)  # progress while it waits


def test_switch_hands_over_and_says_what_to_change(tmp_path: Path) -> None:
    with drill_lab(tmp_path) as d:
        options: dict[str, Any] = {}
        record = d.run("switch", warnings=options.setdefault("w", []))
        assert record.outcome is RunOutcome.PASSED, render_record(record)
        assert d.flags() == {"aadc01": True, "aadc02": False}
        assert d.lab.max_unstaged_at_once() == 1
        assert set(record.rto_s) == {"failover"}
        assert any(f"{d.host('aadc02')} role active" in w for w in options["w"]), options["w"]


def test_no_method_refuses_and_explains_every_choice(tmp_path: Path) -> None:
    with drill_lab(tmp_path) as d:
        inventory = d.inventory(lambda raw: raw["pairs"][0]["drill"].pop("method"))
        record = d.run("drill", inventory)
        assert record.outcome is RunOutcome.REFUSED
        assert record.refusal is not None
        for method in ("wizard", "global-settings", "adsynctools"):
            assert method in record.refusal
        assert d.actions_received() == []
        assert _staging_sequence(d.lab) == []


def test_adsynctools_is_refused_on_supported_builds(tmp_path: Path) -> None:
    with drill_lab(tmp_path) as d:
        inventory = d.inventory(lambda raw: raw["pairs"][0]["drill"].update(method="adsynctools"))
        record = d.run("switch", inventory)
        assert record.outcome is RunOutcome.REFUSED
        assert record.refusal is not None and "2.5.79.0" in record.refusal
        assert d.actions_received() == []


def test_split_brain_is_refused_before_any_change(tmp_path: Path) -> None:
    with drill_lab(tmp_path, "split-brain") as d:
        record = d.run("drill")
        assert record.outcome is RunOutcome.REFUSED
        assert record.refusal is not None and "staging-flag" in record.refusal
        assert d.actions_received() == []


def test_no_cloud_block_needs_the_flag(tmp_path: Path) -> None:
    with drill_lab(tmp_path) as d:
        inventory = d.inventory(lambda raw: raw["pairs"][0].pop("cloud"))
        refused = d.run("switch", inventory)
        assert refused.outcome is RunOutcome.REFUSED
        assert refused.refusal is not None and "--no-cloud-verify" in refused.refusal
        warnings: list[str] = []
        record = d.run("switch", inventory, no_cloud_verify=True, warnings=warnings)
        assert record.outcome is RunOutcome.PASSED, render_record(record)
        assert any("--no-cloud-verify" in w for w in warnings)
        assert any("tenant" in item for item in record.unproven["failover"])


def test_a_held_lock_refuses_naming_its_holder(tmp_path: Path) -> None:
    with drill_lab(tmp_path) as d:
        holder = PairLock(d.pair, directory=tmp_path / "locks", command="pytest --drill (someone else)")
        with holder, pytest.raises(DrillError) as raised:
            d.run("drill")
        assert "someone else" in str(raised.value), str(raised.value)
        assert d.actions_received() == []


def test_outside_the_maintenance_window_is_refused_unless_ignored(tmp_path: Path) -> None:
    today = dt.datetime.now(dt.UTC).weekday()
    other_days = [d for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
                  if d != ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[today]]
    windows = [{"days": other_days[:1], "start": "00:00", "end": "00:30", "timezone": "UTC"}]
    with drill_lab(tmp_path) as d:
        inventory = d.inventory(lambda raw: raw["pairs"][0].update(maintenance_windows=windows))
        refused = d.run("drill", inventory, ignore_window=False)
        assert refused.outcome is RunOutcome.REFUSED
        assert refused.refusal is not None
        # the one wording of drill.windows.require_window: the pair, the next window, and the fix
        assert refused.refusal.startswith(f"pair '{d.pair}': outside every maintenance window; the next "
                                          "opens "), refused.refusal
        assert "(fix: run it after " in refused.refusal and "--ignore-maintenance-window" in refused.refusal
        # ignored: the run goes on (here only as far as a held lock) with drill.windows.warning_text's warning
        options = d.options(ignore_window=True)
        with PairLock(d.pair, directory=tmp_path / "locks", command="someone else"), \
                pytest.raises(DrillError, match="someone else"):
            execute(inventory, d.pair, "drill", options)
        about_window = [w for w in options.warnings if "maintenance" in w]
        assert len(about_window) == 1 and about_window[0].startswith(
            f"WARNING: pair '{d.pair}': running OUTSIDE the maintenance windows because "
            "--ignore-maintenance-window was given (outside every maintenance window; the next opens "), \
            about_window
        assert d.actions_received() == []


def test_ctrl_c_during_the_switch_rolls_back(tmp_path: Path) -> None:
    pressed: list[str] = []

    def interrupt_at_export(line: str) -> None:  # the operator presses Ctrl-C once, mid-switch
        if line.startswith("[failover] wait for a successful Export") and not pressed:
            pressed.append(line)
            raise KeyboardInterrupt

    with drill_lab(tmp_path) as d:
        record = d.run("drill", progress=interrupt_at_export)
        assert record.outcome is RunOutcome.ROLLED_BACK, render_record(record)
        assert d.flags() == {"aadc01": False, "aadc02": True}
        assert d.lab.max_unstaged_at_once() == 1
        assert any(step.phase == "rollback" and step.outcome is StepOutcome.PASSED for step in record.steps)
        schedulers = {n: s.state.scheduler.sync_cycle_enabled for n, s in d.lab.servers.items()}
        assert schedulers == {"aadc01": True, "aadc02": True}


def test_emergency_failover_needs_an_unreachable_active_and_the_confirmation(tmp_path: Path) -> None:
    with drill_lab(tmp_path) as d:
        active = d.host("aadc01")
        healthy = d.run("failover", confirm_isolated=active)
        assert healthy.outcome is RunOutcome.REFUSED
        assert healthy.refusal is not None and "switch" in healthy.refusal

        d.lab.set_fault("aadc01", auth_fail=True)
        auth = d.run("failover", confirm_isolated=active)
        assert auth.outcome is RunOutcome.REFUSED
        assert auth.refusal is not None and "auth" in auth.refusal
        d.lab.clear_faults("aadc01")

        d.lab.set_fault("aadc01", down=True)
        unconfirmed = d.run("failover")
        assert unconfirmed.outcome is RunOutcome.REFUSED
        assert unconfirmed.refusal is not None and f"--confirm-isolated {active}" in unconfirmed.refusal
        wrong = d.run("failover", confirm_isolated=d.host("aadc02"))
        assert wrong.outcome is RunOutcome.REFUSED
        assert d.flags() == {"aadc01": False, "aadc02": True}

        warnings: list[str] = []
        record = d.run("failover", confirm_isolated=active, warnings=warnings)
        assert record.outcome is RunOutcome.PASSED, render_record(record)
        assert d.flags()["aadc02"] is False
        assert "failover" in record.rto_s
        assert any("demote" in w and active in w for w in warnings), warnings

        # The old active comes back as it was (un-staged): demote stages it, the new active keeps exporting.
        d.lab.clear_faults("aadc01")
        demoted = d.run("demote", demote_server=active)
        assert demoted.outcome is RunOutcome.PASSED, demoted
        assert d.flags() == {"aadc01": True, "aadc02": False}


def test_demote_refuses_to_leave_nothing_exporting(tmp_path: Path) -> None:
    with drill_lab(tmp_path) as d:
        record = d.run("demote", demote_server=d.host("aadc01"))
        assert record.outcome is RunOutcome.REFUSED
        assert record.refusal is not None and "nothing exporting" in record.refusal
        assert d.flags() == {"aadc01": False, "aadc02": True}


def test_wizard_without_an_operator_is_refused_before_any_change(tmp_path: Path) -> None:
    with drill_lab(tmp_path) as d:
        inventory = d.inventory(lambda raw: raw["pairs"][0]["drill"].update(method="wizard"))
        record = d.run("drill", inventory)
        assert record.outcome is RunOutcome.REFUSED, render_record(record)
        assert record.refusal is not None and "operator" in record.refusal
        assert record.refusal.count("(fix:") == 1  # the fix is said once
        assert d.actions_received() == []
        schedulers = {n: s.state.scheduler.sync_cycle_enabled for n, s in d.lab.servers.items()}
        assert schedulers == {"aadc01": True, "aadc02": True}


def test_wizard_method_the_operator_makes_each_switch(tmp_path: Path) -> None:
    with drill_lab(tmp_path) as d:
        inventory = d.inventory(lambda raw: raw["pairs"][0]["drill"].update(method="wizard"))
        operator = d.lab.operator(hold_s=0.3)
        record = d.run("switch", inventory, operator=operator)
        operator.join(5)
        assert record.outcome is RunOutcome.PASSED, render_record(record)
        assert operator.errors == []
        told = [(server, "UNTICK" if "UNTICK 'Enable" in text else "TICK")
                for server, text in operator.instructions]
        assert told == [(d.host("aadc01"), "TICK"), (d.host("aadc02"), "UNTICK")], told
        assert d.flags() == {"aadc01": True, "aadc02": False}
        assert d.lab.max_unstaged_at_once() == 1


def test_wizard_switch_never_made_ends_in_a_bounded_wait_and_a_clear_report(tmp_path: Path) -> None:
    with drill_lab(tmp_path) as d:
        def edit(raw: dict[str, Any]) -> None:
            raw["pairs"][0]["drill"].update(method="wizard", operator_timeout=2)

        operator = d.lab.operator(acts=False)
        record = d.run("switch", d.inventory(edit), operator=operator)
        assert record.outcome is RunOutcome.ROLLED_BACK, render_record(record)
        assert record.refusal is not None and "was not seen within 2 s" in record.refusal
        failed = [s for s in record.steps if s.outcome is StepOutcome.FAILED]
        assert failed and failed[0].name == f"stage {d.host('aadc01')}"
        assert d.flags() == {"aadc01": False, "aadc02": True}
        schedulers = {n: s.state.scheduler.sync_cycle_enabled for n, s in d.lab.servers.items()}
        assert schedulers == {"aadc01": True, "aadc02": True}
