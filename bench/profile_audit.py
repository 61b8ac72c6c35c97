"""Where the client's CPU goes in a fleet audit (issue 13): ``gather`` under yappi, every thread, CPU clock.

    python bench/profile_audit.py [--pairs 50] [--latency-ms 20] [--processes 1] [--top 40] [--pstats PATH]

The fleet runs in its own process (``audit_scale.fleet``, the public CLI); this process warms up on one
pair, then profiles one audit of ``--pairs`` pairs with yappi's CPU clock across all threads. yappi is not
a dependency of the project: ``pip install yappi`` into your own environment first.

Prints the top functions by own CPU time (tsub) and by inclusive time (ttot), and a coarse split by area
(package of the function's file), per audited host.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_scale import ROOT, fleet

from entra_standby.gather import gather
from entra_standby.inventory import inventory_from_dict

_AREAS = (("/entra_standby/", "entra_standby"), ("/pypsrp/", "pypsrp"), ("/spnego/", "spnego (NTLM)"),
          ("/cryptography/", "cryptography"), ("/requests/", "requests"), ("/urllib3/", "urllib3"),
          ("/xml/", "xml (stdlib)"), ("/http/", "http (stdlib)"), ("/email/", "email (stdlib)"),
          ("/threading.py", "threading"), ("/socket.py", "socket"), ("/ssl.py", "ssl"),
          ("/json/", "json"), ("/urllib/", "urllib (stdlib)"), ("/typing.py", "typing"),
          ("/tenacity/", "tenacity"), ("/re/", "re"))


def area(path: str) -> str:
    for needle, name in _AREAS:
        if needle in path:
            return name
    return "other" if path not in ("", "..") else "builtins"


def report(rows: list[Any], hosts: int, top: int) -> None:
    """Own CPU by area, then the top functions by own and by inclusive CPU, per audited host."""
    by_area: dict[str, float] = defaultdict(float)
    for row in rows:
        by_area[area(row.module)] += row.tsub
    total = sum(by_area.values()) or 1.0
    print("\nown CPU by area (ms/host, share):")
    for name, value in sorted(by_area.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<16} {1000 * value / hosts:8.2f}  {100 * value / total:5.1f}%")
    for key, label in (("tsub", "own"), ("ttot", "inclusive")):
        print(f"\ntop {top} by {label} CPU (ms/host, calls/host):")
        for row in sorted(rows, key=lambda r: -getattr(r, key))[:top]:
            where = f"{Path(row.module).parent.name}/{Path(row.module).name}:{row.lineno}"
            ms = 1000 * getattr(row, key) / hosts
            print(f"  {ms:8.2f} {row.ncall / hosts:8.1f}  {row.name}  [{where}]")


def need_yappi() -> Any:
    """yappi, or one line saying how to get it (it is not a project dependency)."""
    try:
        import yappi  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise SystemExit("this script needs yappi: pip install yappi (into your own environment)") from None
    return yappi


def profiler_arguments(doc: str | None) -> argparse.ArgumentParser:
    """The options both profilers take: the fleet's size and latency, how many rows, C functions or not."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--builtins", action="store_true", help="also profile C functions (slower)")
    return parser


def main() -> int:
    yappi = need_yappi()
    parser = profiler_arguments(__doc__)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--pstats", type=Path, help="also save the profile (pstats format) here")
    args = parser.parse_args()
    with fleet(args.pairs, args.latency_ms, args.processes, "http") as raw:
        warm = inventory_from_dict({"pairs": raw["pairs"][:1]}, path=ROOT / "fleet.yml", label="fleet")
        gather(warm)
        inventory = inventory_from_dict({"pairs": raw["pairs"][:args.pairs]}, path=ROOT / "fleet.yml",
                                        label="fleet")
        hosts = sum(len(p.servers) for p in inventory.pairs)
        yappi.set_clock_type("cpu")
        cpu, wall = time.process_time(), time.perf_counter()
        yappi.start(builtins=args.builtins, profile_threads=True)
        run = gather(inventory)
        yappi.stop()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    errored = sum(1 for p in run.pairs for s in p.servers if s.errors)
    stats = yappi.get_func_stats()
    print(f"{hosts} hosts, wall {wall:.2f} s, process CPU {cpu:.2f} s ({1000 * cpu / hosts:.1f} ms/host, "
          f"profiler included), errored hosts {errored}")
    report(list(stats), hosts, args.top)
    if args.pstats:
        stats.save(str(args.pstats), type="pstat")
    return 0


if __name__ == "__main__":
    sys.exit(main())
