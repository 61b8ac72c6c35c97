"""What a switch leaves behind: timed steps, an audit entry per server call, RTO per direction.

These records are the only thing the reports (JUnit, JSON audit log) and the front doors (pytest, CLI)
read; the engine fills them as it goes, so a run that stops half-way still has an exact account.
Parameters are stored without secrets (the engine never passes any to an action).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class StepOutcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value


class RunOutcome(enum.Enum):
    """How a drill/switch/failover/demote ended."""

    PASSED = "passed"  # every step done and proven; the pair is where it should be
    REFUSED = "refused"  # a precondition failed before anything changed
    ROLLED_BACK = "rolled-back"  # a step failed after a change; the starting arrangement was restored
    MANUAL_ACTION = "manual-action"  # could not restore safely: a human must act (see manual_action)
    PLANNED = "planned"  # --drill-plan / dry run: nothing was changed

    def __str__(self) -> str:
        return self.value


@dataclass
class AuditEntry:
    """One call to a server (action or read), one wait, or one instruction to the operator."""

    time_utc: datetime
    kind: str  # action | probe | wait | operator | note
    name: str  # action/probe name, or what was waited for
    server: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)  # never secrets
    ok: bool = True
    result: str = ""  # short summary: the flag re-read, the error line, ...
    duration_s: float = 0.0


@dataclass
class StepRecord:
    """One step of the sequence (e.g. "stage the active aadc01"), timed."""

    name: str
    phase: str  # preflight | failover | failback | switch | rollback | demote | verify
    server: str | None
    started_utc: datetime
    duration_s: float = 0.0
    outcome: StepOutcome = StepOutcome.PASSED
    message: str = ""


@dataclass
class DrillRecord:
    """The full account of one run of the engine."""

    pair: str
    kind: str  # drill | switch | failover | demote
    method: str | None
    servers: tuple[str, ...]
    started_utc: datetime
    outcome: RunOutcome = RunOutcome.PASSED
    steps: list[StepRecord] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    rto_s: dict[str, float] = field(default_factory=dict)  # direction ("failover"/"failback") -> seconds
    proven: dict[str, list[str]] = field(default_factory=dict)  # direction -> what was proven
    unproven: dict[str, list[str]] = field(default_factory=dict)  # direction -> what could not be proven
    refusal: str | None = None  # why it refused (outcome REFUSED)
    manual_action: str | None = None  # the MANUAL ACTION REQUIRED text (outcome MANUAL_ACTION)
    final_staging: dict[str, bool | None] = field(default_factory=dict)  # server -> last flag read
    finished_utc: datetime | None = None
