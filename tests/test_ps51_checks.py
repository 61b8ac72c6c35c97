"""``pytest checks/`` against a lab answering in PS 5.1's unrolled shapes gives the same verdicts as without.

With the scenario option ``lab: {ps51_unrolling: true}`` every simulated server writes each empty array of its
probe data as ``null`` and each one-element array as the bare element, as PS 5.1 does when a collection loses
its ``@()``. The audit of the same scenario with and without the option must agree check by check: the healthy
pair still passes everything, the drifted standby still fails the same checks for the same reasons.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from spine_helpers import SCENARIOS, Case, junit_cases, run_checks
from test_checks_lab import DRIFTED

from entra_standby.lab import Lab


def _audit(scenario: str, workdir: Path, *, ps51: bool) -> tuple[dict[str, Case], str]:
    raw = yaml.safe_load((SCENARIOS / f"{scenario}.yml").read_text(encoding="utf-8"))
    raw["lab"] = {**(raw.get("lab") or {}), "ps51_unrolling": ps51}
    workdir.mkdir(parents=True)
    junit = workdir / "junit.xml"
    with Lab(raw) as lab:
        assert {s.state.ps51_unrolling for s in lab.servers.values()} == {ps51}
        inventory = lab.write_inventory(workdir / "inventory.yml")
        run = run_checks("--inventory", str(inventory), f"--junitxml={junit}")
    assert junit.exists(), run.output[-3000:]
    return junit_cases(junit), run.output


def _without_numbers(message: str) -> str:
    # Ages and timestamps move with each lab's start time; the findings themselves must not.
    return re.sub(r"\d+", "#", message)


@pytest.mark.parametrize("scenario", ["healthy-pair", "standby-drifted"])
def test_ps51_shapes_give_the_same_verdicts(scenario: str, tmp_path: Path) -> None:
    plain, _ = _audit(scenario, tmp_path / "plain", ps51=False)
    unrolled, output = _audit(scenario, tmp_path / "ps51", ps51=True)
    assert set(unrolled) == set(plain)
    outcomes = {name: case.outcome for name, case in unrolled.items()}
    assert outcomes == {name: case.outcome for name, case in plain.items()}, output[-4000:]
    for name, case in plain.items():
        assert _without_numbers(unrolled[name].message) == _without_numbers(case.message), name
    failed = {re.sub(r"^test_", "", n.split("[", 1)[0]).replace("_", "-") for n, o in outcomes.items()
              if o == "failed"}
    assert "error" not in outcomes.values(), output[-4000:]
    if scenario == "healthy-pair":
        assert set(outcomes.values()) == {"passed"}, output[-4000:]
    else:
        assert failed >= DRIFTED, DRIFTED - failed
