"""The audit's exit codes: what a pipeline can branch on (docs/results.md).

pytest's own codes are kept where they mean the same thing; "could not audit" gets its own code so that a
CI job can tell an unreachable host (retry, page the platform team) from an audited, failing pair (page the
identity team).
"""

from __future__ import annotations

from collections.abc import Sequence

from .results import Judged, Status

__all__ = ["BAD_INPUT", "COULD_NOT_AUDIT", "FAILED", "INTERNAL", "INTERRUPTED", "MEANING", "NOTHING_SELECTED",
           "OK", "audit_exit_code"]

OK = 0
FAILED = 1  # audited: a finding at or above --fail-on (or another test of the run failed)
INTERRUPTED = 2
INTERNAL = 3
BAD_INPUT = 4  # pytest's usage error: inventory, waiver file, options; nothing was contacted
NOTHING_SELECTED = 5
COULD_NOT_AUDIT = 6  # no failure at the gate, but a host or a check could not be evaluated

MEANING = {
    OK: "every selected check passed (or is below --fail-on, or waived) on every server",
    FAILED: "audited: a check failed at or above --fail-on",
    INTERRUPTED: "interrupted",
    INTERNAL: "internal error",
    BAD_INPUT: "bad input (inventory, waivers or options): nothing was contacted",
    NOTHING_SELECTED: "no check selected",
    COULD_NOT_AUDIT: "could not audit: a host or a check could not be evaluated (nothing failed at the gate)",
}


def audit_exit_code(judged: Sequence[Judged], pytest_status: int, facts_failed: bool,
                    other_failures: bool) -> int:
    """The exit code of an audit run. A known failure wins over an unknown: it needs a person either way,
    and "could not audit" must never hide that a pair is known to be broken."""
    if pytest_status in (INTERRUPTED, INTERNAL, BAD_INPUT):
        return pytest_status
    if other_failures or any(j.status is Status.FAIL for j in judged):
        return FAILED
    if facts_failed or any(j.status is Status.ERROR for j in judged):
        return COULD_NOT_AUDIT
    if pytest_status == NOTHING_SELECTED:
        return NOTHING_SELECTED
    return OK
