"""The outcome of every check on every target, outside pytest.

The pytest plugin, the failover drill's preflight and readiness reports all ask the same question —
"which checks pass, fail, error or are skipped on this pair, and why?" — and get the answer here, from facts
alone. A check *errors* when a fact it needs could not be gathered (the host was unreachable, a probe
failed), is *skipped* when it does not apply (a cloud check on a pair without a ``cloud:`` block), and
*fails* with every finding otherwise.

``judge`` then applies the run's ``Policy`` (the ``--fail-on`` gate, the waivers, servers' display names) and
gives the ``Status`` every consumer reports: FAIL, error, warn (findings below the gate), waived, pass,
skip; ``readiness`` turns a pair's judged results into READY / NOT READY / UNKNOWN (docs/results.md).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .errors import FactUnavailableError
from .facts.collection import HostFacts, PairFacts
from .rules import CheckSpec, Finding, Severity, evaluate, load_all
from .waivers import Waiver, find_waiver

__all__ = ["BLOCKING", "CheckResult", "Judged", "Outcome", "Policy", "Readiness", "Status", "by_severity",
           "evaluate_check", "evaluate_pair", "evaluate_pairs", "judge", "not_run", "readiness", "targets"]


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


# --- judging: waivers and the severity gate over the outcome --------------------------------------------


class Status(enum.Enum):
    """What one result means for the verdict, once waivers and ``--fail-on`` are applied."""

    FAIL = "FAIL"  # findings at or above the gate
    ERROR = "error"  # could not be evaluated (a host or a fact missing)
    WARN = "warn"  # findings, all below the gate
    WAIVED = "waived"  # findings (or not run) under an active waiver
    PASS = "pass"
    SKIP = "skip"  # does not apply

    def __str__(self) -> str:
        return self.value


class Readiness(enum.Enum):
    READY = "READY"
    NOT_READY = "NOT READY"
    UNKNOWN = "UNKNOWN"

    def __str__(self) -> str:
        return self.value


BLOCKING = Severity.HIGH
"""A failure this severe (or the ``--fail-on`` level, if higher) on the standby or the pair makes it NOT
READY: the standby could not take over cleanly. Below it, a failure still fails the run (exit code 1)."""


@dataclass(frozen=True)
class Policy:
    """How results are judged in one run: the severity gate, the waivers, the day, servers' names."""

    fail_on: Severity = Severity.LOW
    waivers: tuple[Waiver, ...] = ()
    today: dt.date = dt.date(1970, 1, 1)
    names: Mapping[str, str] = field(default_factory=dict)  # address -> display name (the inventory's name)

    def name(self, host: str | None) -> str | None:
        return None if host is None else self.names.get(host, host)

    def present(self, text: str) -> str:
        """``text`` with every server address replaced by its display name (values keep the address)."""
        for address, name in self.names.items():
            if name != address:
                text = re.sub(rf"(?<![\w.]){re.escape(address)}(?!\.?\w)", name, text)
        return text


@dataclass(frozen=True)
class Judged:
    """One result with its verdict status: what every report and the exit code are made from."""

    result: CheckResult
    status: Status
    server: str | None  # display name of the server; None for a pair-scoped check
    role: str | None
    waiver: Waiver | None = None  # the waiver that matched (active or expired)
    waiver_expired: bool = False
    fail_on: Severity = Severity.LOW
    lines: tuple[str, ...] = ()  # presented findings: "message" (host stated once, names not addresses)
    reason: str | None = None  # presented reason of an error, a skip or a waiver
    fixes: tuple[str, ...] = ()  # presented remediations, distinct, in finding order

    @property
    def check_id(self) -> str:
        return self.result.check_id

    @property
    def pair(self) -> str:
        return self.result.pair

    @property
    def severity(self) -> Severity:
        return self.result.worst_severity

    @property
    def where(self) -> str:
        return self.server or "pair"

    @property
    def blocking(self) -> bool:
        return (self.status is Status.FAIL and self.role != "active"
                and self.severity >= max(BLOCKING, self.fail_on))

    @property
    def remediation(self) -> str:
        return " | ".join(self.fixes)

    def headline(self) -> str:
        """One line: the first finding (and how many more), the error or the skip reason."""
        if self.lines:
            more = f" (+{len(self.lines) - 1} more)" if len(self.lines) > 1 else ""
            return self.lines[0].removeprefix(f"[{self.severity}] ") + more
        return self.reason or ""


