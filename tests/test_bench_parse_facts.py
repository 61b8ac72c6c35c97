"""Smoke test of bench/parse_facts.py (issue 13): it parses every saved host's probe outputs, in this process
and in a --before-tree worker, and prints a row per probe. No timing is asserted (figures live in bench/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_parse_facts_bench_runs_both_trees_and_prints_every_probe() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "parse_facts.py"), "--repeats", "1",
         "--before-tree", str(REPO)],
        cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"before-tree: {REPO / 'entra_standby'}" in done.stdout
    probes = [line.split()[1] for line in lines if line.strip().startswith("probe ")]
    assert len(probes) == 12 and "run-history" in probes and "password-sync" in probes
    total = next(line for line in lines if line.startswith("ms per host, all evidence hosts"))
    this, before, ratio = total.split()[-3:]
    assert float(this) > 0 and float(before) > 0 and ratio.endswith("x")
