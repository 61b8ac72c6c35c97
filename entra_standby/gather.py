"""Gather facts for every host of an inventory in parallel: one session per host, all probes batched.

The result, ``RunFacts``, is what checks evaluate and what evidence stores: per pair a ``PairFacts``
(servers' ``HostFacts``, thresholds, the cloud's view), plus each host's raw probe outputs and, for a host
that could not be used at all, its connection-level error. One misbehaving host never stops the others:
its every fact domain becomes a ``FactError`` naming the reason (unreachable, auth, remoting, deadline).

Deadlines: each host has a total deadline (``connection.host_timeout``) that its session enforces itself
(remoting.py). ``gather`` also stops waiting for a host ``DEADLINE_GRACE_S`` after that deadline and
reports it with the same reason, whatever the host's thread is still doing: the jobs run on daemon threads,
so an abandoned one can neither delay the other hosts' verdicts nor keep the process alive at exit.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .directory.facts import DirectoryFacts
from .errors import EntraStandbyError, HostError
from .facts.collection import FactError, HostFacts, PairFacts
from .facts.model import HOST_DOMAINS, CloudFacts
from .inventory import Inventory, PairEntry, ServerEntry

__all__ = ["HostRun", "RunFacts", "gather", "gather_host", "max_parallel_hosts", "parse_outputs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostRun:
    """What one host gave in this run: raw outputs per probe, and the host-level error if it failed."""

    pair: str
    host: str
    role: str
    raw: dict[str, str] = field(default_factory=dict)
    host_error: FactError | None = None  # unreachable / auth / remoting: nothing could be gathered
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class RunFacts:
    """Everything one run knows: pairs' facts, raw outputs and where they came from."""

    collected_utc: datetime
    pairs: tuple[PairFacts, ...]
    hosts: dict[tuple[str, str], HostRun]  # (pair, host) -> HostRun
    inventory_name: str
    source: str = "live"  # live | lab | replay
    tool_version: str = ""

    def pair(self, name: str) -> PairFacts:
        for p in self.pairs:
            if p.name == name:
                return p
        raise KeyError(name)


MAX_PARALLEL_HOSTS = 128
"""Hosts (and cloud views) gathered at once by default: every host of a 50-pair run is in flight at once.

A host mostly waits on the network (its server runs the probes), so the wall time of a fleet audit falls
with more hosts in flight until the audit host's CPU is busy; a host in flight costs one thread (at most
``max_parallel`` threads exist: jobs beyond it queue without a thread) and one TCP connection. Issue 13
measured 32 vs 100 at 50 pairs in ``bench/README.md``. Override with ``gather(max_parallel=...)`` or the
environment variable ``ENTRA_STANDBY_MAX_PARALLEL`` (1-1024): lower it on a small audit host or a
network that must not see many WinRM sessions at once."""

MAX_PARALLEL_ENV = "ENTRA_STANDBY_MAX_PARALLEL"
_MAX_PARALLEL_LIMIT = 1024


def max_parallel_hosts() -> int:
    """The cap from ``ENTRA_STANDBY_MAX_PARALLEL``, else ``MAX_PARALLEL_HOSTS``; a bad value is one line."""
    raw = os.environ.get(MAX_PARALLEL_ENV, "").strip()
    if not raw:
        return MAX_PARALLEL_HOSTS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= _MAX_PARALLEL_LIMIT:
        raise EntraStandbyError(f"environment variable {MAX_PARALLEL_ENV}={raw!r} is not a whole number "
                                f"from 1 to {_MAX_PARALLEL_LIMIT}",
                                fix=f"set it to how many hosts to gather at once, or unset it "
                                    f"(default {MAX_PARALLEL_HOSTS})")
    return value


DEADLINE_GRACE_S = 2.0
"""How long past a host's own deadline ``gather`` still waits for its thread (it normally ends itself)."""