def judge(result: CheckResult, policy: Policy, role: str | None) -> Judged:
    """Apply the waivers and the severity gate to ``result``."""
    host_names = [n for n in (result.host, policy.name(result.host)) if n]
    waiver = find_waiver(policy.waivers, result.check_id, result.pair, host_names)
    expired = waiver is not None and waiver.expired(policy.today)
    active = waiver if waiver is not None and not expired else None
    lines = tuple(_finding_line(f, result.host, policy) for f in result.findings)
    reason = policy.present(result.reason) if result.reason else None
    if result.outcome is Outcome.ERROR:
        reason = result.reason  # names the address that could not be reached: what to check first
        status = Status.ERROR
    elif active is not None and (result.outcome is Outcome.FAILED or not active.run):
        status, reason = Status.WAIVED, active.describe(policy.today)
    elif result.outcome is Outcome.SKIPPED:
        status = Status.SKIP
    elif result.outcome is Outcome.PASSED:
        status = Status.PASS
    elif any(f.severity >= policy.fail_on for f in result.findings):
        status = Status.FAIL
    else:
        status = Status.WARN
    if expired and waiver is not None and status in (Status.FAIL, Status.WARN):
        reason = waiver.describe(policy.today) + ": evaluated normally"
    fixes = tuple(dict.fromkeys(policy.present(f.remediation) for f in result.findings))
    return Judged(result, status, policy.name(result.host), role, waiver, expired, policy.fail_on, lines,
                  reason, fixes)


def not_run(spec: CheckSpec, pair: str, host: str | None, waiver: Waiver) -> CheckResult:
    """The result of a check a ``run: false`` waiver keeps from running."""
    return CheckResult(spec.id, spec.title, spec.severity, pair, host, Outcome.SKIPPED, (),
                       f"not run: {waiver.justification}")


def _finding_line(finding: Finding, host: str | None, policy: Policy) -> str:
    """``[high] message``: the rules start host findings with ``host: ``; the target already says it."""
    message = finding.message
    if host is not None and message.startswith(f"{host}: "):
        message = message[len(host) + 2:]
    return f"[{finding.severity}] {policy.present(message)}"


def readiness(judged: Sequence[Judged]) -> tuple[Readiness, str]:
    """A pair's verdict from its judged results, and why."""
    blocking = [j for j in judged if j.blocking]
    errors = [j for j in judged if j.status is Status.ERROR]
    failed = [j for j in judged if j.status is Status.FAIL]
    if blocking:
        worst = max(j.severity for j in blocking)
        why = f"{len(blocking)} blocking failure" + ("s" if len(blocking) != 1 else "") + f" (worst {worst})"
        if errors:
            why += f"; {len(errors)} check(s) could not be evaluated"
        return Readiness.NOT_READY, why
    if errors or not judged:
        hosts = sorted({j.server or "pair" for j in errors})
        return Readiness.UNKNOWN, ("not audited" if not judged else
                                   f"{len(errors)} check(s) could not be evaluated ({', '.join(hosts)})")
    if failed:
        return Readiness.READY, (f"the standby can take over; {len(failed)} failure(s) below the blocking "
                                 "severity or on the active")
    return Readiness.READY, "every check passed or is accepted"


def by_severity(judged: Iterable[Judged]) -> list[Judged]:
    """Worst first: blocking, then failures by severity, warnings, errors; stable within."""
    rank = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2, Status.WAIVED: 3, Status.PASS: 4,
            Status.SKIP: 5}
    return sorted(judged, key=lambda j: (not j.blocking, rank[j.status], -int(j.severity), j.pair,
                                         j.check_id, j.server or ""))
