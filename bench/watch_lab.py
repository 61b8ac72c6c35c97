"""Timing figures of the watch: what one light pair poll costs against the lab, next to a full audit.

    python bench/watch_lab.py [--rounds 10] [--latency-ms 0]

Per host: HTTP requests of one poll (``poll_pair``: four probes in one pipeline) and of one full audit
(``gather``: ten probes in one pipeline), authentication included, from the lab's own counters; and the
wall time of each for the whole pair (hosts in parallel). Also the cost of one scrape of ``/metrics``
rendering (prometheus_client) and of the Nagios line.

Goal: a poll costs at most the audit's requests per host (issue 15), and well under a second per pair on
loopback, so polling every minute costs the servers next to nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from entra_standby.gather import gather
from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab
from entra_standby.watch import HostGate, PairTracker, poll_pair, view_of
from entra_standby.watch.metrics import WatchCollector, metrics_text, registry_for
from entra_standby.watch.nagios import plugin_output

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def _line(label: str, times: list[float]) -> str:
    return (f"{label}: median {statistics.median(times) * 1000:.0f} ms "
            f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, n={len(times)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--latency-ms", type=int, default=0, help="added by the lab to every HTTP answer")
    args = parser.parse_args()
    with Lab(ROOT / "fixtures" / "scenarios" / "healthy-pair.yml") as lab:
        inventory = inventory_from_dict(lab.inventory_dict(), path=ROOT / "inventory" / "lab.yml")
        pair = inventory.pairs[0]
        for name in lab.servers:
            lab.set_fault(name, latency_ms=args.latency_ms)

        cloud = lab.cloud_server
        assert cloud is not None

        def counted(fn: Callable[[], object]) -> dict[str, int]:
            for server in lab.servers.values():
                server.counters.reset()
            cloud.counters.reset()
            fn()
            counts = {name: s.counters.snapshot()["total"] for name, s in lab.servers.items()}
            return {**counts, "cloud (token + Graph)": cloud.counters.total}

        gate = HostGate()
        first_poll = counted(lambda: poll_pair(pair, gate=gate))  # the first poll also gets the token
        poll_requests = counted(lambda: poll_pair(pair, gate=gate))
        audit_requests = counted(lambda: gather(inventory))
        poll_times = _timed(lambda: poll_pair(pair, gate=gate), args.rounds)
        audit_times = _timed(lambda: gather(inventory), args.rounds)
        poll = poll_pair(pair, gate=gate)
        view = view_of(poll, PairTracker().update(poll.pair))
        registry = registry_for(WatchCollector(lambda: [view], [view.name]))
        render_times = _timed(lambda: metrics_text(registry), 200)
        nagios_times = _timed(lambda: plugin_output([view]), 200)
        size = len(metrics_text(registry))
    print(f"lab healthy-pair, rounds={args.rounds}, latency_ms={args.latency_ms}")
    for name in poll_requests:
        print(f"{name}: {poll_requests[name]} HTTP requests per poll (first poll {first_poll[name]}), "
              f"{audit_requests[name]} per full audit in the same process")
    print(_line("poll of the pair (4 probes/host + cloud)", poll_times))
    print(_line("full audit of the pair (10 probes/host + cloud)", audit_times))
    print(_line("render /metrics", render_times) + f", {size} bytes")
    print(_line("render the Nagios line", nagios_times))
    ok = all(poll_requests[n] <= audit_requests[n] for n in lab.servers)
    print("goal (poll requests <= audit requests per host):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
