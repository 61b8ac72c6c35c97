"""Gather facts for every host of an inventory in parallel: one session per host, all probes batched.

The result, ``RunFacts``, is what checks evaluate and what evidence stores: per pair a ``PairFacts``
(servers' ``HostFacts``, thresholds, the cloud's view), plus each host's raw probe outputs and, for a host
that could not be used at all, its connection-level error. One misbehaving host never stops the others:
its every fact domain becomes a ``FactError`` naming the reason (unreachable, auth, remoting).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .directory.facts import DirectoryFacts
from .errors import EntraStandbyError, HostError
from .facts.collection import FactError, HostFacts, PairFacts
from .facts.model import HOST_DOMAINS, CloudFacts
from .inventory import Inventory, PairEntry, ServerEntry

__all__ = ["HostRun", "RunFacts", "gather", "gather_host", "parse_outputs"]

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


MAX_PARALLEL_HOSTS = 32
"""Hosts (and cloud views) gathered at once. Each costs a thread and a TCP connection for a second or so;
beyond a few dozen, a large estate would only add load on the audit host and the network."""


def gather(inventory: Inventory, *, probes: Sequence[str] | None = None, source: str = "live",
           session_factory: Callable[[ServerEntry], Any] | None = None,
           max_parallel: int = MAX_PARALLEL_HOSTS) -> RunFacts:
    """Gather all hosts (and pairs' cloud views) of ``inventory`` in parallel; never raises for a host."""
    from . import __version__

    started = datetime.now(UTC)
    jobs: list[tuple[PairEntry, ServerEntry]] = [(p, s) for p in inventory.pairs for s in p.servers]
    cloud_pairs = [p for p in inventory.pairs if p.cloud_configured]
    workers = max(1, min(max_parallel, len(jobs) + len(cloud_pairs)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gather") as pool:
        host_futures = {(p.name, s.host): pool.submit(gather_host, p.name, s, probes, session_factory)
                        for p, s in jobs}
        cloud_futures = {p.name: pool.submit(gather_pair_cloud, p) for p in cloud_pairs}
        host_results = {key: f.result() for key, f in host_futures.items()}
        # The directory reads need the servers' facts: which account each AD connector uses, which OUs.
        directory_futures = {p.name: pool.submit(gather_pair_directory, p,
                                                 [host_results[(p.name, s.host)][1] for s in p.servers])
                             for p in inventory.pairs if p.directory is not None}
        cloud_results = {name: f.result() for name, f in cloud_futures.items()}
        directory_results = {name: f.result() for name, f in directory_futures.items()}

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


def gather_host(pair: str, server: ServerEntry, probes: Sequence[str] | None = None,
                session_factory: Callable[[ServerEntry], Any] | None = None) -> tuple[HostRun, HostFacts]:
    """One host: open its session, run every probe in one pipeline, parse; errors become ``FactError``s."""
    from .remoting import HostSession, probe_calls

    t0 = time.monotonic()
    domains = tuple(probes) if probes is not None else HOST_DOMAINS
    factory = session_factory or HostSession
    try:
        calls = probe_calls(domains)
        with factory(server) as session:
            outputs = session.run_probes(calls)
    except EntraStandbyError as exc:  # HostError, or e.g. a probe missing from the catalogue
        kind = exc.kind if isinstance(exc, HostError) else "remoting"
        log.warning("%s", exc)
        errors = {d: FactError(d, kind, str(exc)) for d in domains}
        facts = HostFacts(host=server.host, role=server.role, errors=errors, collected_utc=datetime.now(UTC))
        failed = HostRun(pair, server.host, server.role, host_error=FactError("*", kind, str(exc)),
                         elapsed_s=time.monotonic() - t0)
        return failed, facts

    raw = {domain: out for domain, out in outputs.items() if isinstance(out, str)}
    values, errors = parse_outputs(server.host, domains, outputs)
    facts = HostFacts(host=server.host, role=server.role, values=values, errors=errors,
                      collected_utc=datetime.now(UTC))
    return HostRun(pair, server.host, server.role, raw=raw, elapsed_s=time.monotonic() - t0), facts


def parse_outputs(host: str, domains: Sequence[str],
                  outputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, FactError]]:
    """Parse each probe's raw text; a malformed or failed probe is a ``FactError`` for its domain only."""
    from .facts.parse import parse_probe_output

    values: dict[str, Any] = {}
    errors: dict[str, FactError] = {}
    for domain in domains:
        out = outputs.get(domain)
        if out is None:
            errors[domain] = FactError(domain, "probe", f"{host}: probe {domain}: no output")
        elif isinstance(out, HostError):
            errors[domain] = FactError(domain, out.kind, str(out))
        else:
            try:
                values[domain] = parse_probe_output(host, domain, out)
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
