"""Documented defaults for every tunable limit of the check catalogue, and typed access to them.

An inventory's ``thresholds:`` (defaults, then per pair) is merged over ``DEFAULT_THRESHOLDS``; the inventory
loader validates its keys against this dict, so the key names are part of the public interface: snake_case,
stable, never renamed.
"""

from __future__ import annotations

from typing import Any, Final

from ..errors import InventoryError
from ..facts.collection import PairFacts

DEFAULT_THRESHOLDS: Final[dict[str, Any]] = {
    # version-supported: the lowest Entra Connect build still able to sync (all services stop on
    # 30 Sep 2026 below 2.5.79.0; reference §3.2). Raise it as builds retire (12-month rule).
    "min_version": "2.5.79.0",
    # version-parity: true allows the standby to run a *newer* build than the active (swing upgrade:
    # upgrade the standby first, fail over, then upgrade the old active). Older is always a finding.
    "allow_standby_newer_version": False,
    # dotnet: lowest .NET Framework 4.x Release DWORD; 461808 = 4.7.2, required since the 2025 prerequisites.
    "min_dotnet_release": 461808,
    # patch-age: days since the newest successfully installed OS update (not Defender definitions).
    "max_patch_age_days": 45,
    # pending-reboot: also count PendingFileRenameOperations, which has many false positives (a hint only).
    "reboot_counts_file_rename": False,
    # recent-imports: minutes since the newest import/sync run of each connector on a standby ended.
    # null = two times the scheduler's CurrentlyEffectiveSyncCycleInterval (60 minutes with the default 30).
    "max_run_age_minutes": None,
    # recent-imports: a connector with no successful import/sync for this many days is critical (Microsoft
    # requires a cycle at least every 7 days, staging servers included; reference §1.1).
    "stale_run_critical_days": 7,
    # pending-exports: the most pending adds one connector of a standby may hold (objects it would create).
    "max_pending_adds": 50,
    # pending-exports: the most pending updates per connector (a healthy standby holds a few).
    "max_pending_updates": 500,
    # pending-exports: the most pending deletes per connector; any count above the export deletion threshold
    # (default 500) is critical whatever this says, because the first export would stop on it.
    "max_pending_deletes": 10,
    # database: percent of the 10 GB LocalDB limit (SQL Server Express) a LocalDB data file may reach before
    # it is a finding; the sync service stops when the database is full (install prerequisites).
    "localdb_warn_percent": 80,
    # entra-connector-identity: days before an application (ABA) certificate expires from which it is a
    # finding (Entra Connect itself warns from 150 days, event 1011; an expired one, event 1012, stops every
    # export).
    "aba_certificate_warn_days": 30,
    # password-hash-sync: minutes since the active's last successful PHS cycle ended (each AD partition) and
    # since its newest PHS heartbeat (event 654). PHS runs every 2 minutes, but a full sync or an ADSync
    # restart pauses it, so a few cycles is too tight; 120 is Connect Health's own alert window ("password
    # hash sync heartbeat was skipped in the last 120 minutes", reference section 10): the check and the
    # portal agree. The probe reads 24 hours of the log, so more than 1440 means "none in 24 hours".
    "phs_max_age_minutes": 120,
    # password-writeback: minutes since the active's newest ServiceBusHeartBeat (31019). Its cadence is not
    # documented (UNCONFIRMED); 120 is the PHS window. Raise it if a real server's heartbeats are sparser.
    "pwwb_heartbeat_max_age_minutes": 120,
    # cloud-sync-fresh, cloud-canary: minutes since the tenant (or the canary user) last received a sync from
    # on-premises. Three default 30-minute cycles, so one slow or skipped cycle is not a finding.
    "cloud_sync_max_age_minutes": 90,
}
"""Check thresholds by key; each comment says which check reads it and why the default is what it is."""


def threshold(pair: PairFacts, key: str) -> Any:
    """The pair's value for ``key`` (inventory over default). Unknown keys are a programming error."""
    if key not in DEFAULT_THRESHOLDS:
        raise KeyError(f"unknown threshold {key!r}; known: {', '.join(sorted(DEFAULT_THRESHOLDS))}")
    return pair.thresholds.get(key, DEFAULT_THRESHOLDS[key])


def _bad(pair: PairFacts, key: str, value: Any, expected: str) -> InventoryError:
    return InventoryError(
        f"pair {pair.name}: threshold {key} is {value!r}, expected {expected}",
        key=f"thresholds.{key}",
        fix=f"set thresholds.{key} to {expected} or remove it (default {DEFAULT_THRESHOLDS[key]!r})",
    )


def threshold_int(pair: PairFacts, key: str) -> int:
    value = threshold(pair, key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or int(value) != value:
        raise _bad(pair, key, value, "a whole number >= 0")
    return int(value)


def threshold_float(pair: PairFacts, key: str) -> float | None:
    """A number, or None when the key's default is computed by the check (documented per key)."""
    value = threshold(pair, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise _bad(pair, key, value, "a number > 0")
    return float(value)


def threshold_bool(pair: PairFacts, key: str) -> bool:
    value = threshold(pair, key)
    if not isinstance(value, bool):
        raise _bad(pair, key, value, "true or false")
    return value


def threshold_str(pair: PairFacts, key: str) -> str:
    value = threshold(pair, key)
    if not isinstance(value, str) or not value:
        raise _bad(pair, key, value, "a non-empty string")
    return value
