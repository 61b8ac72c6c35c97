"""Speed at scale (issue 13): the full audit of 1 pair and of N pairs against a lab fleet in its own process.

    python bench/audit_scale.py [--pairs 1,10,50] [--latency-ms 0,20] [--repeats 3] [--processes 1]
                                [--transport http] [--baseline-pairs 1] [--compare] [--json PATH]

For each latency L, one ``entra-standby lab serve --pairs max(N) --latency-ms L`` is started (in
``--processes`` processes of its own, as real servers would be), and in this process the audit
(``gather``) runs for the first N pairs of its inventory, ``--repeats`` times per N. Per N it prints the
median wall time, HTTP requests and bytes sent per host (counted on the client, at ``requests``' adapter:
body bytes as they go on the wire, after NTLM sealing), client CPU per host (``time.process_time``: every
thread of this process), the client's peak RSS, hosts with errors, and the ratio wall(N)/wall(1).

The baseline is what other tools do: every probe as a fresh ``pypsrp.client.Client.execute_ps`` (a shell
per command), hosts one after another. It is linear in hosts by construction, so it is measured on
``--baseline-pairs`` pairs and its per-host time is scaled to N (said so in the table).

``--before-tree PATH`` also runs every audit with ANOTHER checkout's code (e.g. ``git archive 87d9f77 | tar
-x -C /tmp/before``), client AND lab, interleaved in the same run: a second fleet of the same size served
by that checkout's ``lab serve``, audited by a worker process of this script with that checkout first on
``PYTHONPATH`` (row ``before-tree``; its CPU, requests and bytes are counted in the worker, its peak RSS
printed too). This process's own rows and first fleet use this checkout. Both fleets exist at once but
only one is audited at a time.

``--compare`` also runs every audit with the batch as it was before issue 13 (each probe carrying its own
copy of the helpers, the pipeline built and serialised again for every host: ``legacy_batches()``), in the
same run against the same lab, so before/after are ratios of one run.

The machine is shared (other processes compete for its cores): compare figures measured in ONE run
(ratios), not absolute times across runs.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import requests.adapters
import yaml

from entra_standby.gather import gather
from entra_standby.inventory import inventory_from_dict

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "fixtures" / "scenarios" / "healthy-pair.yml"


class WireCounter:
    """Counts requests and body bytes every ``requests`` adapter sends in this process."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        self._lock = threading.Lock()
        self._original = requests.adapters.HTTPAdapter.send

    def __enter__(self) -> WireCounter:
        counter, original = self, self._original

        def counting_send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            body = request.body or b""
            with counter._lock:
                counter.requests += 1
                counter.bytes += len(body)
            return original(adapter, request, *args, **kwargs)

        requests.adapters.HTTPAdapter.send = counting_send  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        requests.adapters.HTTPAdapter.send = self._original  # type: ignore[method-assign]

    def take(self) -> tuple[int, int]:
        with self._lock:
            taken = (self.requests, self.bytes)
            self.requests = self.bytes = 0
        return taken


def wait_until_serving(server: subprocess.Popen[str], what: str) -> None:
    """Block until ``entra-standby lab serve`` (``server``, stdout piped as text) says it serves; if it exits
    first, stop with one line naming ``what`` and its exit code."""
    assert server.stdout is not None
    for line in server.stdout:
        if line.startswith("run the checks"):
            return
    raise SystemExit(f"{what} did not start (exit {server.wait()})")


@contextmanager
def fleet(pairs: int, latency_ms: int, processes: int, transport: str,
          tree: Path | None = None) -> Iterator[dict[str, Any]]:
    """A fleet in its own process(es), through the public CLI (of checkout ``tree`` if given); yields its
    inventory as a dict."""
    with tempfile.TemporaryDirectory() as tmp:
        inventory = Path(tmp) / "fleet.yml"
        command = [sys.executable, "-m", "entra_standby.cli", "lab", "serve", str(SCENARIO),
                   "--pairs", str(pairs), "--processes", str(processes), "--latency-ms", str(latency_ms),
                   "--transport", transport, "--write-inventory", str(inventory)]
        env = None if tree is None else dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(tree), os.environ.get("PYTHONPATH", "")]))
        server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env,
                                  cwd=None if tree is None else tree)
        try:
            wait_until_serving(server, "the fleet")
            raw = yaml.safe_load(inventory.read_text(encoding="utf-8"))
            raw["lab_pid"] = server.pid  # for lab_cpu_s; audits only pass "pairs" on
            yield raw
        finally:
            server.send_signal(signal.SIGTERM)
            tail, _ = server.communicate(timeout=60)
            served = [line.strip() for line in tail.splitlines() if "requests served" in line]
            if served:
                print(f"    lab: {served[-1]}")


