"""One server as the switching engine sees it: read its state, run an action, journal every call.

Reads are the audit's own probes (``scheduler`` and ``run-history``, in one pipeline) and may be retried;
actions are sent once (``idempotent=False``): a change is never re-sent blindly — after a failed or lost
answer the engine re-reads the server to learn what actually happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ..errors import DrillError, EntraStandbyError, HostError
from ..facts.model import RunHistoryFacts, RunRecord, SchedulerFacts
from ..inventory import ServerEntry
from .records import AuditEntry

__all__ = ["ActionFailedError", "Journal", "ServerOps", "ServerView", "SessionLike"]


class SessionLike(Protocol):
    """What the engine needs of a remoting session (``remoting.HostSession`` provides it)."""

    def run_probes(self, calls: Any) -> dict[str, Any]: ...

    def run_script(self, call: Any, *, idempotent: bool = True) -> list[Any]: ...

    def close(self) -> None: ...


class ActionFailedError(DrillError):
    """An action ran and reported ``ok: false`` (``error_kind`` e.g. Busy, Suspended, Failed)."""

    def __init__(self, host: str, action: str, error_kind: str, message: str) -> None:
        self.host = host
        self.action = action
        self.error_kind = error_kind
        super().__init__(f"{host}: action {action} refused by the server ({error_kind}): {message}")


@dataclass(frozen=True)
class ServerView:
    """One read of a server: its scheduler and its recent runs, taken together."""

    host: str
    scheduler: SchedulerFacts
    runs: RunHistoryFacts
    read_utc: datetime

    @property
    def staged(self) -> bool:
        return self.scheduler.staging_mode_enabled

    @property
    def running(self) -> list[str]:
        """Why the server is not idle (empty when idle): a cycle in progress, busy connectors, open runs."""
        reasons: list[str] = []
        if self.scheduler.sync_cycle_in_progress:
            reasons.append("a sync cycle is in progress")
        if self.runs.busy_connectors:
            reasons.append("busy connectors: " + ", ".join(self.runs.busy_connectors))
        open_runs = [r for r in self.runs.runs if not r.complete]
        if open_runs:
            reasons.append("runs not complete: " + ", ".join(f"{r.connector}/{r.profile}" for r in open_runs))
        return reasons

    def exports_since(self, since: datetime, connectors: frozenset[str] | None) -> list[RunRecord]:
        """Export runs that started at or after ``since`` (on ``connectors`` when given), oldest first."""
        found = [r for r in self.runs.runs
                 if r.profile == "Export" and r.start >= since
                 and (connectors is None or r.connector in connectors)]
        return sorted(found, key=lambda r: r.start)


class Journal:
    """Collects audit entries and reports progress; shared by every ``ServerOps`` of a run."""

    def __init__(self, entries: list[AuditEntry], progress: Callable[[str], None] | None = None) -> None:
        self.entries = entries
        self._progress = progress

    def add(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    def say(self, text: str) -> None:
        if self._progress is not None:
            self._progress(text)


class ServerOps:
    """Reads and actions on one server through one session (opened lazily, reused, reopened after a drop)."""

    def __init__(self, server: ServerEntry, journal: Journal,
                 session_factory: Callable[[ServerEntry], SessionLike]) -> None:
        self.server = server
        self.host = server.host
        self._journal = journal
        self._factory = session_factory
        self._session: SessionLike | None = None
        self.last_view: ServerView | None = None

    def close(self) -> None:
        if self._session is not None:
            try:
                self._session.close()
            finally:
                self._session = None

    def _sessions(self) -> SessionLike:
        if self._session is None:
            self._session = self._factory(self.server)
        return self._session

    # -- reads ----------------------------------------------------------------------------------------------

    def read(self, purpose: str = "read state") -> ServerView:
        """The scheduler and run history in one pipeline; raises ``HostError``/``ProbeError`` on failure."""
        from ..facts.parse import parse_probe_output
        from ..remoting import probe_calls

        t0 = time.monotonic()
        started = datetime.now(UTC)
        try:
            calls = probe_calls(("scheduler", "run-history"), {"run-history": {"NumberRequested": 60}})
            outputs = self._sessions().run_probes(calls)
            values: dict[str, Any] = {}
            for name in ("scheduler", "run-history"):
                out = outputs.get(name)
                if isinstance(out, EntraStandbyError):
                    raise out
                values[name] = parse_probe_output(self.host, name, out)
        except EntraStandbyError as exc:
            self._journal.add(AuditEntry(started, "probe", "scheduler+run-history", self.host,
                                         {"purpose": purpose}, ok=False, result=str(exc),
                                         duration_s=time.monotonic() - t0))
            raise
        view = ServerView(self.host, values["scheduler"], values["run-history"], datetime.now(UTC))
        self.last_view = view
        summary = (f"staging={view.staged} sync_cycle_enabled={view.scheduler.sync_cycle_enabled} "
                   f"in_progress={bool(view.running)}")
        self._journal.add(AuditEntry(started, "probe", "scheduler+run-history", self.host,
                                     {"purpose": purpose}, ok=True, result=summary,
                                     duration_s=time.monotonic() - t0))
        return view

    def read_probe(self, name: str, parameters: Mapping[str, Any] | None = None) -> Any:
        """Any catalogue probe parsed into its fact (e.g. ``password-sync``); raises on failure."""
        from ..facts.parse import parse_probe_output
        from ..remoting import probe_calls

        t0 = time.monotonic()
        started = datetime.now(UTC)
        params = dict(parameters or {})
        try:
            out = self._sessions().run_probes(probe_calls((name,), {name: params}))[name]
            if isinstance(out, EntraStandbyError):
                raise out
            fact = parse_probe_output(self.host, name, out)
        except EntraStandbyError as exc:
            self._journal.add(AuditEntry(started, "probe", name, self.host, params, ok=False, result=str(exc),
                                         duration_s=time.monotonic() - t0))
            raise
        self._journal.add(AuditEntry(started, "probe", name, self.host, params, ok=True, result="read",
                                     duration_s=time.monotonic() - t0))
        return fact

    # -- actions --------------------------------------------------------------------------------------------

    def act(self, action: str, **parameters: Any) -> SchedulerFacts | dict[str, Any]:
        """Run one action script once. Returns the re-read scheduler state (or the action's data for actions
        that return something else); raises ``ActionFailedError`` when the server refused, ``HostError`` when
        the answer was lost (the change may or may not have happened: re-read before deciding anything)."""
        from ..facts.parse import ProbeFailedError, parse_action_output
        from ..probes import load_action
        from ..remoting import ProbeCall

        t0 = time.monotonic()
        started = datetime.now(UTC)
        script = load_action(action)

        def log(ok: bool, result: str) -> None:
            self._journal.add(AuditEntry(started, "action", action, self.host, dict(parameters), ok=ok,
                                         result=result, duration_s=time.monotonic() - t0))

        try:
            output = self._sessions().run_script(ProbeCall(action, script.text, dict(parameters)),
                                                 idempotent=False)
            if len(output) != 1:
                raise HostError(self.host, f"action {action}: expected one JSON document, got {len(output)}")
            raw = output[0] if isinstance(output[0], str) else str(output[0])
            if action in _SCHEDULER_ACTIONS:
                try:
                    result: SchedulerFacts | dict[str, Any] = parse_action_output(self.host, action, raw)
                except ProbeFailedError as failed:
                    raise ActionFailedError(self.host, action, failed.error_kind,
                                            _after_kind(str(failed), failed.error_kind)) from None
            else:
                result = _action_data(self.host, action, raw)
        except EntraStandbyError as exc:
            log(False, str(exc))
            raise
        log(True, _summarise(result))
        return result


_SCHEDULER_ACTIONS = frozenset({"set-staging", "set-sync-cycle", "start-sync-cycle"})


def _after_kind(text: str, kind: str) -> str:
    marker = f"{kind}: "
    return text.split(marker, 1)[1] if marker in text else text


def _action_data(host: str, action: str, raw: str) -> dict[str, Any]:
    """The ``data`` of an action that returns something other than the scheduler (e.g. write-canary)."""
    import json

    try:
        doc = json.loads(raw)
    except ValueError:
        raise HostError(host, f"action {action}: output is not JSON: {raw.strip()[:60]!r}") from None
    if not isinstance(doc, dict) or doc.get("action") != action:
        raise HostError(host, f"action {action}: not an envelope of this action")
    if doc.get("ok") is not True:
        found = doc.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        raise ActionFailedError(host, action, str(error.get("kind", "Failed")),
                                str(error.get("message", "(no message)")))
    data = doc.get("data")
    return data if isinstance(data, dict) else {}


def _summarise(result: SchedulerFacts | dict[str, Any]) -> str:
    if isinstance(result, SchedulerFacts):
        return (f"staging={result.staging_mode_enabled} sync_cycle_enabled={result.sync_cycle_enabled} "
                f"suspended={result.scheduler_suspended}")
    return "ok"
