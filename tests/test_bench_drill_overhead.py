"""Smoke test of bench/drill_overhead.py (issue 13): it runs the drill against a lab in its own process and
splits each direction into cycle waits and overhead. No timing is asserted (figures live in bench/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_drill_overhead_bench_runs_and_accounts_for_every_step(tmp_path: Path) -> None:
    out = tmp_path / "drill.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "drill_overhead.py"), "--repeats", "1", "--cycle-s", "0.2",
         "--latency-ms", "0", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["outcomes"] == ["passed"]
    run = figures["runs"][0]
    for direction in ("failover", "failback"):
        parts = (run[f"{direction}_cycle_wait"], run[f"{direction}_overhead"])
        assert all(p > 0 for p in parts), run  # both kinds of step exist in each direction
        assert abs(sum(parts) - run[f"{direction}_total"]) < 1e-6
        assert f"{direction} " in done.stdout
    steps = sum(v for k, v in run.items() if k.endswith("_total") or k in ("preflight", "hold", "verify"))
    assert steps <= run["total"]  # the split never counts a step twice