@contextmanager
def legacy_batches(enabled: bool = True) -> Iterator[None]:
    """``HostSession._run_batch`` as it was at 979a50d: every probe whole, added with add_script /
    add_parameters / add_statement and serialised by pypsrp for each host."""
    from pypsrp.powershell import PowerShell

    from entra_standby import remoting

    if not enabled:
        yield
        return

    def run_batch(self: Any, calls: Any) -> Any:
        ps = PowerShell(self._ensure_pool())
        for call in calls:
            remoting._add_script(ps, call)
            ps.add_statement()
        outcome = remoting.drive_pipeline(remoting._PypsrpPipeline(ps), self.settings.probe_timeout)
        if outcome.overrun is None and (outcome.had_errors or len(outcome.outputs) != len(calls)):
            return remoting._BatchOutcome(outcome.outputs, outcome.had_errors, complete=False)
        return outcome

    original = remoting.HostSession._run_batch
    remoting.HostSession._run_batch = run_batch  # type: ignore[method-assign]
    try:
        yield
    finally:
        remoting.HostSession._run_batch = original  # type: ignore[method-assign]


def lab_cpu_s(pid: int | None) -> float:
    """CPU seconds used so far by the lab process ``pid`` and its live descendants (Linux /proc)."""
    if pid is None:
        return 0.0
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def with_lab_cpu(pid: int | None, hosts: int, run: Any) -> dict[str, float]:
    """``run()``'s figures plus the lab's CPU per host while it ran."""
    before = lab_cpu_s(pid)
    row: dict[str, float] = run()
    row["lab_cpu_ms_per_host"] = 1000 * (lab_cpu_s(pid) - before) / hosts
    return row


def cpu_floor_s(row: dict[str, float]) -> float:
    """The least wall time this machine's CPU allows for ``row``'s audit: the client's CPU runs on one core
    at a time (one process, the GIL); the client's and the lab's CPU together share every core."""
    client = row["cpu_ms_per_host"] * row["hosts"] / 1000
    lab = row["lab_cpu_ms_per_host"] * row["hosts"] / 1000
    return max(client, (client + lab) / (os.cpu_count() or 1))


def explain(row: dict[str, float], single_wall_s: float) -> str:
    """Why N/1 is what it is: the CPU floor's share, and a MODEL of the client alone (a real fleet's servers
    bring their own CPU, so only the client's stays on the runner): max(one pair's wall, client CPU)."""
    client = row["cpu_ms_per_host"] * row["hosts"] / 1000
    alone = max(single_wall_s, client) / single_wall_s
    return (f"      N/1 {row['wall_s'] / single_wall_s:.1f}x measured; the CPU floor alone is "
            f"{row['floor_s'] / single_wall_s:.1f}x ({client:.2f} s client CPU on one GIL, "
            f"{row['lab_cpu_ms_per_host'] * row['hosts'] / 1000:.2f} s lab CPU, {os.cpu_count()} cores); "
            f"model of the client alone: {alone:.1f}x")


def audit(inventory: dict[str, Any], counter: WireCounter) -> dict[str, float]:
    parsed = inventory_from_dict(inventory, path=ROOT / "fleet.yml", label="fleet inventory")
    hosts = sum(len(p.servers) for p in parsed.pairs)
    counter.take()
    cpu, wall = time.process_time(), time.perf_counter()
    run = gather(parsed)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sent_requests, sent_bytes = counter.take()
    errored = sum(1 for p in run.pairs for s in p.servers if s.errors)
    return {"wall_s": wall, "cpu_ms_per_host": 1000 * cpu / hosts, "requests_per_host": sent_requests / hosts,
            "kb_per_host": sent_bytes / hosts / 1024, "errored_hosts": errored, "hosts": hosts}


