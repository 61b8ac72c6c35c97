"""The drill's own cost (issue 13): total time, time spent waiting on sync cycles, orchestration overhead.

    python bench/drill_overhead.py [--cycle-s 2.0] [--latency-ms 20] [--repeats 3] [--json PATH]

Starts ``entra-standby lab serve`` (one pair and its cloud stand-in) in a process of its own from
``fixtures/scenarios/healthy-pair.yml`` with ``lab.cycle_duration_s`` = ``--cycle-s`` and ``--latency-ms``
injected per request on both servers, then runs the drill (switch and back: ``drill.engine.execute(...,
"drill", ...)``, as the pytest front door does) ``--repeats`` times in this process.

Per direction (failover, failback) it splits the steps the engine recorded:

- cycle waits: the steps that wait for the directory to move: "wait until both servers are idle", "run a
  Delta cycle" (which waits while a cycle is running), "wait for a successful Export", "wait for the canary
  to reach the tenant". They cannot be shorter than the sync cycles they wait on (``--cycle-s`` each in the
  lab); what they take beyond that is polling granularity (``drill.poll_interval``) and reads;
- overhead: every other step of the direction (reading and recording state, suspending and restoring the
  schedule, staging, un-staging with its re-read, cloud proof reads, password checks): what the tool itself
  adds to a switch. Goal: < 5 s per direction.

Also printed: the engine's RTO per direction, the preflight, the hold and the final verify. Medians of
repeats.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_scale import wait_until_serving

from entra_standby.drill.engine import DrillOptions, execute
from entra_standby.drill.records import DrillRecord
from entra_standby.inventory import inventory_from_dict

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "fixtures" / "scenarios" / "healthy-pair.yml"
CYCLE_WAITS = ("wait until", "run a Delta cycle", "wait for a successful Export", "wait for the canary")


@contextmanager
def lab_process(cycle_s: float, latency_ms: int) -> Iterator[tuple[Path, dict[str, Any]]]:
    """One pair served by ``entra-standby lab serve`` in its own process; yields (inventory path, dict)."""
    with tempfile.TemporaryDirectory() as tmp:
        scenario = yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))
        scenario.setdefault("lab", {})["cycle_duration_s"] = cycle_s
        if latency_ms:
            for spec in scenario.setdefault("servers", {}).values():
                spec.setdefault("faults", {})["latency_ms"] = latency_ms
        path = Path(tmp) / SCENARIO.name
        path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
        inventory = Path(tmp) / "inventory.yml"
        server = subprocess.Popen([sys.executable, "-m", "entra_standby.cli", "lab", "serve", str(path),
                                   "--write-inventory", str(inventory)], stdout=subprocess.PIPE, text=True)
        try:
            wait_until_serving(server, "the lab")
            yield inventory, yaml.safe_load(inventory.read_text(encoding="utf-8"))
        finally:
            server.send_signal(signal.SIGTERM)
            server.communicate(timeout=60)


def split(record: DrillRecord) -> dict[str, float]:
    """Seconds per part of one drill record."""
    parts: dict[str, float] = {"preflight": 0.0, "hold": 0.0, "verify": 0.0}
    for step in record.steps:
        if step.phase in ("failover", "failback"):
            kind = "cycle_wait" if step.name.startswith(CYCLE_WAITS) else "overhead"
            parts[f"{step.phase}_{kind}"] = parts.get(f"{step.phase}_{kind}", 0.0) + step.duration_s
            parts[f"{step.phase}_total"] = parts.get(f"{step.phase}_total", 0.0) + step.duration_s
        else:
            parts[step.phase] = parts.get(step.phase, 0.0) + step.duration_s
    for direction, seconds in record.rto_s.items():
        parts[f"{direction}_rto"] = seconds
    return parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycle-s", type=float, default=2.0, help="the lab's sync cycle duration (2.0)")
    parser.add_argument("--latency-ms", type=int, default=20, help="injected per request (20)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    runs: list[dict[str, float]] = []
    outcomes: list[str] = []
    with lab_process(args.cycle_s, args.latency_ms) as (path, raw), tempfile.TemporaryDirectory() as locks:
        inventory = inventory_from_dict(raw, path=path)
        pair = inventory.pairs[0].name
        for _ in range(args.repeats):
            started = time.perf_counter()
            record = execute(inventory, pair, "drill", DrillOptions(ignore_window=True, lock_dir=Path(locks)))
            parts = split(record)
            parts["total"] = time.perf_counter() - started
            runs.append(parts)
            outcomes.append(str(record.outcome))
    keys = sorted({k for r in runs for k in r})
    median = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in keys}
    print(f"drill (switch and back) x{args.repeats}, lab in its own process, cycle {args.cycle_s:g} s, "
          f"{args.latency_ms} ms per request; outcomes: {', '.join(outcomes)}")
    print(f"  total {median['total']:.2f} s (preflight {median['preflight']:.2f}, hold {median['hold']:.2f}, "
          f"verify {median['verify']:.2f})")
    print(f"  {'direction':<9} {'steps s':>8} {'cycle waits s':>14} {'overhead s':>11} {'RTO s':>6}  goal")
    for direction in ("failover", "failback"):
        overhead = median.get(f"{direction}_overhead", 0.0)
        print(f"  {direction:<9} {median.get(f'{direction}_total', 0.0):>8.2f} "
              f"{median.get(f'{direction}_cycle_wait', 0.0):>14.2f} {overhead:>11.2f} "
              f"{median.get(f'{direction}_rto', 0.0):>6.2f}  overhead < 5 s: "
              f"{'met' if overhead < 5 else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "runs": runs,
                                         "median": median, "outcomes": outcomes}, indent=2),
                             encoding="utf-8")
    return 0 if all(o == "passed" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
