"""Helpers shared by the check modules: building findings, evaluation time, the pair's active server."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import FactUnavailableError
from ..facts.collection import HostFacts, PairFacts
from .base import REGISTRY, Finding, Severity, target_of


class Reporter:
    """Builds findings for one check on one target, so each check states only what is wrong.

    The default severity and remediation are the ones the check registered with ``@check``, so they are
    written once, in the decorator.
    """

    def __init__(self, check_id: str, pair: PairFacts, server: HostFacts | None = None) -> None:
        spec = REGISTRY[check_id]
        self.check_id = check_id
        self.severity = spec.severity
        self.remediation = spec.remediation
        self.target = target_of(pair, server)

    def __call__(
        self,
        message: str,
        *,
        severity: Severity | None = None,
        remediation: str | None = None,
        values: Mapping[str, Any] | None = None,
        **more: Any,
    ) -> Finding:
        """One finding; its ``values`` are ``values`` updated with the other keyword arguments."""
        merged = {**(values or {}), **more}
        return Finding(self.check_id, severity or self.severity, self.target, message,
                       remediation or self.remediation, merged)


def now_of(pair: PairFacts, server: HostFacts | None = None) -> datetime:
    """Evaluation time: the pair's ``now_utc``, else the host's collection time; never the wall clock."""
    moment = pair.now_utc or (server.collected_utc if server is not None else None)
    if moment is None:
        raise FactUnavailableError(pair.name, "now_utc", "no evaluation time (PairFacts.now_utc is not set)")
    return aware(moment)


def aware(moment: datetime) -> datetime:
    """Facts carry UTC; a naive datetime (hand-built facts) is read as UTC so comparisons never raise."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


NO_ACTIVE = "no active server in the inventory to compare with"


def no_active_finding(report: Reporter, pair: PairFacts, server: HostFacts) -> Finding:
    """Parity checks compare with the active server; a pair without one cannot prove parity."""
    return report(
        f"{server.host}: {NO_ACTIVE} (pair {pair.name} lists "
        f"{', '.join(f'{s.host} ({s.role})' for s in pair.servers)})",
        remediation="mark the pair's active sync server with role: active in the inventory",
        pair=pair.name,
        servers=[s.host for s in pair.servers],
    )


def human_age(seconds: float) -> str:
    """``'95 min'``, ``'3.5 h'``, ``'4.2 days'``: short and exact enough for a finding."""
    if seconds < 0:
        return f"in {human_age(-seconds)}"
    minutes = seconds / 60
    if minutes < 120:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"
