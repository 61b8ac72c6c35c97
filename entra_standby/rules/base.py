"""Check logic plumbing: findings, severities, the registry of check ids, and evaluation.

A check is a pure function of facts. Host-scoped checks run once per server (``fn(pair, server)``);
pair-scoped checks run once per pair (``fn(pair)``). Both return *every* finding, not the first.
A check that needs a fact that could not be gathered raises ``FactUnavailableError`` (the caller
reports an error, not a failure).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..facts.collection import HostFacts, PairFacts


class Severity(enum.IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Finding:
    """One thing wrong, on one target, with the values that show it and how to fix it."""

    check_id: str
    severity: Severity
    target: str  # "pair/host" or "pair"
    message: str
    remediation: str
    values: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"[{self.severity}] {self.check_id} {self.target}: {self.message}"


CheckFn = Callable[..., Iterable[Finding]]
HostCheck = Callable[[PairFacts, HostFacts], Iterable[Finding]]
PairCheck = Callable[[PairFacts], Iterable[Finding]]


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    severity: Severity
    scope: str  # "host" | "standby" (host-scoped, standbys only) | "pair"
    remediation: str
    needs: tuple[str, ...]  # fact domains, "cloud" for the cloud's view
    fn: CheckFn
    skip_if: Callable[[PairFacts], str | None] | None = None  # a reason when the check does not apply

    def applies_to(self, server: HostFacts) -> bool:
        return self.scope == "host" or (self.scope == "standby" and server.role == "standby")


REGISTRY: dict[str, CheckSpec] = {}


def check(id: str, *, title: str, severity: Severity, scope: str, remediation: str,
          needs: tuple[str, ...],
          skip_if: Callable[[PairFacts], str | None] | None = None) -> Callable[[CheckFn], CheckFn]:
    """Register a check function under a stable id. ``skip_if(pair)`` returns why the check does not apply
    to a pair (it is then skipped, not passed), or None."""
    if scope not in ("host", "standby", "pair"):
        raise ValueError(f"unknown scope {scope!r}")

    def register(fn: CheckFn) -> CheckFn:
        if id in REGISTRY:
            raise ValueError(f"check id {id!r} registered twice")
        REGISTRY[id] = CheckSpec(id, title, severity, scope, remediation, needs, fn, skip_if)
        return fn

    return register


def target_of(pair: PairFacts, server: HostFacts | None = None) -> str:
    return f"{pair.name}/{server.host}" if server is not None else pair.name


def evaluate(check_id: str, pair: PairFacts, server: HostFacts | None = None) -> list[Finding]:
    """Run one check on one pair (or one server of it) and return its findings, sorted for stable output."""
    from . import load_all

    load_all()
    spec = REGISTRY[check_id]
    if spec.scope == "pair":
        found = list(spec.fn(pair))
    else:
        if server is None:
            raise ValueError(f"check {check_id} is host-scoped: pass a server")
        found = list(spec.fn(pair, server)) if spec.applies_to(server) else []
    return sorted(found, key=lambda f: (-int(f.severity), f.target, f.message))
