"""The drill's front doors as users run them: `pytest checks/drills` (opt-in, plan, report) and the
`entra-standby switch|failover|demote|unlock` commands, against the lab."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import xmlschema
from drillkit import drill_lab
from spine_helpers import ROOT, run_checks

from entra_standby.cli import main

XSD = ROOT.parent / "shared" / "data" / "JUnit.xsd"
DRILLS = ("checks/drills",)


def test_the_drill_is_skipped_with_the_reason_unless_asked_for() -> None:
    result = run_checks("--inventory", "inventory/lab.yml", "-rs", paths=DRILLS)
    assert result.returncode == 0, result.output
    assert "1 skipped" in result.stdout
    assert "--drill" in result.stdout and "changes production servers" in result.stdout


def test_the_drill_passes_on_the_lab_with_a_valid_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_checks("--inventory", "inventory/lab.yml", "--drill", "--ignore-maintenance-window",
                        "--drill-report", str(out), "--drill-lock-dir", str(tmp_path / "locks"),
                        paths=DRILLS, timeout=180)
    assert result.returncode == 0, result.output[-4000:]
    assert "1 passed" in result.stdout
    assert "OUTSIDE the maintenance windows" in result.stdout  # the override warns
    assert "RTO failover" in result.stdout and "RTO failback" in result.stdout
    junit = next(out.glob("drill-*.xml"))
    xmlschema.XMLSchema(str(XSD)).validate(str(junit))
    assert 'name="rto_s.failover"' in junit.read_text()
    log = json.loads(next(out.glob("drill-*.json")).read_text())
    text = json.dumps(log)
    staging = [(e["server"], e["parameters"]["Enabled"]) for e in log["audit"]
               if e["kind"] == "action" and e["name"] == "set-staging"]
    assert [enabled for _, enabled in staging] == [True, False, True, False], staging
    # active, standby, then standby, active
    assert staging[0][0] == staging[3][0] and staging[1][0] == staging[2][0]
    assert "client_secret" not in text


def test_a_drill_against_a_served_lab_leaks_no_secret_and_never_unstages_both(tmp_path: Path) -> None:
    with drill_lab(tmp_path) as d:
        inventory = d.lab.write_inventory(tmp_path / "inventory.yml")
        out = tmp_path / "out"
        result = run_checks("--inventory", str(inventory), "--drill", "--ignore-maintenance-window",
                            "--drill-report", str(out), "--drill-lock-dir", str(tmp_path / "locks"),
                            paths=DRILLS, timeout=180)
        assert result.returncode == 0, result.output[-4000:]
        assert d.lab.max_unstaged_at_once() == 1
        assert d.flags() == {"aadc01": False, "aadc02": True}
        assert d.lab.credentials is not None and d.lab.cloud is not None
        secrets = (d.lab.credentials.password, d.lab.cloud.client_secret)
    written = result.output + "".join(p.read_text() for p in out.iterdir())
    for secret in secrets:
        assert secret not in written


def test_drill_plan_prints_every_step_and_sends_nothing(tmp_path: Path) -> None:
    with drill_lab(tmp_path) as d:
        inventory = d.lab.write_inventory(tmp_path / "inventory.yml")
        result = run_checks("--inventory", str(inventory), "--drill-plan", paths=DRILLS)
        counts = {name: s.counters.snapshot()["total"] for name, s in d.lab.servers.items()}
    assert result.returncode == 0, result.output
    assert "PLAN (drill)" in result.stdout
    for fragment in ("set-staging -Enabled $true", "set-staging -Enabled $false", "set-sync-cycle",
                     "start-sync-cycle -PolicyType Delta", "at most 20 s", "HOLD", "FAILBACK"):
        assert fragment in result.stdout, fragment
    assert counts == {"aadc01": 0, "aadc02": 0}, counts


def test_switch_command_plan_then_switch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with drill_lab(tmp_path) as d:
        inventory = str(d.lab.write_inventory(tmp_path / "inventory.yml"))
        base = ["--inventory", inventory, "--pair", d.pair, "--lock-dir", str(tmp_path / "locks")]
        assert main(["switch", *base, "--plan"]) == 0
        assert "PLAN (switch)" in capsys.readouterr().out
        assert {n: s.counters.snapshot()["total"] for n, s in d.lab.servers.items()} == {"aadc01": 0,
                                                                                         "aadc02": 0}
        assert main(["switch", *base, "--report", str(tmp_path / "r")]) == 0
        out = capsys.readouterr().out
        assert "switch on pair" in out and "PASSED" in out
        assert f"{d.host('aadc02')} role active" in out
        assert d.flags() == {"aadc01": True, "aadc02": False}
        assert list((tmp_path / "r").glob("switch-*.xml"))


def test_failover_command_refusals_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with drill_lab(tmp_path) as d:
        inventory = str(d.lab.write_inventory(tmp_path / "inventory.yml"))
        base = ["--inventory", inventory, "--pair", d.pair, "--lock-dir", str(tmp_path / "locks")]
        assert main(["failover", *base]) == 2  # no --active-down: that is a planned switch
        assert "entra-standby switch" in capsys.readouterr().err
        assert main(["failover", *base, "--active-down", "--confirm-isolated", d.host("aadc01")]) == 1
        assert "planned switch" in capsys.readouterr().out
        assert d.flags() == {"aadc01": False, "aadc02": True}


def test_unlock_removes_a_stale_lock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from entra_standby.drill.lock import PairLock, read_lock

    locks = tmp_path / "locks"
    PairLock("contoso-prod", directory=locks, command="crashed run").acquire()
    assert main(["unlock", "--pair", "contoso-prod", "--lock-dir", str(locks)]) == 0
    assert "crashed run" in capsys.readouterr().out
    assert read_lock("contoso-prod", locks) is None
