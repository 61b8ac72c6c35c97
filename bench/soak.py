"""Spurious errors under load (issue 13): N consecutive full audits of a fleet, every error counted and named.

    python bench/soak.py [--runs 30] [--pairs 50] [--latency-ms 20] [--processes 1] [--max-parallel N]

The fleet (``lab serve --pairs``, healthy pairs only) runs in its own process(es); this process audits all
pairs ``--runs`` times in a row with ``gather`` (default cap, or ``--max-parallel``). Every pair is healthy,
so ANY host or fact error is spurious: each run prints its wall time and errored hosts, and each distinct
error line is printed once with its count. Exit status 1 if any run had an error.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import re
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_scale import ROOT, fleet

from entra_standby.gather import gather
from entra_standby.inventory import inventory_from_dict


class TimeoutTrace:
    """``--diagnose``: which WS-Man action each read timeout hit and how long it had waited (pypsrp's
    transport wrapped in this process only)."""

    def __init__(self) -> None:
        self.seen: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def __enter__(self) -> TimeoutTrace:
        from pypsrp.wsman import _TransportHTTP

        trace, original = self, _TransportHTTP.send
        self._original = original

        def send(transport: Any, message: bytes, *args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                return original(transport, message, *args, **kwargs)
            except requests.exceptions.Timeout as exc:
                found = _ACTION.search(message)
                action = found.group(1).decode() if found else "?"
                waited = time.monotonic() - started
                with trace._lock:
                    trace.seen[f"{type(exc).__name__} on {action} after {waited:.1f} s"] += 1
                raise

        _TransportHTTP.send = send  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        from pypsrp.wsman import _TransportHTTP

        _TransportHTTP.send = self._original  # type: ignore[method-assign]


_ACTION = re.compile(rb"<(?:\w+:)?Action[^>]*>[^<]*/([A-Za-z]+)</")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--max-parallel", type=int, help="gather's cap (default: its own)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--diagnose", action="store_true",
                        help="name the WS-Man action of every read timeout (wraps pypsrp's transport)")
    args = parser.parse_args()
    trace = TimeoutTrace() if args.diagnose else None
    errors: collections.Counter[str] = collections.Counter()
    runs: list[dict[str, float]] = []
    with fleet(args.pairs, args.latency_ms, args.processes, "http") as raw, \
            (trace if trace is not None else contextlib.nullcontext()):
        inventory = inventory_from_dict({"pairs": raw["pairs"]}, path=ROOT / "fleet.yml",
                                        label="fleet inventory")
        hosts = sum(len(p.servers) for p in inventory.pairs)
        print(f"{args.runs} audits of {args.pairs} pairs ({hosts} hosts), {args.latency_ms} ms per request, "
              f"lab in {args.processes} process(es)")
        for number in range(1, args.runs + 1):
            started = time.perf_counter()
            run = gather(inventory, max_parallel=args.max_parallel)
            wall = time.perf_counter() - started
            errored = 0
            for pair in run.pairs:
                for server in pair.servers:
                    errored += bool(server.errors)
                    for error in server.errors.values():
                        # The host's address varies; the reason is what repeats.
                        errors[error.message.replace(server.host, "<host>")] += 1
            runs.append({"run": number, "wall_s": wall, "errored_hosts": errored})
            print(f"  run {number:>2}: {wall:6.2f} s, errored hosts {errored}", flush=True)
    failed = sum(1 for r in runs if r["errored_hosts"])
    walls = [r["wall_s"] for r in runs]
    print(f"runs with an error: {failed} of {len(runs)}; errored hosts in all: "
          f"{sum(int(r['errored_hosts']) for r in runs)}; wall median {statistics.median(walls):.2f} s, "
          f"max {max(walls):.2f} s")
    for message, count in errors.most_common():
        print(f"  {count:>5} x {message}")
    if trace is not None:
        print("read timeouts by action:" if trace.seen else "read timeouts by action: none")
        for what, count in trace.seen.most_common():
            print(f"  {count:>5} x {what}")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs,
                                         "errors": dict(errors)}, indent=2), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
