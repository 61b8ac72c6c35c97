"""Nagios / Icinga plugin output for one or more pairs: exit code, one status line, performance data.

Plugin semantics (Nagios plugin guidelines; Icinga and Checkmk's classic and local checks read the same):
exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; the first line is ``SERVICE STATE - text | perfdata``; with
``verbose`` more lines follow (one per finding or error), which Nagios shows as long output.

- CRITICAL: a critical condition (split brain, nobody exports on two polls, the previous active back
  un-staged), a watched check failing with a high or critical finding, or a server that cannot be reached
  (a monitor must page when the active is down, not shrug).
- WARNING: a check failing with a medium or low finding, or a condition that is still only a warning
  (nobody exports, first poll).
- UNKNOWN: a check could not be evaluated though its host answered (a probe failed), or the poll itself
  failed; also the exit code for bad arguments or inventory (the CLI maps errors to 3).
- OK otherwise.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from datetime import UTC, datetime

from ..results import Outcome
from ..rules import Severity
from .status import PairView

__all__ = ["State", "checkmk_local_output", "plugin_output", "state_of"]


class State(enum.IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


def _problems(view: PairView) -> list[tuple[State, str]]:
    found: list[tuple[State, str]] = []
    for cond in view.conditions:
        if cond.name == "split_brain" and any(c.name == "returned_active" for c in view.conditions):
            continue  # the returned-active message already says it
        found.append((State.CRITICAL if cond.severity == "critical" else State.WARNING, cond.message))
    for server in view.servers:
        if not server.reachable:
            found.append((State.CRITICAL, f"{server.name} ({server.role}) not polled: {server.error}"))
    conditions_said = any(c.name in ("split_brain", "no_exporter") for c in view.conditions)
    for result in view.results:
        if result.outcome is Outcome.FAILED:
            if result.check_id == "staging-flag" and conditions_said:
                continue
            state = State.CRITICAL if result.worst_severity >= Severity.HIGH else State.WARNING
            found.extend((state, view.present(f.message)) for f in result.findings)
        elif result.outcome is Outcome.ERROR:
            unreachable = result.host is not None and not view.server(result.host).reachable
            if not unreachable and not (result.host is None and any(not s.reachable for s in view.servers)):
                target = view.present(result.target)
                found.append((State.UNKNOWN, f"{result.check_id} {target}: {result.reason}"))
    return found


def state_of(view: PairView) -> State:
    problems = _problems(view)
    if any(s is State.CRITICAL for s, _ in problems):
        return State.CRITICAL
    if any(s is State.UNKNOWN for s, _ in problems):
        return State.UNKNOWN
    return State.WARNING if problems else State.OK


def _label(text: str) -> str:
    return "'" + text.replace("'", "_").replace("=", "_") + "'"


def _perfdata(view: PairView, now: datetime) -> list[str]:
    prefix = view.name
    data = [
        f"{_label(prefix + ' unstaged')}={view.unstaged};;1:1;0;{len(view.servers)}",
        f"{_label(prefix + ' reachable')}={sum(s.reachable for s in view.servers)};;;0;{len(view.servers)}",
        f"{_label(prefix + ' poll')}={view.elapsed_s:.3f}s;;{view.deadline_s:g};0;",
    ]
    for server in view.servers:
        for kind in ("import", "sync", "export"):
            moments = [m for (_, k), m in server.last_success.items() if k == kind]
            if not moments:
                continue
            ages = [math.inf if m is None else (now - m).total_seconds() for m in moments]
            worst = max(ages)
            if math.isfinite(worst):  # perfdata has no infinity: a kind that never succeeded is left out
                data.append(f"{_label(f'{server.name} {kind} age')}={worst:.0f}s;;;0;")
        deletes = sum(n for (_, kind), n in server.pending.items() if kind == "deletes")
        if server.pending:
            data.append(f"{_label(f'{server.name} pending deletes')}={deletes};;;0;")
    if view.tenant_last_sync is not None:
        age = (now - view.tenant_last_sync).total_seconds()
        data.append(f"{_label(prefix + ' tenant sync age')}={age:.0f}s;;;0;")
    return data


def plugin_output(views: Sequence[PairView], *, verbose: bool = False,
                  now: datetime | None = None) -> tuple[State, str]:
    """The worst state over ``views`` and the plugin's text (status line, then long output if verbose)."""
    moment = now or datetime.now(UTC)
    states = [state_of(v) for v in views]
    worst = max(states, key=_rank) if states else State.UNKNOWN
    summaries: list[str] = []
    details: list[str] = []
    for view in views:
        problems = _problems(view)
        if problems:
            first = sorted(problems, key=lambda p: -_rank(p[0]))[0][1]
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            summaries.append(f"{view.name}: {first}{more}")
        else:
            exporter = next((s.name for s in view.servers if s.staging_enabled is False), "?")
            passed = sum(1 for r in view.results if r.outcome is Outcome.PASSED)
            summaries.append(f"{view.name}: {view.verdict}, {exporter} exports, {passed} watched checks pass")
        details.extend(f"[{s.name}] {view.name}: {text}" for s, text in problems)
    perf = [item for view in views for item in _perfdata(view, moment)]
    line = f"ENTRA-STANDBY {worst.name} - {'; '.join(summaries)} | {' '.join(perf)}"
    text = "\n".join([" ".join(line.split("\n")), *details]) if verbose else " ".join(line.split("\n"))
    return worst, text


def _rank(state: State) -> int:
    return {State.OK: 0, State.WARNING: 1, State.UNKNOWN: 2, State.CRITICAL: 3}[state]


def _metric_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_." else "_" for c in text)


def checkmk_local_output(views: Sequence[PairView], *, now: datetime | None = None) -> str:
    """Checkmk's local-check format: one service per pair, ``STATUS "NAME" METRICS TEXT`` (metric names
    without spaces or quotes, ``|`` between metrics). The agent runs it from its local/ directory."""
    moment = now or datetime.now(UTC)
    lines = []
    for view in views:
        problems = _problems(view)
        if problems:
            text = sorted(problems, key=lambda p: -_rank(p[0]))[0][1]
        else:
            exporter = next((s.name for s in view.servers if s.staging_enabled is False), "?")
            text = f"{view.verdict}, {exporter} exports"
        metrics = []
        for item in _perfdata(view, moment):
            label, _, rest = item.partition("=")
            number, _, thresholds = rest.partition(";")
            name = _metric_name(label.strip("'"))
            metrics.append(f"{name}={number.rstrip('s')};{thresholds}")
        joined = "|".join(metrics) or "-"
        lines.append(f'{int(state_of(view))} "Entra standby {view.name}" {joined} {text}')
    return "\n".join(lines)
