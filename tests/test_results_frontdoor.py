"""Results through pytest's front door, as a user and a pipeline meet them: the verdict at the end of the run,
selection by check id, severity and server name, the severity gate and the exit codes, waivers that stop a
bad run before anything connects, the readiness reports, pytest habits (no path, another directory, -n)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import xmlschema
from junitparser import JUnitXml
from spine_helpers import ROOT, SCENARIOS, run_checks

from entra_standby.lab import Lab
from entra_standby.rules import load_all

DRIFTED = f"--replay={ROOT / 'fixtures' / 'evidence' / 'standby-drifted'}"
ACTIVE_DOWN = f"--replay={ROOT / 'fixtures' / 'evidence' / 'active-down'}"
XSD = ROOT.parent / "shared" / "data" / "JUnit.xsd"


def selected(output: str) -> list[str]:
    return [line.split("::", 1)[1].split(" ")[0] for line in output.splitlines()
            if line.startswith("checks/") and "::" in line]


def test_drifted_run_ends_with_the_verdict_and_the_scorecard() -> None:
    result = run_checks(DRIFTED, "--tb=no")
    assert result.returncode == 1, result.output
    verdict = result.stdout.split("entra-standby verdict", 1)[1]
    assert "standby-drifted  NOT READY" in verdict.splitlines()[1]
    assert "scorecard standby-drifted" in verdict and "exit code 1: audited" in verdict
    assert verdict.index("CRITICAL") < verdict.index("HIGH") < verdict.index("MEDIUM") < verdict.index("LOW")


def test_check_ids_and_severities_select_what_they_say() -> None:
    by_id = run_checks(DRIFTED, "-k", "version-parity", "--co")
    assert selected(by_id.stdout) == ["test_version_parity[standby-drifted/aadc02]"], by_id.output
    critical = run_checks(DRIFTED, "-m", "critical", "--co")
    expected = {cid for cid, spec in load_all().items() if str(spec.severity) == "critical"}
    got = {name.split("[")[0].removeprefix("test_").replace("_", "-") for name in selected(critical.stdout)}
    assert got == expected - {"cloud-sync-enabled"} | ({"cloud-sync-enabled"} & got), critical.output
    assert got and "version-parity" not in got
    both = run_checks(DRIFTED, "-m", "high or critical", "--co")
    assert len(selected(both.stdout)) > len(selected(critical.stdout))


def test_fail_on_high_makes_low_and_medium_findings_warnings_and_the_exit_code_follows() -> None:
    args = ("-k", "adsynctools or patch-age", "--tb=no")
    strict = run_checks(DRIFTED, *args)
    assert strict.returncode == 1, strict.output
    gated = run_checks(DRIFTED, *args, "--fail-on", "high")
    assert gated.returncode == 0, gated.output
    assert "warn:low" in gated.stdout and "warn:medium" in gated.stdout
    assert "FindingBelowGateWarning" in gated.stdout
    assert "standby-drifted  READY" in gated.stdout


def test_an_unreachable_host_exits_six_not_one() -> None:
    result = run_checks(ACTIVE_DOWN, "--tb=no")
    assert result.returncode == 6, result.output
    assert "active-down  UNKNOWN" in result.stdout and "exit code 6: could not audit" in result.stdout


def test_waivers_from_a_file_active_expired_and_not_run(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yml"
    waivers.write_text(
        "- {check: adsynctools, host: 127.0.0.12, justification: CHG-7 rollout, expires: 2999-01-01}\n"
        "- {check: pending-reboot, justification: reboot Sunday, expires: 2026-01-01}\n"
        "- {check: dotnet, pair: standby-drifted, justification: CHG-9, expires: 2999-01-01, run: false}\n",
        encoding="utf-8")
    result = run_checks(DRIFTED, f"--waivers={waivers}", "-rfxs", "--tb=no")
    out = result.stdout
    assert "waivers: 2 active, 1 EXPIRED" in out, result.output
    assert "XFAIL" in out and "waived until 2999-01-01" in out  # run, reported, not failed
    assert "FAILED checks/test_pending_reboot.py" in out and "EXPIRED on 2026-01-01" in out
    assert "SKIPPED" in out and "not run" in out  # dotnet not evaluated
    assert "FAILED checks/test_dotnet.py" not in out and "FAILED checks/test_adsynctools.py" not in out


def test_a_broken_waiver_file_stops_the_run_before_any_connection(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yml"
    waivers.write_text("- {check: version_parity, justification: x, expires: 2999-01-01}\n", encoding="utf-8")
    inventory = tmp_path / "inv.yml"  # a server nobody listens on: a connection attempt would show
    inventory.write_text("pairs:\n- name: p\n  servers:\n  - {host: 127.0.0.99, role: active}\n"
                         "  - {host: 127.0.0.98, role: standby}\n"
                         "defaults:\n  connection: {username: u, password: pw, port: 1, ssl: false}\n",
                         encoding="utf-8")
    result = run_checks("--inventory", str(inventory), f"--waivers={waivers}")
    assert result.returncode == 4, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{waivers}: [0].check: unknown check id 'version_parity'" in lines[0], lines
    assert "did you mean 'version-parity'" in lines[0] and "host not audited" not in result.output


def test_waivers_without_an_audit_target_is_refused(tmp_path: Path) -> None:
    result = run_checks(f"--waivers={tmp_path / 'w.yml'}", "--co")
    assert result.returncode == 4 and "--waivers applies to an audit" in result.stderr, result.output


def test_readiness_report_validates_and_counts_the_same_as_the_run(tmp_path: Path) -> None:
    out = tmp_path / "report"
    summary = tmp_path / "summary.md"
    result = run_checks(DRIFTED, f"--readiness-report={out}", f"--summary={summary}", "--tb=no")
    junit = out / "entra-standby.junit.xml"
    xmlschema.XMLSchema(str(XSD)).validate(str(junit))
    suite = next(iter(JUnitXml.fromfile(str(junit))))
    assert f"{suite.failures} failed" in result.stdout.splitlines()[-1], result.stdout[-500:]
    assert (out / "entra-standby-results.json").is_file() and "**NOT READY**" in summary.read_text()


def test_inventory_with_the_projects_own_tests_says_no_audit_happened() -> None:
    result = run_checks(DRIFTED, "tests/test_lint.py", paths=())
    assert result.returncode == 4
    assert "none of the" in result.stderr and "is a readiness check" in result.stderr


def test_no_test_path_runs_the_checks_from_any_directory(tmp_path: Path) -> None:
    result = run_checks(DRIFTED, "--tb=no", paths=(), cwd=tmp_path)
    assert f"rootdir: {ROOT}" in result.stdout or "rootdir" not in result.stdout, result.stdout[:800]
    assert "running the readiness checks" in result.stdout and "NOT READY" in result.stdout
    assert result.returncode == 1, result.output


def test_an_inventory_outside_the_repository_does_not_move_the_rootdir(tmp_path: Path) -> None:
    inventory = tmp_path / "lab.yml"
    inventory.write_text(f"lab: {SCENARIOS / 'healthy-pair.yml'}\n", encoding="utf-8")
    result = run_checks("checks/test_staging_flag.py", "--inventory", str(inventory), "-v", paths=())
    assert f"rootdir: {ROOT}" in result.stdout, result.stdout[:800]
    assert result.returncode == 0, result.output


def test_xdist_does_not_multiply_connections_and_ids_use_server_names(tmp_path: Path) -> None:
    with Lab(SCENARIOS / "standby-drifted.yml") as lab:
        inventory = lab.write_inventory(tmp_path / "inv.yml")
        result = run_checks("--inventory", str(inventory), "-n", "4", "-k", "aadc02 or staging", "-vv",
                             "--tb=no")
        counts = {name: s.counters.snapshot()["by_action"] for name, s in lab.servers.items()}
    assert all(c.get("Create") == 1 for c in counts.values()), counts  # one runspace pool per server
    assert "-n 4 ignored for the audit" in result.stdout and "entra-standby verdict" in result.stdout
    ids = selected(result.stdout)
    assert ids and all("[standby-drifted/aadc02]" in i or "[standby-drifted]" in i for i in ids), ids
    assert "TARGET: LAB - inventory" in result.stdout


def test_lab_serve_prints_this_interpreters_pytest(tmp_path: Path) -> None:
    import subprocess

    inventory = tmp_path / "inv.yml"
    proc = subprocess.Popen([sys.executable, "-m", "entra_standby.cli", "lab", "serve",
                             str(SCENARIOS / "healthy-pair.yml"), "--write-inventory", str(inventory)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ))
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("run the checks:"):
                break
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert lines[-1].strip() == f"run the checks:  {sys.executable} -m pytest --inventory {inventory}", lines


def test_collect_only_lists_the_checks_without_a_target_or_secrets() -> None:
    result = run_checks("--co", "-m", "critical", env={"ENTRA_AUDIT_PASSWORD": ""})
    assert result.returncode == 0, result.output
    listed = {line.split("::")[1] for line in result.stdout.splitlines() if "::" in line}
    critical = {f"test_{cid.replace('-', '_')}" for cid, s in load_all().items()
                if str(s.severity) == "critical"}
    assert listed == critical, result.output


def test_collect_only_with_a_real_inventory_needs_no_secret_but_a_run_does(tmp_path: Path) -> None:
    inventory = tmp_path / "prod.yml"
    inventory.write_text(
        "defaults:\n  connection: {username: CONTOSO\\\\svc, password_env: ESB_UNSET_FOR_LISTING}\n"
        "pairs:\n  - name: prod\n    servers:\n"
        "      - {host: aadc01.contoso.com, role: active}\n"
        "      - {host: aadc02.contoso.com, role: standby}\n"
        "    cloud: {tenant_id: 00000000-0000-0000-0000-000000000001,"
        " client_id: 00000000-0000-0000-0000-000000000002, client_secret_env: ESB_UNSET_CLOUD}\n",
        encoding="utf-8")
    listed = run_checks("--co", "--inventory", str(inventory), "-k", "staging-flag or tls12")
    assert listed.returncode == 0, listed.output
    ids = {line.split("::")[1] for line in listed.stdout.splitlines() if "::" in line}
    assert ids == {"test_staging_flag[prod]", "test_tls12[prod/aadc01.contoso.com]",
                   "test_tls12[prod/aadc02.contoso.com]"}, listed.output
    refused = run_checks("--inventory", str(inventory), "-k", "staging-flag")
    assert refused.returncode == 4, refused.output
    assert "ESB_UNSET_FOR_LISTING" in refused.output and "Traceback" not in refused.output


def test_the_wheel_ships_the_checks_where_the_plugin_looks_for_them() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert config["package-dir"]["entra_standby.checks"] == "checks"
    assert "entra_standby.checks" in config["packages"]
    assert set(config["package-data"]["entra_standby.checks"]) == {"*.py", "drills/*.py"}
    # every package of the source tree is listed (an explicit list must not drop a new subpackage)
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "entra_standby").rglob("__init__.py")}
    assert found <= set(config["packages"]), found - set(config["packages"])


def test_inventory_waivers_apply_to_a_lab_run_and_name_servers(tmp_path: Path) -> None:
    inventory = tmp_path / "lab.yml"
    inventory.write_text(f"lab: {SCENARIOS / 'standby-drifted.yml'}\nwaivers:\n"
                         "  - {check: version-parity, host: aadc02, justification: swing upgrade CHG-3,"
                         " expires: 2999-12-31}\n", encoding="utf-8")
    result = run_checks("--inventory", str(inventory), "-k", "version-parity", "-rx", "--tb=no")
    assert result.returncode == 0, result.output
    assert "XFAIL checks/test_version_parity.py::test_version_parity[standby-drifted/aadc02]" in result.stdout
    assert "swing upgrade CHG-3" in result.stdout and "standby-drifted  READY" in result.stdout
    # A selection never passes for the whole pair: it names how much of the audit it was.
    partial = re.search(r"PARTIAL: 1 of (\d+) results", result.stdout)
    deselected = re.search(r"(\d+) deselected", result.stdout)
    assert partial and deselected, result.stdout
    assert int(partial.group(1)) == int(deselected.group(1)) + 1, result.stdout
