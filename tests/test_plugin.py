"""The pytest plugin end to end: pytest runs checks/ against the lab in a subprocess, as a user would."""

from __future__ import annotations

import json
import re
from pathlib import Path

from spine_helpers import ROOT, SCENARIOS, Case, junit_cases, lab_inventory_file, run_checks

from entra_standby.lab import Lab
from entra_standby.rules import load_all

ACTIVE, STANDBY = "127.0.0.11", "127.0.0.12"  # the lab's servers' addresses (evidence files, errors)
A01, A02 = "aadc01", "aadc02"  # their names in the scenarios: test ids and findings use these


def check_id_of(case_name: str) -> str:
    return case_name.split("[", 1)[0].removeprefix("test_").replace("_", "-")


def expected_ids(pair: str, check_id: str) -> set[str]:
    scope = load_all()[check_id].scope
    if scope == "pair":
        return {pair}
    if scope == "standby":
        return {f"{pair}/{A02}"}
    return {f"{pair}/{A01}", f"{pair}/{A02}"}


def test_healthy_lab_passes_with_readable_junit_names(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    result = run_checks("--inventory", "inventory/lab.yml", f"--junitxml={junit}", "-rfE")
    cases = junit_cases(junit)
    assert cases, result.output
    not_passed = {name: case.message[:300] for name, case in cases.items() if case.outcome != "passed"}
    assert not not_passed, not_passed
    assert result.returncode == 0, result.output
    # Every testcase name carries its check id and its target: the pair, or pair/host.
    registry = load_all()
    by_check: dict[str, set[str]] = {}
    for name in cases:
        match = re.fullmatch(r"test_(\w+)\[(.+)\]", name)
        assert match, name
        check_id = match.group(1).replace("_", "-")
        assert check_id in registry, name
        by_check.setdefault(check_id, set()).add(match.group(2))
    assert by_check["staging-flag"] == {"healthy-pair"}
    for check_id, ids in by_check.items():
        assert ids == expected_ids("healthy-pair", check_id), check_id
    assert any("/" in i for ids in by_check.values() for i in ids)  # host-scoped checks are there too


def test_header_names_the_lab_target_loudly() -> None:
    result = run_checks("checks/test_staging_flag.py", "--inventory", "inventory/lab.yml", "-v", paths=())
    assert "entra-standby TARGET: LAB" in result.stdout
    assert f"healthy-pair = {A01} ({ACTIVE}, active), {A02} ({STANDBY}, standby)" in result.stdout
    assert result.returncode == 0, result.output


def test_split_brain_fails_naming_both_servers(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    inventory = lab_inventory_file(tmp_path, "split-brain")
    result = run_checks("checks/test_staging_flag.py", "--inventory", str(inventory), f"--junitxml={junit}",
                        paths=())
    assert result.returncode == 1, result.output
    case = junit_cases(junit)["test_staging_flag[split-brain]"]
    assert case.outcome == "failed"
    assert "split brain" in case.message
    assert f"{A01} (active): UN-STAGED" in case.message
    assert f"{A02} (standby): UN-STAGED" in case.message
    assert ACTIVE not in case.message.split("values:")[0]  # servers by name; addresses stay in values
    assert "[critical]" in case.message and "remediation: " in case.message
    assert "stage the active" in case.message
    assert "Traceback" not in result.output


def test_down_host_errors_fast_while_the_other_host_is_audited(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    inventory = lab_inventory_file(tmp_path, "active-down")
    result = run_checks("--inventory", str(inventory), f"--junitxml={junit}", f"--evidence={tmp_path / 'ev'}")
    host_doc = json.loads((tmp_path / "ev" / "active-down" / f"{ACTIVE}.json").read_text(encoding="utf-8"))
    assert host_doc["host_error"]["kind"] == "unreachable"
    assert host_doc["elapsed_s"] < 10, host_doc  # the host gave up in seconds, not pypsrp's minutes
    cases = junit_cases(junit)
    on_active = {n: c for n, c in cases.items() if f"/{A01}]" in n}
    on_standby = {n: c for n, c in cases.items() if f"/{A02}]" in n}
    assert on_active and on_standby
    for name, case in on_active.items():
        assert case.outcome == "error", (name, case)  # a setup error, not a failure
        assert "unreachable" in case.message and ACTIVE in case.message, case.message
    # The standby is audited; only checks that compare it with the dead active error, and they say why.
    assert any(case.outcome == "passed" for case in on_standby.values()), on_standby
    for name, case in on_standby.items():
        assert case.outcome != "error" or ACTIVE in case.message, (name, case.message)
    assert cases["test_staging_flag[active-down]"].outcome == "error"
    assert f"host not audited: active-down/{ACTIVE}" in result.stdout


def test_pair_filter_and_unknown_pair(tmp_path: Path) -> None:
    ok = run_checks("checks/test_staging_flag.py", "--inventory", "inventory/lab.yml",
                    "--pair", "healthy-pair", paths=())
    assert ok.returncode == 0, ok.output
    bad = run_checks("--inventory", "inventory/lab.yml", "--pair", "healthy-pear")
    assert bad.returncode == 4
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no pair named 'healthy-pear'" in lines[0]
    assert "did you mean 'healthy-pair'" in lines[0]


def test_evidence_then_replay_gives_identical_outcomes(tmp_path: Path) -> None:
    evidence, live_xml, replay_xml = tmp_path / "evidence", tmp_path / "live.xml", tmp_path / "replay.xml"
    inventory = lab_inventory_file(tmp_path, "standby-drifted")
    live = run_checks("--inventory", str(inventory), f"--evidence={evidence}", f"--junitxml={live_xml}")
    assert (evidence / "run.json").is_file(), live.output
    # The lab of the first run is gone: the replay cannot reach anything and must not need to.
    replay = run_checks(f"--replay={evidence}", f"--junitxml={replay_xml}")
    assert "entra-standby TARGET: REPLAY" in replay.stdout
    live_cases, replay_cases = junit_cases(live_xml), junit_cases(replay_xml)
    assert outcomes(live_cases) == outcomes(replay_cases)
    assert {c.outcome for c in live_cases.values()} >= {"passed", "failed"}  # a scenario with both verdicts
    assert replay.returncode == live.returncode
    for name, case in live_cases.items():
        if case.outcome == "failed":  # same findings, word for word
            assert first_line(case) == first_line(replay_cases[name]), name


def test_replay_of_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    result = run_checks(f"--replay={tmp_path / 'nothing'}")
    assert result.returncode == 4
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "evidence directory not found" in lines[0]


def outcomes(cases: dict[str, Case]) -> dict[str, str]:
    return {name: case.outcome for name, case in cases.items()}


def first_line(case: Case) -> str:
    return case.message.strip().splitlines()[0]


def test_stalled_standby_errors_in_under_ten_seconds(tmp_path: Path) -> None:
    scenario = tmp_path / "standby-stalled.yml"
    scenario.write_text("name: standby-stalled\nservers:\n  aadc02:\n    faults:\n      stall: ['*']\n",
                        encoding="utf-8")
    inventory = tmp_path / "inv.yml"
    inventory.write_text(f"lab: {scenario}\n", encoding="utf-8")
    junit = tmp_path / "junit.xml"
    result = run_checks("--inventory", str(inventory), f"--junitxml={junit}", f"--evidence={tmp_path / 'ev'}")
    host_file = tmp_path / "ev" / "standby-stalled" / f"{STANDBY}.json"
    assert host_file.is_file(), result.output
    host_doc = json.loads(host_file.read_text(encoding="utf-8"))
    assert host_doc["host_error"]["kind"] == "unreachable" and "stalled" in host_doc["host_error"]["message"]
    assert host_doc["elapsed_s"] < 10, host_doc
    cases = junit_cases(junit)
    stalled = [c for n, c in cases.items() if f"/{A02}]" in n]
    assert stalled and all(c.outcome == "error" and "stalled" in c.message for c in stalled), result.output
    assert all(c.outcome == "passed" for n, c in cases.items() if f"/{A01}]" in n), result.output


def test_secrets_never_reach_output_junit_or_evidence(tmp_path: Path) -> None:
    # A lab in this process, audited through a plain loopback inventory (as for real servers), so the test
    # knows the password; one server rejects it, so the error paths are exercised too.
    junit, evidence = tmp_path / "junit.xml", tmp_path / "evidence"
    with Lab(SCENARIOS / "healthy-pair.yml") as lab:
        assert lab.credentials is not None and lab.cloud is not None
        password = lab.credentials.password
        client_secret = lab.cloud.client_secret
        inventory = lab.write_inventory(tmp_path / "live.yml")
        lab.set_fault("aadc02", auth_fail=True)
        result = run_checks("--inventory", str(inventory), f"--junitxml={junit}", f"--evidence={evidence}",
                            "-rA", "-v", "--log-level=DEBUG")
    # written by the lab (its marker line) and every host on loopback: announced as a lab, not LIVE
    assert "entra-standby TARGET: LAB - inventory" in result.stdout and "TARGET: LIVE" not in result.stdout
    cases = junit_cases(junit)
    failed_auth = [c for n, c in cases.items() if f"/{A02}]" in n]
    assert failed_auth
    assert all(c.outcome == "error" and "authentication failed" in c.message for c in failed_auth)
    assert client_secret and (tmp_path / "live.yml").read_text(encoding="utf-8").count(client_secret) == 1
    for secret in (password, client_secret):
        assert secret not in result.output
        assert secret not in junit.read_text(encoding="utf-8")
        written = [f for f in evidence.rglob("*") if f.is_file()]
        assert written and all(secret not in f.read_text(encoding="utf-8") for f in written)


def test_own_tests_get_the_fixtures_and_unknown_check_ids_error(tmp_path: Path) -> None:
    own = tmp_path / "test_own.py"
    own.write_text(
        "import pytest\n\n"
        "def test_every_server_answers(pair, server):\n"
        "    assert server.scheduler.sync_cycle_enabled and server in pair.servers\n\n"
        "@pytest.mark.check('no-such-check')\n"
        "def test_typo(pair):\n"
        "    pass\n", encoding="utf-8")
    junit = tmp_path / "junit.xml"
    lab_yml = ROOT / "inventory" / "lab.yml"
    result = run_checks(str(own), "--inventory", str(lab_yml), f"--junitxml={junit}", paths=())
    cases = junit_cases(junit)
    assert outcomes(cases) == {
        f"test_every_server_answers[healthy-pair/{A01}]": "passed",
        f"test_every_server_answers[healthy-pair/{A02}]": "passed",
        "test_typo[healthy-pair]": "error",
    }, result.output
    assert "unknown check id 'no-such-check'" in cases["test_typo[healthy-pair]"].message
