"""Helpers for the spine's tests: run pytest on checks/ in a subprocess, read its JUnit report."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "fixtures" / "scenarios"


@dataclass
class PytestRun:
    returncode: int
    stdout: str
    stderr: str
    elapsed_s: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_checks(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
               paths: tuple[str, ...] = ("checks/", "--ignore=checks/drills"), cwd: Path = ROOT) -> PytestRun:
    """``python -m pytest checks/ ARGS`` (the audit: the drill's opt-in test aside) from the repository
    root, isolated from the outer pytest run."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "ENTRA_"))}
    full_env.update(env or {})
    cmd = [sys.executable, "-m", "pytest", *paths, "-p", "no:cacheprovider", "-q", *args]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    return PytestRun(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)


@dataclass(frozen=True)
class Case:
    name: str  # testcase name, e.g. test_staging_flag[healthy-pair]
    outcome: str  # passed | failed | error | skipped
    message: str


def junit_cases(path: Path) -> dict[str, Case]:
    """Testcase name -> outcome and message from a pytest JUnit XML file."""
    cases: dict[str, Case] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = (node.get("message") or "") + "\n" + (node.text or "")
                break
        cases[case.get("name", "")] = Case(case.get("name", ""), outcome, message)
    return cases


def lab_inventory_file(tmp_path: Path, scenario: str) -> Path:
    """An inventory that starts the lab of ``fixtures/scenarios/<scenario>.yml`` for the run."""
    path = tmp_path / f"lab-{scenario}.yml"
    path.write_text(f"lab: {SCENARIOS / (scenario + '.yml')}\n", encoding="utf-8")
    return path
