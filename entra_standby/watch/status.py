"""What one poll means: the pair's verdict, each server's state, and the transitions that matter, named.

``PairView`` is the read-only picture every output (Prometheus, the Nagios line, the textfile) renders; it
holds no logic of its own beyond reading facts. The verdict is the audit's (``results.readiness`` over the
watched checks' judged results) on the pair's and the standbys' targets: the active's own errors are left
out, because the verdict answers "can the standby take over?", which matters most when the active is down
(its reachability has its own metric and alert). Servers are named by their inventory ``name`` in every
message, the address stays in the ``host`` fields (and in error reasons, as in the audit).

``PairTracker`` remembers just enough between polls to name transitions:

- a server that was staged and is now un-staged while another is un-staged: split brain, critical at once,
  naming both and what to do;
- no un-staged server at all (nobody exports): a warning on the first poll (a switch stages the active
  before it un-stages the standby, so this is briefly expected), critical when the next poll still sees it;
- the previous active coming back un-staged after a failover to the standby: said in those words.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..facts.collection import FactError, HostFacts, PairFacts
from ..facts.model import RunRecord
from ..results import CheckResult, Policy, Readiness, judge, readiness
from .poll import PairPoll

__all__ = ["RUN_KINDS", "Condition", "PairTracker", "PairView", "ServerView", "Verdict", "verdict_of",
           "view_of"]

RUN_KINDS: dict[str, str] = {"import": "import", "sync": "synchroni", "export": "export"}
"""Kind -> lower-case fragment of a run profile name (Full/Delta Import, Full/Delta Synchronization,
Export)."""

STAGE_NOW = ("put it back into staging mode now (Entra Connect wizard > Configure staging mode > enable, "
             "or stop its ADSync service), then confirm Get-ADSyncScheduler shows StagingModeEnabled True")


class Verdict(enum.Enum):
    READY = "ready"
    NOT_READY = "not_ready"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


_VERDICTS = {Readiness.READY: Verdict.READY, Readiness.NOT_READY: Verdict.NOT_READY,
             Readiness.UNKNOWN: Verdict.UNKNOWN}


def verdict_of(pair: PairFacts, results: Iterable[CheckResult],
               names: dict[str, str] | None = None) -> tuple[Verdict, str]:
    """The audit's readiness rule (``results.readiness``, default gate, no waivers) over the watched checks'
    results on the pair and its standbys, and why."""
    roles = {s.host: s.role for s in pair.servers}
    standbys = {s.host for s in pair.standbys}
    policy = Policy(names=names or {})
    judged = [judge(r, policy, roles.get(r.host) if r.host else None)
              for r in results if r.host is None or r.host in standbys]
    verdict, why = readiness(judged)
    return _VERDICTS[verdict], why


@dataclass(frozen=True)
class Condition:
    """A named state of the pair that an operator must act on: ``split_brain``, ``no_exporter``,
    ``returned_active``; severity ``critical`` or ``warning``."""

    name: str
    severity: str
    message: str


@dataclass(frozen=True)
class ServerView:
    host: str  # the inventory's address
    name: str  # its display name (the inventory's ``name``, else the address)
    role: str
    reachable: bool
    staging_enabled: bool | None  # None: unknown this poll
    error: str | None  # why the host gave no facts (unreachable, auth, deadline, ...)
    # (connector, kind) -> end of the newest successful run; None: runs of that kind, none successful
    last_success: dict[tuple[str, str], datetime | None] = field(default_factory=dict)
    pending: dict[tuple[str, str], int] = field(default_factory=dict)  # (connector, adds|updates|deletes)


@dataclass(frozen=True)
class PairView:
    name: str
    verdict: Verdict
    unstaged: int  # servers known to be un-staged (exporting)
    unknown_flags: int  # servers whose staging flag this poll could not read
    servers: tuple[ServerView, ...]
    results: tuple[CheckResult, ...]
    conditions: tuple[Condition, ...]
    tenant_id: str | None
    tenant_last_sync: datetime | None
    tenant_sync_enabled: bool | None
    polled_utc: datetime
    elapsed_s: float
    deadline_s: float
    complete: bool
    verdict_reason: str = ""
    names: dict[str, str] = field(default_factory=dict)  # host -> display name

    def server(self, key: str) -> ServerView:
        """The server with address or display name ``key``."""
        return next(s for s in self.servers if key in (s.host, s.name))

    def present(self, text: str) -> str:
        """``text`` with server addresses replaced by display names (``results.Policy.present``)."""
        return Policy(names=self.names).present(text)


def _last_success(runs: Sequence[RunRecord]) -> dict[tuple[str, str], datetime | None]:
    found: dict[tuple[str, str], datetime | None] = {}
    for run in runs:
        if not run.complete or run.end is None:
            continue
        for kind, fragment in RUN_KINDS.items():
            if fragment not in run.profile.lower():
                continue
            key = (run.connector, kind)
            end = run.end if run.end.tzinfo else run.end.replace(tzinfo=UTC)
            best = found.get(key)
            if run.result.lower() == "success" and (best is None or end > best):
                found[key] = end
            else:
                found.setdefault(key, None)
    return found


def _server_view(server: HostFacts, error: FactError | None, name: str) -> ServerView:
    flag = server.scheduler.staging_mode_enabled if server.has("scheduler") else None
    runs = server.run_history.runs if server.has("run-history") else ()
    pending: dict[tuple[str, str], int] = {}
    if server.has("pending-exports"):
        for row in server.pending_exports.connectors:
            pending.update({(row.connector, "adds"): row.adds, (row.connector, "updates"): row.updates,
                            (row.connector, "deletes"): row.deletes})
    return ServerView(host=server.host, name=name, role=server.role, reachable=error is None,
                      staging_enabled=flag, error=error.message if error else None,
                      last_success=_last_success(runs), pending=pending)


def view_of(poll: PairPoll, conditions: Sequence[Condition] = ()) -> PairView:
    pair = poll.pair
    servers = tuple(_server_view(s, poll.host_errors.get(s.host), poll.names.get(s.host, s.host))
                    for s in pair.servers)
    cloud = pair.cloud
    verdict, why = verdict_of(pair, poll.results, poll.names)
    return PairView(
        name=pair.name, verdict=verdict, verdict_reason=why, names=dict(poll.names),
        unstaged=sum(1 for s in servers if s.staging_enabled is False),
        unknown_flags=sum(1 for s in servers if s.staging_enabled is None),
        servers=servers, results=poll.results, conditions=tuple(conditions),
        tenant_id=cloud.tenant_id if cloud else None,
        tenant_last_sync=cloud.last_sync if cloud else None,
        tenant_sync_enabled=cloud.sync_enabled if cloud else None,
        polled_utc=poll.started_utc, elapsed_s=poll.elapsed_s, deadline_s=poll.deadline_s,
        complete=poll.complete)


def _names(hosts: Iterable[str]) -> str:
    items = sorted(hosts)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class PairTracker:
    """What one pair looked like on earlier polls; ``update`` names the transitions of a new poll.

    State (serialisable with ``to_dict``/``from_dict``, so a cron-run ``check`` can keep it in a file):
    the last known staging flag per host, the host last seen as the only exporter, the last take-over
    (new exporter, previous exporter) and how many polls in a row saw nobody export.
    """

    def __init__(self, *, no_exporter_critical_after: int = 2) -> None:
        """``no_exporter_critical_after``: the poll (counted in a row) on which nobody exporting turns
        critical; 1 for a one-shot check without memory (the monitor's own retries confirm it)."""
        self.no_exporter_critical_after = no_exporter_critical_after
        self.flags: dict[str, bool] = {}
        self.last_exporter: str | None = None
        self.takeover: tuple[str, str] | None = None  # (new exporter, the one it took over from)
        self.no_exporter_polls = 0
        self.no_exporter_since: str | None = None
        self._display: dict[str, str] = {}

    def _d(self, host: str) -> str:
        return self._display.get(host, host)

    def update(self, pair: PairFacts, names: dict[str, str] | None = None) -> list[Condition]:
        """The conditions of a new poll of ``pair``; ``names`` (host -> display name) names the servers in
        the messages (the state stays keyed by address)."""
        self._display = dict(names or {})
        flags = {s.host: (s.scheduler.staging_mode_enabled if s.has("scheduler") else None)
                 for s in pair.servers}
        unstaged = sorted(h for h, staged in flags.items() if staged is False)
        conditions: list[Condition] = []
        if len(unstaged) >= 2:
            conditions.extend(self._split_brain(unstaged))
        if unstaged or any(staged is None for staged in flags.values()):
            self.no_exporter_polls, self.no_exporter_since = 0, None
        else:
            conditions.append(self._no_exporter(pair))
        if len(unstaged) == 1:
            exporter = unstaged[0]
            if self.last_exporter is not None and self.last_exporter != exporter:
                self.takeover = (exporter, self.last_exporter)
            self.last_exporter = exporter
        self.flags.update({h: staged for h, staged in flags.items() if staged is not None})
        return conditions

    def _split_brain(self, unstaged: list[str]) -> list[Condition]:
        found: list[Condition] = []
        if self.takeover is not None and set(self.takeover) <= set(unstaged):
            new, old = self._d(self.takeover[0]), self._d(self.takeover[1])
            found.append(Condition(
                "returned_active", "critical",
                f"{old}, the previous active, came back un-staged after the failover to {new}: both export "
                f"(split brain). On {old}: {STAGE_NOW}; then set the inventory roles ({new} active, {old} "
                "standby)"))
            return [*found, Condition("split_brain", "critical", found[0].message)]
        newly = [h for h in unstaged if self.flags.get(h) is True]
        if newly:
            host = self._d(newly[0])
            others = [self._d(h) for h in unstaged if h != newly[0]]
            message = (f"SPLIT BRAIN: {host} was staged and is now un-staged while {_names(others)} "
                       f"{'exports' if len(others) == 1 else 'export'}: {len(unstaged)} servers write to the "
                       f"tenant. If {host} should not export, {STAGE_NOW}; if it is the intended new active, "
                       f"stage {_names(others)} instead, at once")
        else:
            every = "both" if len(unstaged) == 2 else "all"
            both = _names(self._d(h) for h in unstaged)
            message = (f"SPLIT BRAIN: {both} are {every} un-staged and export at the same time. "
                       "Put every one that should not export into staging mode now (Entra Connect wizard > "
                       "Configure staging mode > enable, or stop its ADSync service)")
        return [Condition("split_brain", "critical", message)]

    def _no_exporter(self, pair: PairFacts) -> Condition:
        self.no_exporter_polls += 1
        if self.no_exporter_since is None:
            self.no_exporter_since = (pair.now_utc or datetime.now(UTC)).isoformat(timespec="seconds")
        servers = _names(self._d(s.host) for s in pair.servers)
        every = "both" if len(pair.servers) == 2 else "all"
        if self.no_exporter_polls < self.no_exporter_critical_after:
            return Condition("no_exporter", "warning",
                             f"nobody exports: {servers} are {every} in staging mode (critical if the next "
                             "poll still sees it; a switch stages the active before it un-stages the "
                             "standby)")
        polls = self.no_exporter_polls
        how_long = (f"have {every} been in staging mode for {polls} polls (since {self.no_exporter_since})"
                    if polls > 1 else f"are {every} in staging mode")
        return Condition("no_exporter", "critical",
                         f"nobody exports: {servers} {how_long}: no change reaches Entra ID. Un-stage "
                         "the server that should export (Entra Connect wizard > Configure staging mode > "
                         "disable, start sync)")

    # --- persistence (the one-shot check's --state-file) ---------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"flags": dict(self.flags), "last_exporter": self.last_exporter,
                "takeover": list(self.takeover) if self.takeover else None,
                "no_exporter_polls": self.no_exporter_polls, "no_exporter_since": self.no_exporter_since}

    @classmethod
    def from_dict(cls, raw: Any) -> PairTracker:
        """A tracker from ``to_dict`` output; anything unreadable starts afresh (it is only memory)."""
        tracker = cls()
        if not isinstance(raw, dict):
            return tracker
        flags = raw.get("flags")
        if isinstance(flags, dict):
            tracker.flags = {str(h): v for h, v in flags.items() if isinstance(v, bool)}
        if isinstance(raw.get("last_exporter"), str):
            tracker.last_exporter = raw["last_exporter"]
        takeover = raw.get("takeover")
        if isinstance(takeover, list) and len(takeover) == 2 and all(isinstance(h, str) for h in takeover):
            tracker.takeover = (takeover[0], takeover[1])
        polls = raw.get("no_exporter_polls")
        if isinstance(polls, int) and not isinstance(polls, bool) and polls >= 0:
            tracker.no_exporter_polls = polls
        if isinstance(raw.get("no_exporter_since"), str):
            tracker.no_exporter_since = raw["no_exporter_since"]
        return tracker
