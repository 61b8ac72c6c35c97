"""The outcome of every check on every target, outside pytest.

The pytest plugin, the failover drill's preflight and readiness reports all ask the same question —
"which checks pass, fail, error or are skipped on this pair, and why?" — and get the answer here, from facts
alone. A check *errors* when a fact it needs could not be gathered (the host was unreachable, a probe
failed), is *skipped* when it does not apply (a cloud check on a pair without a ``cloud:`` block), and
*fails* with every finding otherwise.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import FactUnavailableError
from .facts.collection import HostFacts, PairFacts
from .rules import CheckSpec, Finding, Severity, evaluate, load_all

__all__ = ["CheckResult", "Outcome", "evaluate_check", "evaluate_pair", "evaluate_pairs", "targets"]


class Outcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class CheckResult:
    """One check on one target: its outcome, every finding, and the reason for an error or a skip."""

    check_id: str
    title: str
    severity: Severity  # the check's own severity; a finding may carry its own (higher or lower)
    pair: str
    host: str | None
    outcome: Outcome
    findings: tuple[Finding, ...] = ()
    reason: str | None = None

    @property
    def target(self) -> str:
        return f"{self.pair}/{self.host}" if self.host else self.pair

    @property
    def worst_severity(self) -> Severity:
        return max((f.severity for f in self.findings), default=self.severity)


def targets(spec: CheckSpec, pair: PairFacts) -> list[HostFacts | None]:
    """What ``spec`` runs on in ``pair``: the pair itself (``None``), every server, or the standbys."""
    if spec.scope == "pair":
        return [None]
    return [server for server in pair.servers if spec.applies_to(server)]


def missing_facts(spec: CheckSpec, pair: PairFacts, server: HostFacts | None) -> list[str]:
    """Why ``spec`` cannot be evaluated on this target, from its declared needs (empty: it can)."""
    host_domains = [d for d in spec.needs if d != "cloud"]
    servers = [server] if server is not None else ([] if not host_domains else list(pair.servers))
    problems: list[str] = []
    for host in servers:
        for domain in host_domains:
            if not host.has(domain):
                error = host.errors.get(domain)
                cause = error.message if error else f"fact {domain!r} not gathered"
                problems.append(cause if cause.startswith(host.host) else f"{host.host}: {cause}")
    if "cloud" in spec.needs and pair.cloud_configured and pair.cloud is None:
        cause = pair.cloud_error.message if pair.cloud_error else "not gathered"
        problems.append(f"{pair.name}: cloud facts unavailable: {cause}")
    return list(dict.fromkeys(problems))  # a host that was unreachable says so once, not once per fact


def evaluate_check(spec: CheckSpec, pair: PairFacts, server: HostFacts | None = None) -> CheckResult:
    """Evaluate one check on one target and classify the outcome; never raises for missing facts."""

    def result(outcome: Outcome, findings: Sequence[Finding] = (), reason: str | None = None) -> CheckResult:
        return CheckResult(spec.id, spec.title, spec.severity, pair.name,
                           server.host if server is not None else None, outcome, tuple(findings), reason)

    if "cloud" in spec.needs and not pair.cloud_configured:
        return result(Outcome.SKIPPED, reason=f"{pair.name}: no cloud block in the inventory (add one to "
                                              "read the tenant's view; see docs/cloud.md)")
    problems = missing_facts(spec, pair, server)
    if problems:
        return result(Outcome.ERROR, reason=" | ".join(problems))
    not_applicable = spec.skip_if(pair) if spec.skip_if is not None else None
    if not_applicable:
        return result(Outcome.SKIPPED, reason=not_applicable)
    try:
        findings = evaluate(spec.id, pair, server)
    except FactUnavailableError as exc:  # a fact read beyond ``needs``, e.g. the active's, for a parity check
        return result(Outcome.ERROR, reason=str(exc))
    return result(Outcome.FAILED if findings else Outcome.PASSED, findings)


def evaluate_pair(pair: PairFacts, check_ids: Iterable[str] | None = None) -> list[CheckResult]:
    """Every registered check (or those named) on every target of one pair, in check-id order."""
    registry = load_all()
    ids = sorted(registry) if check_ids is None else list(check_ids)
    unknown = [i for i in ids if i not in registry]
    if unknown:
        raise KeyError(f"unknown check id(s): {', '.join(unknown)} (known: {', '.join(sorted(registry))})")
    return [evaluate_check(registry[i], pair, server) for i in ids for server in targets(registry[i], pair)]


def evaluate_pairs(pairs: Iterable[PairFacts], check_ids: Iterable[str] | None = None) -> list[CheckResult]:
    ids = None if check_ids is None else list(check_ids)
    return [r for pair in pairs for r in evaluate_pair(pair, ids)]
