"""The light pair poll: only the facts the alerts need, through the audit's own gather and check logic.

A poll asks each server of one pair for ``WATCH_PROBES`` (staging flag and scheduler, the ADSync service,
the latest runs per connector, pending export counts) in ONE pipeline per host (``gather.gather_host``:
same session, batching, timeouts and error translation as the audit), and the tenant for its last sync
(``gather.gather_pair_cloud``: the cached msal client, so one token per process). Then every registered
check whose ``needs`` these facts cover is evaluated by ``results``: the watch has no check logic of its
own, so a verdict here is the audit's verdict on those checks.

Bounds: every host and the cloud run in their own thread; the poll waits at most ``deadline_s`` for them
and reports a host that has not answered by then as a ``deadline`` error, so one hung host never holds the
pair's metrics longer than that. By default that is the audit's own bound (``default_deadline``): each
host's session ends itself at ``connection.host_timeout`` (remoting.py), and the poll, like ``gather``,
stops waiting ``DEADLINE_GRACE_S`` later. A thread still running then (or under a shorter ``deadline_s``)
goes on in the background (a thread cannot be killed) and keeps the host's slot in the ``HostGate``: the
next poll does not start a second session to that host while the first is still running, it reports the
host as still busy instead.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from ..facts.collection import FactError, HostFacts, PairFacts
from ..facts.model import CloudFacts
from ..gather import DEADLINE_GRACE_S, HostRun, gather_host, gather_pair_cloud
from ..inventory import PairEntry, ServerEntry
from ..results import CheckResult, evaluate_pair
from ..rules import load_all

__all__ = [
    "WATCH_PROBES",
    "HostGate",
    "PairPoll",
    "default_deadline",
    "poll_pair",
    "watched_check_ids",
]

T = TypeVar("T")

WATCH_PROBES: tuple[str, ...] = ("scheduler", "service", "run-history", "pending-exports")
"""The fact domains a poll gathers: what the alerts and the per-server metrics read, nothing heavier (no AD
rights reads, no configuration fingerprint, no OS update history)."""

def watched_check_ids() -> list[str]:
    """Every registered check the poll's facts can decide (its ``needs`` within ``WATCH_PROBES`` + cloud).

    Derived from the registry, not listed: a new check that needs only these facts is watched too.
    """
    covered = {*WATCH_PROBES, "cloud"}
    return sorted(check_id for check_id, spec in load_all().items() if set(spec.needs) <= covered)


def default_deadline(pair: PairEntry) -> float:
    """How long a poll of ``pair`` may take: what ``gather`` waits for the pair's slowest host (its
    ``connection.host_timeout``, which its session enforces itself, plus ``DEADLINE_GRACE_S``), so a poll
    neither cuts a host off sooner than the audit would nor waits longer for one."""
    return max(s.connection.host_timeout for s in pair.servers) + DEADLINE_GRACE_S


class HostGate:
    """Which hosts have a poll in flight; a host is polled by one session at a time, across all pairs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: dict[str, float] = {}  # key -> monotonic start

    def try_enter(self, key: str) -> float | None:
        """Take ``key``'s slot; None when taken, else the start time."""
        with self._lock:
            if key in self._busy:
                return None
            started = self._busy[key] = time.monotonic()
            return started

    def busy_for(self, key: str) -> float | None:
        with self._lock:
            started = self._busy.get(key)
        return None if started is None else time.monotonic() - started

    def leave(self, key: str) -> None:
        with self._lock:
            self._busy.pop(key, None)


@dataclass(frozen=True)
class PairPoll:
    """One poll of one pair: its facts, the watched checks' results and what each host cost."""

    pair: PairFacts
    results: tuple[CheckResult, ...]
    hosts: dict[str, HostRun | None]  # host -> its run (None: no answer within the deadline, or busy)
    started_utc: datetime
    elapsed_s: float
    deadline_s: float
    host_errors: dict[str, FactError] = field(default_factory=dict)  # host -> why it gave no facts
    # host -> display name (the inventory's ``name``); errors keep the address, as the audit's do
    names: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every host answered (with facts or with its own error) within the deadline."""
        return all(run is not None for run in self.hosts.values())


def _in_thread(name: str, fn: Callable[[], T], done: Callable[[], None]) -> concurrent.futures.Future[T]:
    """Run ``fn`` in a daemon thread (a hung host must not keep the process alive at exit)."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        # ``done`` (freeing the host's slot) comes before the result: whoever sees the result may poll again.
        try:
            result = fn()
        except BaseException as exc:  # handed to the waiting poll, which reports it for this host only
            done()
            future.set_exception(exc)
            return
        done()
        future.set_result(result)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def _unavailable(server: ServerEntry, kind: str, message: str) -> tuple[HostFacts, FactError]:
    errors = {d: FactError(d, kind, message) for d in WATCH_PROBES}
    facts = HostFacts(host=server.host, role=server.role, errors=errors, collected_utc=datetime.now(UTC))
    return facts, FactError("*", kind, message)


