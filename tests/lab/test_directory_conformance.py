"""One truth, several directories: ``connector-account`` judges the same whichever directory the lab serves.

``connector_account_verdicts(scenario, mode, workdir)`` runs the audit the way a user does (``pytest checks/
--inventory`` in a subprocess, connector-account only) against the lab started with ``directory=mode`` and
returns, per server, the outcome and the whole failure text (findings, values, remediation). ``none`` is the
reference: no ``directory:`` block, the sync servers' own (in-session) AD reads are judged. ``embedded``
reads the same accounts over LDAP from the lab's directory; ``samba`` from a real Samba AD DC seeded from the
same scenario: the same assertions prove the stand-in against the real DC.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from spine_helpers import SCENARIOS, junit_cases, run_checks

from entra_standby.lab import Lab, samba_dc

MODES = ("embedded", "samba")  # each compared with "none"; samba skips without root and Samba (not in CI)
# scenario -> connector-account outcome per server (the standby aadc02 is the one each scenario breaks)
EXPECTED = {
    "healthy-pair": {"aadc01": "passed", "aadc02": "passed"},
    "break-connector-account": {"aadc01": "passed", "aadc02": "failed"},
    "connector-account-misscoped-aces": {"aadc01": "passed", "aadc02": "failed"},
    "standby-drifted": {"aadc01": "passed", "aadc02": "failed"},
}


def connector_account_verdicts(scenario: str, directory_mode: str,
                               workdir: Path) -> dict[str, tuple[str, str]]:
    """Server name -> (outcome, failure text) of ``pytest checks/ -k connector_account --inventory`` on
    the scenario's lab served with ``directory=directory_mode``."""
    workdir.mkdir(parents=True, exist_ok=True)
    junit = workdir / "junit.xml"
    with Lab(SCENARIOS / f"{scenario}.yml", cloud=False, directory=directory_mode) as lab:
        inventory = lab.write_inventory(workdir / "inventory.yml")
        block = yaml.safe_load(inventory.read_text(encoding="utf-8"))["pairs"][0].get("directory")
        assert (block is not None) == (directory_mode != "none"), block
        run = run_checks("--inventory", str(inventory), f"--junitxml={junit}", "-k", "connector_account")
    assert junit.exists(), run.output[-3000:]
    out: dict[str, tuple[str, str]] = {}
    for name, case in junit_cases(junit).items():
        if name.startswith("test_connector_account["):
            server = name.split("/", 1)[1].rstrip("]")
            out[server] = (case.outcome, case.message.strip())
    assert out, run.output[-3000:]
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, tuple[str, str]]]:
    """The verdicts without a directory (the in-session reads), once per scenario."""
    return {s: connector_account_verdicts(s, "none", tmp_path_factory.mktemp(f"none-{s}")) for s in EXPECTED}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_the_directory_gives_the_verdicts_of_the_in_session_reads(
        scenario: str, mode: str, reference: dict[str, dict[str, tuple[str, str]]],
        tmp_path: Path) -> None:
    if mode == "samba" and (why := samba_dc.unavailable()) is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must prove the stand-in against the real DC: {why} (scripts/install-samba)")
        pytest.skip(why)
    got = connector_account_verdicts(scenario, mode, tmp_path)
    assert {s: outcome for s, (outcome, _) in got.items()} == EXPECTED[scenario]
    assert got == reference[scenario]