def gather(inventory: Inventory, *, probes: Sequence[str] | None = None, source: str = "live",
           session_factory: Callable[[ServerEntry], Any] | None = None,
           max_parallel: int | None = None) -> RunFacts:
    """Gather all hosts (and pairs' cloud views) of ``inventory`` in parallel; never raises for a host.

    At most ``max_parallel`` (default: ``max_parallel_hosts()``) hosts are in flight at once."""
    from . import __version__

    if max_parallel is None:
        max_parallel = max_parallel_hosts()
    started = datetime.now(UTC)
    jobs: list[tuple[PairEntry, ServerEntry]] = [(p, s) for p in inventory.pairs for s in p.servers]
    cloud_pairs = [p for p in inventory.pairs if p.cloud_configured]
    workers = max(1, min(max_parallel, len(jobs) + len(cloud_pairs)))
    runner = _BoundedRunner(workers)
    host_jobs = {(p.name, s.host): runner.submit(
        functools.partial(gather_host, p.name, s, probes, session_factory),
        s.connection.host_timeout + DEADLINE_GRACE_S) for p, s in jobs}
    cloud_jobs = {p.name: runner.submit(functools.partial(gather_pair_cloud, p), _cloud_limit(p))
                  for p in cloud_pairs}
    runner.wait()
    host_results: dict[tuple[str, str], tuple[HostRun, HostFacts]] = {}
    for (pair_name, host), job in host_jobs.items():
        server = next(s for p, s in jobs if p.name == pair_name and s.host == host)
        host_results[(pair_name, host)] = (job.result if job.finished
                                           else _late_host(pair_name, server, probes, job.limit_s))
    cloud_results: dict[str, tuple[CloudFacts | None, FactError | None]] = {}
    for name, job in cloud_jobs.items():
        cloud_results[name] = job.result if job.finished else (None, FactError(
            "cloud", "deadline", f"cloud view of pair {name} did not finish within {job.limit_s:g} s"))
    # The directory reads need the servers' facts (which account each AD connector uses, which OUs), so they
    # start once the hosts are done; each is bounded like a host.
    directory_runner = _BoundedRunner(workers)
    directory_jobs = {p.name: directory_runner.submit(
        functools.partial(gather_pair_directory, p, [host_results[(p.name, s.host)][1] for s in p.servers]),
        max(s.connection.host_timeout for s in p.servers) + DEADLINE_GRACE_S)
        for p in inventory.pairs if p.directory is not None}
    directory_runner.wait()
    directory_results: dict[str, tuple[DirectoryFacts | None, FactError | None]] = {}
    for name, job in directory_jobs.items():
        directory_results[name] = job.result if job.finished else (None, FactError(
            "directory", "deadline",
            f"directory read of pair {name} did not finish within {job.limit_s:g} s"))

    pairs: list[PairFacts] = []
    for p in inventory.pairs:
        servers = tuple(host_results[(p.name, s.host)][1] for s in p.servers)
        cloud, cloud_error = cloud_results.get(p.name, (None, None))
        directory, directory_error = directory_results.get(p.name, (None, None))
        pairs.append(PairFacts(name=p.name, servers=servers, thresholds=dict(p.thresholds), cloud=cloud,
                               cloud_error=cloud_error, cloud_configured=p.cloud_configured, now_utc=started,
                               directory=directory, directory_error=directory_error,
                               directory_configured=p.directory is not None))
    return RunFacts(collected_utc=started, pairs=tuple(pairs),
                    hosts={key: result[0] for key, result in host_results.items()},
                    inventory_name=inventory.name, source=source, tool_version=__version__)


def _cloud_limit(pair: PairEntry) -> float:
    # The cloud view of a pair gets the same total deadline as the pair's hosts: a Graph endpoint that
    # trickles must not hold the run longer than a host could.
    return max(s.connection.host_timeout for s in pair.servers) + DEADLINE_GRACE_S


def _late_host(pair: str, server: ServerEntry, probes: Sequence[str] | None,
               waited_s: float) -> tuple[HostRun, HostFacts]:
    from .remoting import deadline_error

    exc = deadline_error(server.host, server.connection.host_timeout)
    log.warning("%s", exc)
    return _failed_host(pair, server, tuple(probes) if probes is not None else HOST_DOMAINS, exc, waited_s)


def _failed_host(pair: str, server: ServerEntry, domains: Sequence[str], exc: EntraStandbyError,
                 elapsed_s: float) -> tuple[HostRun, HostFacts]:
    kind = exc.kind if isinstance(exc, HostError) else "remoting"
    errors = {d: FactError(d, kind, str(exc)) for d in domains}
    facts = HostFacts(host=server.host, role=server.role, errors=errors, collected_utc=datetime.now(UTC))
    failed = HostRun(pair, server.host, server.role, host_error=FactError("*", kind, str(exc)),
                     elapsed_s=elapsed_s)
    return failed, facts


class _Job:
    """One unit of work on its own daemon thread; ``limit_s`` counts from when it got a worker slot."""

    def __init__(self, fn: Callable[[], Any], limit_s: float) -> None:
        self.fn = fn
        self.limit_s = limit_s
        self.started: float | None = None
        self.finished = False
        self.result: Any = None
        self.error: BaseException | None = None