def poll_pair(pair: PairEntry, *, gate: HostGate, deadline_s: float | None = None,
              session_factory: Callable[[ServerEntry], Any] | None = None,
              probes: Sequence[str] = WATCH_PROBES) -> PairPoll:
    """Poll ``pair`` once; never raises for a host, never waits longer than the deadline."""
    deadline = default_deadline(pair) if deadline_s is None else deadline_s
    started, t0 = datetime.now(UTC), time.monotonic()
    host_futures: dict[str, concurrent.futures.Future[tuple[HostRun, HostFacts]]] = {}
    skipped: dict[str, tuple[HostFacts, FactError]] = {}
    for server in pair.servers:
        if gate.try_enter(server.host) is None:
            busy = gate.busy_for(server.host) or 0.0
            skipped[server.host] = _unavailable(
                server, "deadline", f"{server.host}: the previous poll of this host is still running "
                                    f"({busy:.0f} s): no second session is opened")
            continue
        host_futures[server.host] = _in_thread(
            f"watch-{server.host}",
            lambda s=server: gather_host(pair.name, s, probes, session_factory),  # type: ignore[misc]
            lambda h=server.host: gate.leave(h))  # type: ignore[misc]
    cloud_future: concurrent.futures.Future[tuple[CloudFacts | None, FactError | None]] | None = None
    cloud_key = f"cloud:{pair.name}"
    if pair.cloud_configured and gate.try_enter(cloud_key) is not None:
        cloud_future = _in_thread(f"watch-cloud-{pair.name}", lambda: gather_pair_cloud(pair),
                                  lambda: gate.leave(cloud_key))

    waiting: list[concurrent.futures.Future[Any]] = [*host_futures.values()]
    if cloud_future is not None:
        waiting.append(cloud_future)
    concurrent.futures.wait(waiting, timeout=max(0.0, deadline - (time.monotonic() - t0)))

    servers: list[HostFacts] = []
    runs: dict[str, HostRun | None] = {}
    host_errors: dict[str, FactError] = {}
    for server in pair.servers:
        future = host_futures.get(server.host)
        if future is not None and future.done() and future.exception() is None:
            run, facts = future.result()
            runs[server.host] = run
            if run.host_error is not None:
                host_errors[server.host] = run.host_error
        else:
            if future is None:
                facts, error = skipped[server.host]
            elif future.done():  # gather_host never raises on purpose: a bug, reported for this host only
                exc = future.exception()
                facts, error = _unavailable(server, "remoting", f"{server.host}: poll failed "
                                                                f"({type(exc).__name__}: {exc})")
            else:
                facts, error = _unavailable(
                    server, "deadline", f"{server.host}: no answer within the poll deadline of "
                                        f"{deadline:g} s (it goes on in the background; this host is not "
                                        "polled again until it ends)")
            runs[server.host] = None
            host_errors[server.host] = error
        servers.append(facts)

    cloud: CloudFacts | None = None
    cloud_error: FactError | None = None
    if pair.cloud_configured:
        if cloud_future is None:
            cloud_error = FactError("cloud", "deadline",
                                    f"{pair.name}: the previous cloud read is still running")
        elif cloud_future.done() and cloud_future.exception() is None:
            cloud, cloud_error = cloud_future.result()
        else:
            cloud_error = FactError("cloud", "deadline",
                                    f"{pair.name}: the tenant did not answer within {deadline:g} s")
    pair_facts = PairFacts(name=pair.name, servers=tuple(servers), thresholds=dict(pair.thresholds),
                           cloud=cloud, cloud_error=cloud_error, cloud_configured=pair.cloud_configured,
                           now_utc=started)
    results = tuple(evaluate_pair(pair_facts, watched_check_ids()))
    return PairPoll(pair=pair_facts, results=results, hosts=runs, started_utc=started,
                    elapsed_s=time.monotonic() - t0, deadline_s=deadline, host_errors=host_errors,
                    names={s.host: s.display for s in pair.servers})
