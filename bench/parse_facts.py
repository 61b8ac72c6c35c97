"""Bench the client's fact parsing: probe outputs -> typed facts, per audited host (issue 13).

Plain script (not a test): ``python bench/parse_facts.py [--repeats N] [--before-tree PATH]``. It feeds
every host's raw probe outputs saved in ``fixtures/evidence`` (all scenarios, both hosts: healthy outputs,
failed probes, PS 5.1 shapes) through ``gather.parse_outputs``, the audit's own path (JSON decoding, the
duplicate-key check, the envelope, the typed builder), and prints the CPU time (``time.process_time``) per
host: the median over repeats of one pass over all hosts, the healthy active host alone, and per probe;
and ``fact_to_data`` of the facts (what saving evidence costs per host).

``--before-tree PATH`` runs the same passes with ANOTHER checkout's code (e.g. ``git archive 12d8a8b | tar
-x -C /tmp/before``) in a worker process with that checkout first on ``PYTHONPATH``, interleaved with this
checkout's passes, and prints the ratios. The machine is shared: compare the figures of one run.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVIDENCE = ROOT / "fixtures" / "evidence"
HEALTHY = "healthy-pair/healthy-pair/127.0.0.11.json"


def load_hosts(evidence: Path) -> list[tuple[str, str, dict[str, str]]]:
    """(file relative to ``evidence``, host, raw outputs) of every saved host that has raw outputs."""
    hosts = []
    for path in sorted(evidence.rglob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and doc.get("raw"):
            hosts.append((str(path.relative_to(evidence)), str(doc["host"]), dict(doc["raw"])))
    return hosts


def one_round(hosts: list[tuple[str, str, dict[str, str]]]) -> dict[str, float]:
    """One pass: ms of CPU for all hosts, for the healthy host, and per probe (summed over hosts)."""
    from entra_standby.facts.parse import fact_to_data
    from entra_standby.gather import parse_outputs

    clock = time.process_time
    result: dict[str, float] = {}
    started = clock()
    parsed = [parse_outputs(host, list(raw), raw)[0] for _, host, raw in hosts]
    result["all"] = (clock() - started) * 1000
    started = clock()
    for values in parsed:
        for fact in values.values():
            fact_to_data(fact)
    result["to_data"] = (clock() - started) * 1000
    healthy = next(raw for name, _, raw in hosts if name == HEALTHY)
    started = clock()
    for _ in range(10):
        parse_outputs("127.0.0.11", list(healthy), healthy)
    result["healthy"] = (clock() - started) * 100
    for _, host, raw in hosts:
        for domain, out in raw.items():
            started = clock()
            parse_outputs(host, [domain], {domain: out})
            result[f"probe:{domain}"] = result.get(f"probe:{domain}", 0.0) + (clock() - started) * 1000
    return result


def worker(evidence: Path) -> int:
    """``--worker``: one line in (a round to run), one JSON line out."""
    import entra_standby

    hosts = load_hosts(evidence)
    print(json.dumps({"source": str(Path(entra_standby.__file__).parent)}), flush=True)
    for _ in sys.stdin:
        print(json.dumps(one_round(hosts)), flush=True)
    return 0


class TreeWorker:
    """This script in ``--worker`` mode in its own process, importing ``entra_standby`` from ``tree``."""

    def __init__(self, tree: Path, evidence: Path) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]))
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker",
                                         "--evidence", str(evidence)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                        cwd=tree)
        self.source = str(self._read()["source"])

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the --before-tree worker died (exit {self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def round(self) -> dict[str, float]:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        return {k: float(v) for k, v in self._read().items()}

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="passes over all hosts (median; default 15)")
    parser.add_argument("--before-tree", type=Path, help="also run the passes with this checkout's code")
    parser.add_argument("--evidence", type=Path, default=EVIDENCE, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.evidence)
    import entra_standby

    hosts = load_hosts(args.evidence)
    outputs = sum(len(raw) for _, _, raw in hosts)
    tree = TreeWorker(args.before_tree.resolve(), args.evidence.resolve()) if args.before_tree else None
    print(f"{len(hosts)} hosts, {outputs} probe outputs from {args.evidence}; median of {args.repeats} "
          f"passes, CPU ms (time.process_time)")
    print(f"  this tree:   {Path(entra_standby.__file__).parent}")
    if tree is not None:
        print(f"  before-tree: {tree.source}")
    rounds: dict[str, list[dict[str, float]]] = {"this": [], "before": []}
    one_round(hosts)  # warm up: imports, caches, compiled builders
    if tree is not None:
        tree.round()
    for _ in range(args.repeats):
        rounds["this"].append(one_round(hosts))
        if tree is not None:
            rounds["before"].append(tree.round())
    if tree is not None:
        tree.close()

    def median(label: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds[label])

    rows = [("ms per host, all evidence hosts", "all", len(hosts)),
            (f"ms per host, {HEALTHY}", "healthy", 1),
            ("fact_to_data (evidence), ms per host, all hosts", "to_data", len(hosts))]
    rows += [(f"  probe {k.split(':', 1)[1]} (ms per host)", k, len(hosts))
             for k in rounds["this"][0] if k.startswith("probe:")]
    header = f"{'':58} {'this':>9}" + (f" {'before':>9} {'before/this':>12}" if tree else "")
    print(header)
    for title, key, divide in rows:
        this = median("this", key) / divide
        line = f"{title:58} {this:9.3f}"
        if tree is not None:
            before = median("before", key) / divide
            line += f" {before:9.3f} {before / this if this else float('nan'):11.1f}x"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
