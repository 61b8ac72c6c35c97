"""Timing goal of the spine: a full audit of the lab pair, its HTTP requests per host and its wall time.

    python bench/gather_lab.py [--rounds 5] [--latency-ms 20] [--separate-process]

In-process (default) the lab's own counters give the requests per host. With ``--separate-process`` the lab
runs in its own process (``entra-standby lab serve``), as a real server would, so the client's and the
server's Python do not share one interpreter; that mode measures wall time only.

Goal: at most 10 HTTP requests per host (authentication included) and, with a 20 ms round trip, well
under a second per run for the whole pair (hosts are gathered in parallel).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from entra_standby.gather import gather
from entra_standby.inventory import inventory_from_dict, load_inventory
from entra_standby.lab import Lab

ROOT = Path(__file__).resolve().parents[1]


def _separate_process(rounds: int, latency_ms: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "bench.yml"
        scenario.write_text(yaml.safe_dump({
            "name": "bench",
            "servers": {name: {"faults": {"latency_ms": latency_ms}} for name in ("aadc01", "aadc02")},
        }))
        inventory_path = Path(tmp) / "inventory.yml"
        server = subprocess.Popen([sys.executable, "-m", "entra_standby.cli", "lab", "serve", str(scenario),
                                   "--write-inventory", str(inventory_path)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            for line in server.stdout:  # serving once it printed how to connect
                if line.startswith("run the checks"):
                    break
            inventory = load_inventory(str(inventory_path))
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                run = gather(inventory)
                times.append(time.perf_counter() - started)
                if any(s.errors for p in run.pairs for s in p.servers):
                    print("gathering had errors")
                    return 1
        finally:
            server.send_signal(signal.SIGTERM)
            tail, _ = server.communicate(timeout=30)
    print(f"separate process: rounds={rounds} latency_ms={latency_ms}")
    print(f"wall time per run: median {statistics.median(times):.3f} s "
          f"(min {min(times):.3f}, max {max(times):.3f})")
    print(tail.strip())
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=0, help="added by the lab to every HTTP answer")
    parser.add_argument("--separate-process", action="store_true", help="run the lab in its own process")
    args = parser.parse_args()
    if args.separate_process:
        return _separate_process(args.rounds, args.latency_ms)
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
