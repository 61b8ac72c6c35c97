"""Before anything changes: fresh facts, the audit's own verdicts, and the switch-specific preconditions.

No check is re-implemented here: the readiness verdicts come from ``results`` exactly as the audit gives
them. What is added is only what a switch needs beyond the audit: which server is active and which standby
takes over, that nothing else is un-staged, and that the result can be proven (the cloud block).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..facts.collection import PairFacts
from ..inventory import Inventory, PairEntry, ServerEntry
from ..results import CheckResult, Outcome, evaluate_pair
from ..rules.base import Severity

__all__ = ["ENTRA_CONNECTOR_ID", "Preflight", "blocking", "describe", "entra_connectors", "pick_standby",
           "run_preflight"]

ENTRA_CONNECTOR_ID = "b891884f-051e-4a83-95af-2544101c9083"  # fixed for every install (reference §2.2)

REQUIRED_BEYOND_CRITICAL = ("pending-exports",)
"""High-severity checks a switch also requires: the standby's pending exports within limits (issue 9)."""


@dataclass
class Preflight:
    """What the preflight found: reasons to refuse (empty = go), warnings, and the fresh facts."""

    pair: PairEntry
    facts: PairFacts | None
    active: ServerEntry | None
    standby: ServerEntry | None
    refusals: list[str] = field(default_factory=list)  # switch preconditions that failed
    warnings: list[str] = field(default_factory=list)
    results: list[CheckResult] = field(default_factory=list)  # every readiness verdict
    blocked: list[CheckResult] = field(default_factory=list)  # the verdicts that forbid a switch

    @property
    def ok(self) -> bool:
        return not self.refusals and not self.blocked

    def reasons(self) -> list[str]:
        return self.refusals + [describe(result) for result in self.blocked]


def entra_connectors(facts: PairFacts, host: str) -> frozenset[str] | None:
    """The names of ``host``'s Entra connector(s), from its connectors fact; None when unknown."""
    server = facts.server(host)
    if not server.has("connectors"):
        return None
    names = {c.name for c in server.connectors.connectors
             if (c.identifier or "").lower() == ENTRA_CONNECTOR_ID or c.type != "AD"}
    return frozenset(names) or None


def blocking(result: CheckResult) -> bool:
    if result.outcome in (Outcome.PASSED, Outcome.SKIPPED):
        return False
    return result.severity >= Severity.CRITICAL or result.worst_severity >= Severity.CRITICAL \
        or result.check_id in REQUIRED_BEYOND_CRITICAL


def describe(result: CheckResult) -> str:
    if result.outcome is Outcome.ERROR:
        return f"{result.check_id} [{result.target}] could not be evaluated: {result.reason}"
    first = result.findings[0].message if result.findings else (result.reason or "")
    more = f" (+{len(result.findings) - 1} more)" if len(result.findings) > 1 else ""
    return f"{result.check_id} [{result.target}] {result.worst_severity}: {first}{more}"


def pick_standby(pair: PairEntry, standby_host: str | None) -> tuple[ServerEntry | None, str | None]:
    """The standby that takes over: the one named, or the pair's only standby."""
    standbys = [s for s in pair.servers if s.role == "standby"]
    if standby_host is not None:
        match = [s for s in pair.servers if s.host.lower() == standby_host.lower()]
        if not match:
            return None, f"--standby {standby_host}: not a server of pair {pair.name}"
        if match[0].role != "standby":
            return None, f"--standby {standby_host}: it is the pair's active server in the inventory"
        return match[0], None
    if len(standbys) != 1:
        names = ", ".join(s.host for s in standbys) or "none"
        return None, f"pair {pair.name} has {len(standbys)} standbys ({names}); name one with --standby HOST"
    return standbys[0], None


def run_preflight(inventory: Inventory, pair: PairEntry, *, standby_host: str | None = None,
                  no_cloud_verify: bool = False,
                  gather_fn: Callable[..., Any] | None = None) -> Preflight:
    """Gather the pair afresh and decide whether a planned switch (or drill) may start."""
    from ..gather import gather

    actives = [s for s in pair.servers if s.role == "active"]
    standby, problem = pick_standby(pair, standby_host)
    pre = Preflight(pair=pair, facts=None, active=actives[0] if len(actives) == 1 else None, standby=standby)
    if problem:
        pre.refusals.append(problem)
    if len(actives) != 1:
        pre.refusals.append(f"pair {pair.name} names {len(actives)} active servers in the inventory; "
                            "exactly one is needed")
    if not pair.cloud_configured:
        if no_cloud_verify:
            pre.warnings.append("no cloud: block for this pair and --no-cloud-verify given: the switch is "
                                "proven by run history only, not by what the tenant received")
        else:
            pre.refusals.append("the pair has no cloud: block, so the tenant cannot confirm the export "
                                "(add one, see docs/cloud.md, or pass --no-cloud-verify to rely on run "
                                "history alone)")
    if pre.refusals:
        return pre
    run = (gather_fn or gather)(inventory.select([pair.name]))
    facts: PairFacts = run.pair(pair.name)
    pre.facts = facts
    pre.results = evaluate_pair(facts)
    pre.blocked = [result for result in pre.results if blocking(result)]
    exporting = [s.host for s in facts.servers if s.has("scheduler") and not s.scheduler.staging_mode_enabled]
    if len(exporting) != 1 and not any(r.check_id == "staging-flag" and blocking(r) for r in pre.results):
        pre.refusals.append(f"exactly one un-staged server is required, found {len(exporting)}: "
                            f"{', '.join(exporting) or 'none'}")
    return pre
