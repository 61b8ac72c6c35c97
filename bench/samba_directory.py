"""The lab's Samba directory (issue 14 point 3): cache build, and each start's phases, for one scenario.

    sudo .venv/bin/python bench/samba_directory.py [--scenario healthy-pair] [--repeats 3] [--rebuild]

Phases of ``SambaDirectory.start()``: copy (the cached DC into the work folder), seed (samba_seed.py on the
stopped DC: OUs, accounts, ACEs, users, keytab), samba (process start until the rootDSE answers); then
``stop()``. ``--rebuild`` first builds a cache in a scratch folder (provision + base seed + one start/stop).
Needs root and Debian's samba packages. Prints one row per start; figures vary with the machine's load.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from entra_standby.lab import Lab, samba_dc, samba_directory  # noqa: E402
from entra_standby.lab.directory_model import DirectoryModel, directory_model  # noqa: E402
from entra_standby.lab.samba_directory import SambaDirectory, ensure_cache  # noqa: E402

PHASES: dict[str, list[float]] = defaultdict(list)


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PHASES[name].append(time.perf_counter() - t0)

    return wrapper


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="healthy-pair")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true",
                        help="build a fresh cache in a scratch folder first")
    args = parser.parse_args()
    why = samba_dc.unavailable()
    if why:
        print(f"samba_directory: {why}", file=sys.stderr)
        return 2
    with Lab(ROOT / "fixtures" / "scenarios" / f"{args.scenario}.yml", serve=False) as lab:
        model = directory_model([s.state for s in lab.servers.values()])
    scratch = tempfile.mkdtemp(prefix="samba-bench-")
    try:
        return _bench(args, model, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _bench(args: argparse.Namespace, model: DirectoryModel, scratch: str) -> int:
    if args.rebuild:
        os.environ["ENTRA_STANDBY_SAMBA_CACHE"] = scratch
        t0 = time.perf_counter()
        ensure_cache(model, samba_directory.ADDRESS)
        print(f"cache build: {time.perf_counter() - t0:.1f} s ({model.domain})")
    samba_dc.copy_tree = timed("copy", samba_dc.copy_tree)
    samba_directory._run = timed("seed", samba_directory._run)
    samba_dc.start = timed("samba", samba_dc.start)
    ensure_cache(model, samba_directory.ADDRESS)
    print(f"{'run':>4} {'start s':>8} {'copy':>6} {'seed':>6} {'samba':>6} {'stop s':>7}")
    for run in range(args.repeats):
        directory = SambaDirectory(model, Path(scratch) / f"run{run}")
        t0 = time.perf_counter()
        directory.start()
        started = time.perf_counter() - t0
        t1 = time.perf_counter()
        directory.stop()
        stopped = time.perf_counter() - t1
        print(f"{run:>4} {started:8.2f} {PHASES['copy'][-1]:6.2f} {PHASES['seed'][-1]:6.2f} "
              f"{PHASES['samba'][-1]:6.2f} {stopped:7.2f}")
    print(f"median start {statistics.median(PHASES['samba']) + statistics.median(PHASES['seed']):.2f} s "
          f"(seed + samba); load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
