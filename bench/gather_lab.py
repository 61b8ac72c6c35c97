"""Timing goal of the spine: a full audit of the lab pair, its HTTP requests per host and its wall time.

    python bench/gather_lab.py [--rounds 5] [--latency-ms 20]

Goal: at most 10 HTTP requests per host (authentication included) and, with a 20 ms round trip, well
under a second per run for the whole pair (hosts are gathered in parallel).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from entra_standby.gather import gather
from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=0, help="added by the lab to every HTTP answer")
    args = parser.parse_args()
    with Lab(ROOT / "fixtures" / "scenarios" / "healthy-pair.yml") as lab:
        inventory = inventory_from_dict(lab.inventory_dict(), path=ROOT / "inventory" / "lab.yml")
        for name in lab.servers:
            lab.set_fault(name, latency_ms=args.latency_ms)
        times: list[float] = []
        requests: dict[str, list[int]] = {name: [] for name in lab.servers}
        for _ in range(args.rounds):
            for server in lab.servers.values():
                server.counters.reset()
            started = time.perf_counter()
            run = gather(inventory)
            times.append(time.perf_counter() - started)
            errors = [e.message for p in run.pairs for s in p.servers for e in s.errors.values()]
            if errors:
                print(f"gathering had errors: {errors[:3]}")
                return 1
            for name, server in lab.servers.items():
                requests[name].append(server.counters.snapshot()["total"])
    print(f"rounds={args.rounds} latency_ms={args.latency_ms}")
    print(f"wall time per run: median {statistics.median(times):.3f} s "
          f"(min {min(times):.3f}, max {max(times):.3f})")
    for name, counts in requests.items():
        print(f"{name}: {max(counts)} HTTP requests per full audit (goal <= 10)")
    return 0 if all(max(c) <= 10 for c in requests.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