class _BoundedRunner:
    """At most ``workers`` jobs at once, each on a daemon thread; ``wait`` returns once every job finished
    or passed its limit (the late ones are left behind and reported by the caller).

    Threads are bounded too: a worker thread is started only while fewer than ``workers`` exist, and each
    runs queued jobs until none is left, so a thousand hosts never mean a thousand threads."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._threads = 0
        self._queue: collections.deque[_Job] = collections.deque()
        self._changed = threading.Condition()
        self._jobs: list[_Job] = []

    def submit(self, fn: Callable[[], Any], limit_s: float) -> _Job:
        job = _Job(fn, limit_s)
        with self._changed:
            self._jobs.append(job)
            self._queue.append(job)
            if self._threads >= self._workers:
                return job
            self._threads += 1
        threading.Thread(target=self._work, name="gather", daemon=True).start()
        return job

    def _work(self) -> None:
        while True:
            with self._changed:
                if not self._queue:
                    self._threads -= 1
                    return
                job = self._queue.popleft()
                job.started = time.monotonic()
                self._changed.notify_all()
            try:
                job.result = job.fn()
            except BaseException as exc:  # gather_host never raises; anything else is a bug to report
                job.error = exc
            with self._changed:
                job.finished = True
                self._changed.notify_all()

    def wait(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                open_jobs = [j for j in self._jobs if not j.finished
                             and (j.started is None or now - j.started < j.limit_s)]
                if not open_jobs:
                    break
                running = [j.started + j.limit_s - now for j in open_jobs if j.started is not None]
                self._changed.wait(min(running, default=1.0))
        for job in self._jobs:
            if job.error is not None:
                raise job.error


def gather_host(pair: str, server: ServerEntry, probes: Sequence[str] | None = None,
                session_factory: Callable[[ServerEntry], Any] | None = None) -> tuple[HostRun, HostFacts]:
    """One host: open its session, run every probe in one pipeline, parse; errors become ``FactError``s."""
    from .remoting import HostSession, probe_calls

    t0 = time.monotonic()
    domains = tuple(probes) if probes is not None else HOST_DOMAINS
    factory = session_factory or functools.partial(HostSession, deadline_s=server.connection.host_timeout)
    try:
        calls = probe_calls(domains)
        with factory(server) as session:
            outputs = session.run_probes(calls)
    except EntraStandbyError as exc:  # HostError, or e.g. a probe missing from the catalogue
        log.warning("%s", exc)
        return _failed_host(pair, server, domains, exc, time.monotonic() - t0)

    raw = {domain: out for domain, out in outputs.items() if isinstance(out, str)}
    values, errors = parse_outputs(server.host, domains, outputs)
    facts = HostFacts(host=server.host, role=server.role, values=values, errors=errors,
                      collected_utc=datetime.now(UTC))
    return HostRun(pair, server.host, server.role, raw=raw, elapsed_s=time.monotonic() - t0), facts


def parse_outputs(host: str, domains: Sequence[str],
                  outputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, FactError]]:
    """Parse each probe's raw text; a malformed or failed probe is a ``FactError`` for its domain only.

    A key twice in one JSON object is an error (``json`` keeps the last silently, so
    ``staging_mode_enabled: true, false`` would read as false): ``parse_probe_text`` checks that in the one
    pass that decodes the text."""
    from .facts.parse import _duplicate_json_key, parse_probe_output, parse_probe_text

    values: dict[str, Any] = {}
    errors: dict[str, FactError] = {}
    for domain in domains:
        out = outputs.get(domain)
        if out is None:
            errors[domain] = FactError(domain, "probe", f"{host}: probe {domain}: no output")
            continue
        if isinstance(out, HostError):
            errors[domain] = FactError(domain, out.kind, str(out))
            continue
        parse: Callable[[str, str, Any], Any] = parse_probe_text
        if not isinstance(out, str):  # not what a session returns: read as it always was
            try:
                duplicate = _duplicate_json_key(out)
            except TypeError:  # not text at all (json refuses it): the parser below says what it is
                duplicate = None
            if duplicate is not None:
                message = f"{host}: probe {domain}: the JSON output has the key '{duplicate}' twice"
                errors[domain] = FactError(domain, "probe", f"{message} (which one is true?)")
                continue
            parse = parse_probe_output
        try:
            values[domain] = parse(host, domain, out)
        except EntraStandbyError as exc:
            errors[domain] = FactError(domain, getattr(exc, "kind", "probe"), str(exc))
        except Exception as exc:  # a parser bug must not take the other domains down
            errors[domain] = FactError(domain, "probe",
                                       f"{host}: probe {domain}: output could not be parsed "
                                       f"({type(exc).__name__}: {exc})")
    return values, errors


def gather_pair_directory(pair: PairEntry,
                          servers: Sequence[HostFacts]) -> tuple[DirectoryFacts | None, FactError | None]:
    """The pair's connector accounts read over LDAP (``directory:`` block), or why not. Never raises."""
    from .directory.gather import gather_directory

    if pair.directory is None:
        return None, None
    return gather_directory(pair.directory, servers)


def gather_pair_cloud(pair: PairEntry) -> tuple[CloudFacts | None, FactError | None]:
    """The cloud's view of one pair, or why it is missing. Never raises."""
    from .cloud import gather_cloud

    if pair.cloud is None:
        return None, None
    try:
        return gather_cloud(pair.cloud), None
    except EntraStandbyError as exc:
        return None, FactError("cloud", "cloud", str(exc))
    except Exception as exc:  # one pair's cloud view must never stop the run
        return None, FactError("cloud", "cloud", f"cloud gathering failed ({type(exc).__name__}: {exc})")