class TreeWorker:
    """This script in ``--worker`` mode in its own process, importing ``entra_standby`` from ``tree``."""

    def __init__(self, tree: Path) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]))
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                        cwd=tree)
        self.source = self._ask({"hello": True})["source"]

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the --before-tree worker died (exit {self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def audit(self, inventory: dict[str, Any]) -> dict[str, float]:
        return self._ask({"inventory": inventory})

    def close(self) -> float:
        rss = float(self._ask({"rss": True})["rss_mb"])
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(60)
        return rss


def worker() -> int:
    """``--worker``: one JSON request per line on stdin, one JSON answer per line on stdout."""
    import entra_standby

    with WireCounter() as counter:
        for line in sys.stdin:
            request = json.loads(line)
            if request.get("hello"):
                answer: dict[str, Any] = {"source": str(Path(entra_standby.__file__).parent)}
            elif request.get("rss"):
                answer = {"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
            else:
                answer = audit(request["inventory"], counter)
            print(json.dumps(answer), flush=True)
    return 0


def baseline(inventory: dict[str, Any], counter: WireCounter) -> dict[str, float]:
    """Every probe as its own ``Client.execute_ps`` (a shell per command), hosts one after another."""
    from pypsrp.client import Client

    from entra_standby.remoting import probe_calls

    parsed = inventory_from_dict(inventory, path=ROOT / "fleet.yml", label="fleet inventory")
    calls = probe_calls()
    counter.take()
    cpu, wall, hosts, failed = time.process_time(), time.perf_counter(), 0, 0
    for pair in parsed.pairs:
        for server in pair.servers:
            s = server.connection
            password = s.password.reveal() if s.password is not None else None
            for call in calls:
                client = Client(server.host, port=s.effective_port, username=s.username, password=password,
                                ssl=s.ssl, auth=s.auth, cert_validation=s.cert_validation,
                                encryption=s.message_encryption, connection_timeout=s.connect_timeout,
                                no_proxy=True)
                _out, _streams, had_errors = client.execute_ps(call.text)
                failed += bool(had_errors)
            hosts += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sent_requests, sent_bytes = counter.take()
    return {"wall_s": wall, "cpu_ms_per_host": 1000 * cpu / hosts, "requests_per_host": sent_requests / hosts,
            "kb_per_host": sent_bytes / hosts / 1024, "errored_hosts": failed, "hosts": hosts}


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default="1,10,50")
    parser.add_argument("--latency-ms", default="0,20")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--processes", type=int, default=1, help="lab processes (default 1)")
    parser.add_argument("--transport", choices=("http", "https"), default="http",
                        help="http: NTLM with message encryption (default, as measured in issue 13)")
    parser.add_argument("--baseline-pairs", type=int, default=1, help="pairs the baseline runs on (0: none)")
    parser.add_argument("--compare", action="store_true",
                        help="also run the pre-issue-13 batch (audit-before), interleaved, in the same run")
    parser.add_argument("--before-tree", type=Path,
                        help="also run every audit with this checkout's code (before-tree), interleaved")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker()
    sizes = sorted({int(n) for n in args.pairs.split(",")})
    latencies = [int(x) for x in args.latency_ms.split(",")]
    report: dict[str, Any] = {"pairs": sizes, "repeats": args.repeats, "processes": args.processes,
                              "transport": args.transport, "rows": []}
    header = (f"{'lat':>5} {'run':<14} {'hosts':>5} {'wall s':>8} {'N/1':>6} {'req/host':>8} "
              f"{'KB/host':>8} {'CPU ms/host':>11} {'lab ms/host':>11} {'floor s':>7} {'errors':>6}")
    with WireCounter() as counter:
        for latency in latencies:
            print(f"latency {latency} ms: lab of {max(sizes)} pairs in {args.processes} process(es), "
                  f"{args.transport}, medians of {args.repeats}")
            print(header)
            with fleet(max(sizes), latency, args.processes, args.transport) as inventory, \
                    ExitStack() as stack:
                before_inventory: dict[str, Any] = {}
                if args.before_tree:
                    before_inventory = stack.enter_context(fleet(max(sizes), latency, args.processes,
                                                                 args.transport, args.before_tree))
                tree = TreeWorker(args.before_tree) if args.before_tree else None
                if tree is not None:
                    print(f"    before-tree: entra_standby from {tree.source}, client and lab (a second "
                          "fleet, same size, served by that checkout)")
                    tree.audit({"pairs": before_inventory["pairs"][:1]})  # its warm-up
                audit({"pairs": inventory["pairs"][:1]}, counter)  # warm-up: imports, first handshakes
                singles: dict[str, float] = {}
                labels = ["audit"] + (["audit-before"] if args.compare else []) + (["before-tree"] if tree
                                                                                  else [])
                for n in sizes:
                    sub = {"pairs": inventory["pairs"][:n]}
                    runs: dict[str, list[dict[str, float]]] = {label: [] for label in labels}
                    for _ in range(args.repeats):  # interleaved, so all see the same machine load
                        for label in labels:
                            if label == "before-tree" and tree is not None:
                                before_sub = {"pairs": before_inventory["pairs"][:n]}
                                runs[label].append(with_lab_cpu(before_inventory.get("lab_pid"), 2 * n,
                                                                functools.partial(tree.audit, before_sub)))
                                continue
                            with legacy_batches(label == "audit-before"):
                                runs[label].append(with_lab_cpu(inventory.get("lab_pid"), 2 * n,
                                                                functools.partial(audit, sub, counter)))
                    for label, measured in runs.items():
                        if not measured:
                            continue
                        row = median_of(measured)
                        if n == 1:
                            singles[label] = row["wall_s"]
                        single = singles.get(label)
                        ratio = row["wall_s"] / single if single else float("nan")
                        report["rows"].append({"latency_ms": latency, "run": label, "pairs": n, **row,
                                               "ratio_n_1": ratio})
                        row["floor_s"] = cpu_floor_s(row)
                        print(f"{latency:>3}ms {label:<14} {int(row['hosts']):>5} {row['wall_s']:>8.2f} "
                              f"{ratio:>6.2f} {row['requests_per_host']:>8.1f} {row['kb_per_host']:>8.1f} "
                              f"{row['cpu_ms_per_host']:>11.1f} {row['lab_cpu_ms_per_host']:>11.1f} "
                              f"{row['floor_s']:>7.2f} {int(row['errored_hosts']):>6}")
                        if n == max(sizes) and n > 1 and single:
                            print(explain(row, single))
                if tree is not None:
                    rss = tree.close()
                    report.setdefault("before_tree_peak_rss_mb", {})[str(latency)] = rss
                    print(f"    before-tree worker peak RSS: {rss:.0f} MB")
                if args.baseline_pairs:
                    sub = {"pairs": inventory["pairs"][:args.baseline_pairs]}
                    row = median_of([baseline(sub, counter) for _ in range(max(1, args.repeats))])
                    per_host = row["wall_s"] / row["hosts"]
                    ours = {r["pairs"]: r["wall_s"] for r in report["rows"]
                            if r["latency_ms"] == latency and r["run"] == "audit"}
                    report["rows"].append({"latency_ms": latency, "run": "baseline", **row})
                    print(f"{latency:>3}ms {'baseline':<14} {int(row['hosts']):>5} {row['wall_s']:>8.2f} "
                          f"{'':>6} {row['requests_per_host']:>8.1f} {row['kb_per_host']:>8.1f} "
                          f"{row['cpu_ms_per_host']:>11.1f} {'':>11} {int(row['errored_hosts']):>6}")
                    for n, wall in sorted(ours.items()):
                        scaled = per_host * 2 * n
                        print(f"      baseline/ours at {n} pair(s): {scaled / wall:.1f}x "
                              f"(baseline {per_host:.2f} s/host scaled to {2 * n} hosts = {scaled:.1f} s)")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["client_peak_rss_mb"] = rss_mb
    print(f"client peak RSS: {rss_mb:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
