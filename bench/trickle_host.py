"""Issue 12 item 1: the dripping host. Wall time of a full audit of the lab pair when its standby answers
one byte every ``--interval`` seconds (TLS end to end, through tests/trickle.py), and whether the healthy
active still gets every fact.

    python bench/trickle_host.py [--repeats 5] [--interval 0.3] [--host-timeout 10] [--after-bytes 6000]
                                 [--scheme http|https]
    python bench/trickle_host.py --limit 90 --code /work/main     # the same audit on another checkout

Each repeat runs in a child process (``--code`` puts that checkout first on ``sys.path``) killed after
``--limit`` seconds, so the code before the fix, which never returns, is measured as "killed at the limit,
no verdict". Prints one line per repeat and the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import copy, json, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from trickle import TrickleProxy
from entra_standby.gather import gather
from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab
interval, after, host_timeout = float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
with Lab(sys.argv[6]) as lab:
    raw = copy.deepcopy(lab.inventory_dict())
    pair = raw["pairs"][0]
    pair.pop("cloud", None)
    if host_timeout > 0:
        pair["connection"]["host_timeout"] = host_timeout
    standby = next(s for s in pair["servers"] if s["role"] == "standby")
    target = (standby["host"], int(standby["connection"]["port"]))
    if sys.argv[8] == "http":  # plain HTTP (NTLM-encrypted messages): no TLS record deadline in the way
        server = next(v for v in lab.servers.values() if v.address == standby["host"])
        target = (standby["host"], int(server.http_port))
        standby["connection"]["ssl"] = False
    with TrickleProxy(target, listen_host=target[0], interval_s=interval, after_bytes=after) as proxy:
        standby["connection"]["port"] = proxy.port
        inventory = inventory_from_dict(raw, path=sys.argv[7])
        print("START", flush=True)
        t0 = time.monotonic()
        run = gather(inventory)
        elapsed = time.monotonic() - t0
    active, slow = run.pairs[0].servers
    print(json.dumps({"elapsed_s": elapsed, "active_facts": len(active.values),
                      "active_errors": len(active.errors),
                      "standby_kinds": sorted({e.kind for e in slow.errors.values()}),
                      "standby_message": next(iter(slow.errors.values())).message if slow.errors else ""}),
          flush=True)
"""


def one(code: Path, interval: float, after: int, host_timeout: float, limit: float,
        scheme: str) -> dict[str, object]:
    args = [sys.executable, "-c", CHILD, str(code), str(ROOT / "tests"), str(interval), str(after),
            str(host_timeout), str(ROOT / "fixtures" / "scenarios" / "healthy-pair.yml"),
            str(ROOT / "inventory" / "lab.yml"), scheme]
    env = {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    started = None
    try:
        line = proc.stdout.readline()  # START: the lab is up, the audit begins
        started = time.monotonic()
        out, _ = proc.communicate(timeout=limit)
        result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
        return result
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        waited = time.monotonic() - (started or time.monotonic())
        return {"elapsed_s": waited, "killed": True, "active_facts": 0,
                "note": f"no verdict ({line.strip()})"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.3)
    parser.add_argument("--after-bytes", type=int, default=6000)
    parser.add_argument("--host-timeout", type=float, default=10.0,
                        help="connection.host_timeout (0: leave the key out, for code before the fix)")
    parser.add_argument("--limit", type=float, default=120.0, help="kill a repeat after this many seconds")
    parser.add_argument("--scheme", choices=("http", "https"), default="http",
                        help="http: the drip reaches every read (Python's TLS reads carry their own deadline "
                             "per record, which a drip inside one large record trips)")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose entra_standby to run")
    opts = parser.parse_args()
    results = []
    for i in range(opts.repeats):
        result = one(opts.code, opts.interval, opts.after_bytes, opts.host_timeout, opts.limit, opts.scheme)
        results.append(result)
        print(f"repeat {i + 1}: {json.dumps(result)}", flush=True)
    elapsed = [float(str(r["elapsed_s"])) for r in results]
    judged = sum(1 for r in results if r.get("active_facts"))
    killed = sum(1 for r in results if r.get("killed"))
    print(f"median wall time {statistics.median(elapsed):.2f} s (min {min(elapsed):.2f}, "
          f"max {max(elapsed):.2f}); healthy host judged in {judged}/{len(results)} repeats; killed {killed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
