"""Where the LAB's CPU goes while a fleet is audited (issue 13): the fleet in this process under yappi, the
audit in a child process.

    python bench/profile_lab.py [--pairs 50] [--latency-ms 20] [--max-parallel 32] [--top 40]

The lab serves all pairs from this process (as ``lab serve --pairs N`` does with one process); a child
process warms up on one pair, then audits every pair once with ``gather(max_parallel=...)``. Prints the lab's
CPU per audited host, by area and the top functions. yappi is not a project dependency: ``pip install yappi``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_scale import SCENARIO
from profile_audit import need_yappi, profiler_arguments, report

from entra_standby.lab.fleet import Fleet

CHILD = """
import sys, time, yaml
from pathlib import Path
from entra_standby.gather import gather
from entra_standby.inventory import inventory_from_dict
raw = yaml.safe_load(Path(sys.argv[1]).read_text())
first = inventory_from_dict({"pairs": raw["pairs"][:1]}, path=Path(sys.argv[1]))
gather(first)
print("warm", flush=True)
sys.stdin.readline()
every = inventory_from_dict(raw, path=Path(sys.argv[1]))
started = time.perf_counter()
run = gather(every, max_parallel=int(sys.argv[2]))
errored = sum(1 for p in run.pairs for s in p.servers if s.errors)
print(f"audit: {time.perf_counter() - started:.2f} s, errored hosts {errored}", flush=True)
"""


def main() -> int:
    yappi = need_yappi()
    parser = profiler_arguments(__doc__)
    parser.add_argument("--max-parallel", type=int, default=32)
    args = parser.parse_args()
    with Fleet(SCENARIO, pairs=args.pairs, latency_ms=args.latency_ms, transport="http") as fleet, \
            tempfile.TemporaryDirectory() as tmp:
        inventory = Path(tmp) / "fleet.yml"
        inventory.write_text(yaml.safe_dump(fleet.inventory_dict()), encoding="utf-8")
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(inventory), str(args.max_parallel)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert child.stdin is not None and child.stdout is not None
        child.stdout.readline()
        yappi.set_clock_type("cpu")
        yappi.start(builtins=args.builtins, profile_threads=True)
        cpu = time.process_time()
        child.stdin.write("go\n")
        child.stdin.flush()
        print(child.stdout.readline().strip())
        yappi.stop()
        cpu = time.process_time() - cpu
        child.wait(60)
    hosts = 2 * args.pairs
    print(f"lab process CPU {cpu:.2f} s = {1000 * cpu / hosts:.1f} ms per audited host (profiler included)")
    rows: list[Any] = list(yappi.get_func_stats())
    report(rows, hosts, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
