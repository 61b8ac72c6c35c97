"""password-hash-sync and password-writeback: the password services run on the active, and are set up the same
on every server so that they would run the same after a failover (issue 16 points 2 and 3).

A staging server runs neither service ([STAGE]: it "is not running password sync or password writeback"),
so a standby is held to its configuration and to staying quiet, never to recent cycles. Facts: the config
probe's feature states (the connector-level reads, with the tenant's Get-ADSyncAADCompanyFeature flag when
they fail, as config-drift reads them) and the password-sync probe (facts/password_sync.py): per-partition
Get-ADSyncPartitionPasswordSyncState, the PHS heartbeat event 654 ([PHS-TS]) and the PasswordResetService
events 31015/31016/31019/32002 (reference section 1.4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from ..errors import FactUnavailableError
from ..facts.collection import HostFacts, PairFacts
from ..facts.password_sync import (
    PHS_HEARTBEAT,
    PWWB_HEARTBEAT,
    PWWB_STARTED,
    PWWB_STOPPED,
    LogEvent,
    PasswordSyncFacts,
)
from ._common import NO_ACTIVE, Reporter, aware, human_age, now_of
from .base import Finding, Severity, check
from .drift import feature_error, feature_state
from .thresholds import threshold_int

PHS = "password_hash_sync"
PWWB = "password_writeback"
PWWB_ERRORS = (31034, 32002)  # ServiceBusListenerError, ServiceBusError (reference section 1.4)

_PHS_TS = "https://learn.microsoft.com/entra/identity/hybrid/connect/tshoot-connect-password-hash-synchronization"
_PWWB_TS = "https://learn.microsoft.com/entra/identity/authentication/troubleshoot-sspr-writeback"

PHS_REMEDIATION = (
    "on the active: check the sync service and the AD connector account's replication rights, then read the "
    "PHS state (Get-ADSyncPartitionPasswordSyncState) and the Application log (source 'Directory "
    "Synchronization', heartbeat 654; Learn's PHS troubleshooting, Invoke-ADSyncDiagnostics "
    f"-PasswordSync: {_PHS_TS}); restart ADSync if PHS stalled; on a standby whose PHS setting differs, run "
    "the wizard (Customize synchronization options > Optional features) so it matches the active"
)
PWWB_REMEDIATION = (
    "on the active: read the Application log, source PasswordResetService (31015 started, 31016 stopped, "
    "31019 heartbeat, 32002 = outbound 443 to *.servicebus.windows.net blocked; "
    f"{_PWWB_TS}), allow outbound 443 to the relay through the firewall and proxy, and restart ADSync or "
    "re-enable writeback in the wizard; on a standby whose setting differs, run the wizard (Optional "
    "features > Password writeback) so it matches the active; a staging server must not listen: stage it "
    "again and restart ADSync"
)


def _enabled(server: HostFacts, feature: str) -> bool:
    """On or off as config-drift reads it; unreadable (and no tenant flag) is no verdict, never "off"."""
    state = feature_state(server.config, feature)
    if state is None:
        raise FactUnavailableError(server.host, "config",
                                   f"{feature} could not be read: {feature_error(server.config, feature)}")
    return state


def _off_everywhere(feature: str, label: str) -> Callable[[PairFacts], str | None]:
    def skip(pair: PairFacts) -> str | None:
        # Only when every server's config says so: an unreadable one keeps the check (it errors, with why).
        for server in pair.servers:
            if not server.has("config") or feature_state(server.config, feature) is not False:
                return None
        return f"{label} is off on every server of the pair (nothing to compare or to run)"

    return skip


def _active(pair: PairFacts) -> HostFacts:
    active = pair.active
    if active is None:
        raise FactUnavailableError(pair.name, "active", NO_ACTIVE)
    return active


def _settings(report: Reporter, pair: PairFacts, active: HostFacts, feature: str, label: str,
              states: dict[str, bool]) -> Iterator[Finding]:
    for server in pair.standbys:
        if states[server.host] != states[active.host]:
            yield report(
                f"{server.host}: {label} is {'on' if states[server.host] else 'off'} here but "
                f"{'on' if states[active.host] else 'off'} on active {active.host}: after a failover "
                f"{'it would stop' if states[active.host] else 'it would start'}",
                values={"server": server.host, "feature": feature, "standby": states[server.host],
                        "active": active.host, "active_value": states[active.host]},
            )


def _age(now: datetime, moment: datetime) -> float:
    return (now - aware(moment)).total_seconds()


def _unreadable(host: str, what: str, error: str | None) -> None:
    if error:
        raise FactUnavailableError(host, "password-sync", f"{what} could not be read: {error}")


# --- password hash sync -----------------------------------------------------------------------------------


@check(
    "password-hash-sync",
    title="Password hash sync cycles recent on the active (per AD partition, heartbeat 654); same setting on "
          "every server",
    severity=Severity.HIGH,
    scope="pair",
    remediation=PHS_REMEDIATION,
    needs=("config", "password-sync"),
    skip_if=_off_everywhere(PHS, "password hash sync"),
)
def password_hash_sync(pair: PairFacts) -> Iterator[Finding]:
    report = Reporter("password-hash-sync", pair)
    active = _active(pair)
    states = {s.host: _enabled(s, PHS) for s in pair.servers}
    facts = {s.host: s.password_sync for s in pair.servers}
    yield from _settings(report, pair, active, PHS, "password hash sync", states)
    if states[active.host]:
        yield from _phs_active(report, pair, active, facts[active.host])
    active_dns = {(p.dn or "").lower(): p.dn for p in facts[active.host].partitions if p.dn}
    for server in pair.standbys:
        if not states[server.host]:
            continue
        mine = facts[server.host]
        _unreadable(server.host, "the PHS partition state (Get-ADSyncPartitionPasswordSyncState)",
                    mine.partitions_error)
        missing = sorted(dn for key, dn in active_dns.items()
                         if key not in {(p.dn or "").lower() for p in mine.partitions})
        if missing:
            yield report(
                f"{server.host}: no password hash sync state for partition(s) {', '.join(missing)} that the "
                f"active {active.host} syncs passwords from (whether a server that never left staging lists "
                "them is UNCONFIRMED)",
                severity=Severity.LOW,
                values={"server": server.host, "missing_partitions": missing, "active": active.host},
            )


def _phs_active(report: Reporter, pair: PairFacts, active: HostFacts,
                facts: PasswordSyncFacts) -> Iterator[Finding]:
    now = now_of(pair, active)
    limit_min = threshold_int(pair, "phs_max_age_minutes")
    _unreadable(active.host, "the PHS partition state (Get-ADSyncPartitionPasswordSyncState)",
                facts.partitions_error)
    _unreadable(active.host, "the PHS heartbeat events (event 654)", facts.phs_events_error)
    if not facts.partitions:
        yield report(
            f"{active.host}: password hash sync is on, but Get-ADSyncPartitionPasswordSyncState lists no AD "
            "partition: no partition reports a password sync cycle",
            values={"server": active.host, "partitions": 0},
        )
    for partition in facts.partitions:
        name = partition.dn or partition.connector_id or "(unnamed partition)"
        end = partition.last_successful_cycle_end_utc
        if end is None:
            yield report(f"{active.host}: partition {name} never completed a successful password hash sync "
                         f"cycle (last status {partition.last_cycle_status or 'unknown'})",
                         values={"server": active.host, "partition": name, "last_successful_end": None,
                                 "last_status": partition.last_cycle_status})
            continue
        age = _age(now, end)
        if age > limit_min * 60:
            yield report(
                f"{active.host}: partition {name}: the last successful password hash sync cycle ended "
                f"{human_age(age)} ago (at {aware(end):%Y-%m-%d %H:%M} UTC; limit {limit_min} min, PHS runs "
                "every 2 minutes), so password changes since then have not reached Entra ID",
                values={"server": active.host, "partition": name,
                        "last_successful_end": aware(end).isoformat(), "age_minutes": round(age / 60),
                        "limit_minutes": limit_min},
            )
        status = partition.last_cycle_status
        last_end = partition.last_cycle_end_utc
        newer = last_end is not None and aware(last_end) > aware(end)
        if status and status.lower() != "successful" and newer:
            yield report(
                f"{active.host}: partition {name}: the newest password hash sync cycle ended "
                f"'{status}' (after the last successful one)",
                severity=Severity.MEDIUM,
                values={"server": active.host, "partition": name, "last_status": status},
            )
    beat = facts.newest(PHS_HEARTBEAT)
    if beat is None or beat.time_utc is None or _age(now, beat.time_utc) > limit_min * 60:
        seen = "none read" if beat is None or beat.time_utc is None else \
            f"newest {human_age(_age(now, beat.time_utc))} ago"
        yield report(
            f"{active.host}: no password hash sync heartbeat (event 654, source 'Directory Synchronization') "
            f"in the last {limit_min} min ({seen}; the log was read from "
            f"{aware(facts.since_utc):%Y-%m-%d %H:%M} UTC)",
            values={"server": active.host, "event": PHS_HEARTBEAT, "limit_minutes": limit_min,
                    "newest": _when(beat)},
        )


def _when(event: LogEvent | None) -> str | None:
    return aware(event.time_utc).isoformat() if event is not None and event.time_utc is not None else None


# --- password writeback -----------------------------------------------------------------------------------


@check(
    "password-writeback",
    title="Password writeback listening on the active (31015 after any 31016, heartbeat 31019 recent), set "
          "the same on every server, and not listening on a standby",
    severity=Severity.HIGH,
    scope="pair",
    remediation=PWWB_REMEDIATION,
    needs=("config", "password-sync"),
    skip_if=_off_everywhere(PWWB, "password writeback"),
)
def password_writeback(pair: PairFacts) -> Iterator[Finding]:
    report = Reporter("password-writeback", pair)
    active = _active(pair)
    states = {s.host: _enabled(s, PWWB) for s in pair.servers}
    facts = {s.host: s.password_sync for s in pair.servers}
    limit_min = threshold_int(pair, "pwwb_heartbeat_max_age_minutes")
    yield from _settings(report, pair, active, PWWB, "password writeback", states)
    if states[active.host]:
        yield from _pwwb_active(report, pair, active, facts[active.host], limit_min)
    for server in pair.standbys:
        mine = facts[server.host]
        _unreadable(server.host, "the PasswordResetService events", mine.writeback_events_error)
        beat = mine.newest(PWWB_HEARTBEAT)
        if beat is not None and beat.time_utc is not None and \
                _age(now_of(pair, server), beat.time_utc) <= limit_min * 60:
            # [STAGE]: only one server can use writeback; a second listener disrupts the active's channel.
            yield report(
                f"{server.host}: password writeback is listening on this standby too (heartbeat 31019 "
                f"{human_age(_age(now_of(pair, server), beat.time_utc))} ago): only one server can use "
                f"writeback, a second listener disrupts the Service Bus channel of active {active.host}",
                values={"server": server.host, "event": PWWB_HEARTBEAT, "newest": _when(beat)},
            )


def _pwwb_active(report: Reporter, pair: PairFacts, active: HostFacts, facts: PasswordSyncFacts,
                 limit_min: int) -> Iterator[Finding]:
    now = now_of(pair, active)
    _unreadable(active.host, "the PasswordResetService events", facts.writeback_events_error)
    _unreadable(active.host, "the newest writeback start/stop event (31015/31016)",
                facts.writeback_state_error)
    state = facts.newest(PWWB_STARTED, PWWB_STOPPED)
    if state is not None and state.id == PWWB_STOPPED:
        yield report(
            f"{active.host}: the password writeback service stopped (31016 WriteBackServiceStopped at "
            f"{_shown(state)}, no 31015 WriteBackServiceStarted since): self-service password resets cannot "
            "reach on-premises AD",
            values={"server": active.host, "event": PWWB_STOPPED, "at": _when(state)},
        )
    beat = facts.newest(PWWB_HEARTBEAT)
    if beat is None or beat.time_utc is None or _age(now, beat.time_utc) > limit_min * 60:
        seen = "none read" if beat is None or beat.time_utc is None else \
            f"newest {human_age(_age(now, beat.time_utc))} ago"
        errors = [e for e in facts.writeback_events if e.id in PWWB_ERRORS and e.time_utc is not None
                  and (beat is None or beat.time_utc is None or aware(e.time_utc) > aware(beat.time_utc))]
        ids = ", ".join(sorted({str(e.id) for e in errors}))
        why = (f"; since then {len(errors)} relay error(s) ({ids}; 32002 = outbound 443 to "
               "*.servicebus.windows.net blocked)") if errors else ""
        yield report(
            f"{active.host}: no password writeback heartbeat (31019 ServiceBusHeartBeat, source "
            f"PasswordResetService) in the last {limit_min} min ({seen}{why}): the relay may not be "
            "listening",
            values={"server": active.host, "event": PWWB_HEARTBEAT, "limit_minutes": limit_min,
                    "newest": _when(beat), "errors_since": [e.id for e in errors]},
        )


def _shown(event: LogEvent) -> str:
    return f"{aware(event.time_utc):%Y-%m-%d %H:%M} UTC" if event.time_utc is not None else "an unknown time"
