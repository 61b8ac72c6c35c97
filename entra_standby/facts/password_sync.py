"""The ``password-sync`` probe's typed fact: proof that PHS and password writeback run.

The drill runs the probe (``probes/password-sync.ps1``) on each server after a switch with ``SinceUtc`` = the
moment of the switch; the audit batch runs it too (``MaxEvents`` 5), for the password-hash-sync and
password-writeback checks (rules/password.py). Reference
§1.4 and probe-review A2: after un-staging, the new active should show PasswordResetService 31015 then
31019 heartbeats, PHS heartbeat 654 and partition timestamps moving forward; the old active 31016 (or no
more 31019) and frozen timestamps. Each of the three parts carries its own ``*_error`` (the rest stays
valid).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import ProbeError

__all__ = [
    "PHS_HEARTBEAT",
    "PWWB_HEARTBEAT",
    "PWWB_STARTED",
    "PWWB_STOPPED",
    "LogEvent",
    "PartitionPasswordSync",
    "PasswordSyncFacts",
    "parse_password_sync_output",
]

PWWB_STARTED = 31015  # WriteBackServiceStarted
PWWB_STOPPED = 31016  # WriteBackServiceStopped
PWWB_HEARTBEAT = 31019  # ServiceBusHeartBeat
PWWB_ERRORS = (31034, 32002)  # ServiceBusListenerError, ServiceBusError
PHS_HEARTBEAT = 654  # source "Directory Synchronization"


@dataclass(frozen=True)
class PartitionPasswordSync:
    """One row of Get-ADSyncPartitionPasswordSyncState (property names UNCONFIRMED, see the probe)."""

    connector_id: str | None = None
    dn: str | None = None
    last_successful_cycle_start_utc: datetime | None = None
    last_successful_cycle_end_utc: datetime | None = None
    last_cycle_start_utc: datetime | None = None
    last_cycle_end_utc: datetime | None = None
    last_cycle_status: str | None = None  # e.g. "Successful"


@dataclass(frozen=True)
class LogEvent:
    """One Application-log event (newest first in the lists below)."""

    id: int  # the event id (31015, 654, ...)
    time_utc: datetime | None = None
    provider: str | None = None
    message: str | None = None  # cut at 300 characters by the probe


@dataclass(frozen=True)
class PasswordSyncFacts:
    since_utc: datetime  # the probe's SinceUtc (default: 24 hours before it ran)
    partitions: tuple[PartitionPasswordSync, ...]
    writeback_events: tuple[LogEvent, ...]  # PasswordResetService 31015/31016/31019/31034/32002
    phs_events: tuple[LogEvent, ...]  # Directory Synchronization 654
    partitions_error: str | None = None
    writeback_events_error: str | None = None
    phs_events_error: str | None = None
    # The newest 31015 or 31016 whatever its age (None: neither in the retained log, or facts from a probe
    # before it was read; newest() then falls back on the SinceUtc window's events).
    writeback_state_event: LogEvent | None = None
    writeback_state_error: str | None = None

    def newest(self, *ids: int) -> LogEvent | None:
        """The newest event read with one of ``ids`` (both lists and the state event), or None."""
        found = [e for e in (*self.writeback_events, *self.phs_events,
                             *((self.writeback_state_event,) if self.writeback_state_event else ()))
                 if e.id in ids and e.time_utc is not None]
        return max(found, key=lambda e: e.time_utc or self.since_utc, default=None)

    def writeback_ids(self) -> set[int]:
        return {e.id for e in self.writeback_events}

    @property
    def writeback_started(self) -> bool:
        """31015 since SinceUtc: the writeback service started (expected on the new active)."""
        return PWWB_STARTED in self.writeback_ids()

    @property
    def writeback_heartbeat(self) -> bool:
        """31019 since SinceUtc: the Service Bus relay answered."""
        return PWWB_HEARTBEAT in self.writeback_ids()

    @property
    def writeback_stopped(self) -> bool:
        """31016 since SinceUtc (expected on the old active)."""
        return PWWB_STOPPED in self.writeback_ids()

    @property
    def phs_heartbeat(self) -> bool:
        return any(e.id == PHS_HEARTBEAT for e in self.phs_events)

    @property
    def phs_synced_since(self) -> bool:
        """Every partition finished a successful PHS cycle after SinceUtc (False with no partitions)."""
        ends = [p.last_successful_cycle_end_utc for p in self.partitions]
        return bool(ends) and all(end is not None and end >= self.since_utc for end in ends)


def parse_password_sync_output(host: str, raw: object, *, now: datetime | None = None) -> PasswordSyncFacts:
    """The typed fact from the probe's raw output; ``ProbeError`` (naming host and field) when it does not
    fit, ``ProbeFailedError`` when the probe itself reported ``ok: false``."""
    from .parse import _build_domain, _open_envelope  # parse imports facts.model, which imports this module

    data = _open_envelope(host, "probe", "password-sync", raw)
    fact = _build_domain(host, "password-sync", PasswordSyncFacts, data, now or datetime.now(UTC),
                         check_future=True)
    if not isinstance(fact, PasswordSyncFacts):  # pragma: no cover - the builder returns its class
        raise ProbeError(host, "password-sync", "unexpected fact type")
    return fact
