"""What a person sees: the operator's instructions and the final account of a run, as plain text."""

from __future__ import annotations

import sys
from collections.abc import Callable

from .records import DrillRecord, RunOutcome, StepOutcome

__all__ = ["EXIT_CODES", "TerminalOperator", "render_record"]

EXIT_CODES: dict[RunOutcome, int] = {
    RunOutcome.PASSED: 0,
    RunOutcome.PLANNED: 0,
    RunOutcome.REFUSED: 1,
    RunOutcome.ROLLED_BACK: 3,
    RunOutcome.MANUAL_ACTION: 4,
}
"""Exit codes of `entra-standby switch|failover|demote` (2 is any other entra-standby error)."""


class TerminalOperator:
    """Prints the wizard instructions loudly; the engine then waits (bounded) for the change."""

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self._write = write or (lambda text: (sys.stdout.write(text + "\n"), sys.stdout.flush())[0])

    def instruct(self, server: str, text: str) -> None:
        bar = "=" * 78
        self._write(f"{bar}\nOPERATOR ACTION on {server}:\n{text}\n{bar}")


_MARKS = {StepOutcome.PASSED: "ok  ", StepOutcome.FAILED: "FAIL", StepOutcome.SKIPPED: "skip"}


def render_record(record: DrillRecord) -> str:
    """The run's outcome, its steps with durations, RTO, what was and was not proven."""
    lines = [f"{record.kind} on pair {record.pair} (method {record.method or 'none'}): "
             f"{str(record.outcome).upper()}"]
    for step in record.steps:
        mark = _MARKS[step.outcome]
        where = f" [{step.server}]" if step.server else ""
        lines.append(f"  {mark} {step.phase:<9} {step.name}{where} ({step.duration_s:.1f} s)"
                     + (f": {step.message}" if step.message and step.outcome is not StepOutcome.PASSED
                        else ""))
    for direction, seconds in record.rto_s.items():
        lines.append(f"  RTO {direction}: {seconds:.1f} s (from staging the old active to the proof)")
    for direction, items in record.proven.items():
        lines += [f"  proven ({direction}): {item}" for item in items]
    for direction, items in record.unproven.items():
        lines += [f"  NOT proven ({direction}): {item}" for item in items]
    if record.final_staging:
        flags = ", ".join(f"{h}: {'unknown' if v is None else ('staged' if v else 'UN-STAGED')}"
                          for h, v in record.final_staging.items())
        lines.append(f"  last known staging flags: {flags}")
    if record.outcome is RunOutcome.REFUSED and record.refusal:
        lines.append(f"  REFUSED: {record.refusal}")
    if record.outcome is RunOutcome.ROLLED_BACK and record.refusal:
        lines.append(f"  ROLLED BACK to the starting arrangement after: {record.refusal}")
    if record.manual_action:
        lines.append(record.manual_action)
    return "\n".join(lines)
