"""The cloud's view of a pair (Microsoft Graph): directory sync enabled, exports arriving, canary fresh.

``organization.onPremisesLastSyncDateTime`` is tenant-wide: it proves that *some* server exports, not which
one (reference §9, §13.10). The canary user narrows that to "changes flow end to end".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from ..facts.collection import HostFacts, PairFacts
from ._common import Reporter, aware, human_age, now_of
from .base import Finding, Severity, check
from .thresholds import DEFAULT_THRESHOLDS, threshold_float

THRESHOLD_KEY = "cloud_sync_max_age_minutes"
# Used when a pair sets the key to null; the documented default lives in DEFAULT_THRESHOLDS.
DEFAULT_MAX_AGE_MINUTES = float(DEFAULT_THRESHOLDS[THRESHOLD_KEY])

# --- cloud-sync-enabled ----------------------------------------------------------------------------------

SYNC_ENABLED_REMEDIATION = (
    "directory synchronization is off for the tenant: nothing the pair exports is accepted. If it was turned "
    "off on purpose (converting to cloud-only), retire the pair; otherwise re-enable it (Graph: PATCH "
    "/organization/{id} onPremisesSyncEnabled=true, or the Entra Connect wizard) and wait up to 72 h for "
    "the change to finish before syncing"
)


@check(
    "cloud-sync-enabled",
    title="the tenant has directory synchronization enabled",
    severity=Severity.CRITICAL,
    scope="pair",
    remediation=SYNC_ENABLED_REMEDIATION,
    needs=("cloud",),
)
def cloud_sync_enabled(pair: PairFacts) -> Iterator[Finding]:
    cloud = pair.require_cloud()
    report = Reporter("cloud-sync-enabled", pair)
    if cloud.sync_enabled is True:
        return
    state = ("disabled: the tenant was synced but no longer is" if cloud.sync_enabled is False
             else "never enabled: the tenant has never been synced from on-premises")
    yield report(f"tenant {cloud.tenant_id}: directory synchronization is {state} "
                 "(organization.onPremisesSyncEnabled)",
                 tenant_id=cloud.tenant_id, on_premises_sync_enabled=cloud.sync_enabled)


# --- cloud-sync-fresh ------------------------------------------------------------------------------------

SYNC_FRESH_REMEDIATION = (
    "find the server that should be exporting (the active one, out of staging mode): check its ADSync "
    "service, Get-ADSyncScheduler (SyncCycleEnabled, StagingModeEnabled False) and the latest Export run on "
    "the Entra connector (Get-ADSyncRunProfileResult; e.g. stopped-deletion-threshold-exceeded, "
    "credential or connectivity errors), then Start-ADSyncSyncCycle -PolicyType Delta and re-check"
)


def _healthy(server: HostFacts) -> bool:
    """The server's own facts say it should be syncing: ADSync running, scheduler enabled, not suspended."""
    if not (server.has("service") and server.has("scheduler")):
        return False
    service, scheduler = server.service, server.scheduler
    return (service.exists and (service.status or "").lower() == "running"
            and scheduler.sync_cycle_enabled and not scheduler.scheduler_suspended)


def _servers_look_healthy(pair: PairFacts) -> bool:
    return bool(pair.servers) and all(_healthy(s) for s in pair.servers)


def _max_age_minutes(pair: PairFacts) -> float:
    value = threshold_float(pair, THRESHOLD_KEY)
    return DEFAULT_MAX_AGE_MINUTES if value is None else value


def _age_s(now: datetime, moment: datetime) -> float:
    return (now - aware(moment)).total_seconds()


@check(
    "cloud-sync-fresh",
    title="the tenant received a sync from on-premises recently",
    severity=Severity.HIGH,
    scope="pair",
    remediation=SYNC_FRESH_REMEDIATION,
    needs=("cloud",),
)
def cloud_sync_fresh(pair: PairFacts) -> Iterator[Finding]:
    cloud = pair.require_cloud()
    report = Reporter("cloud-sync-fresh", pair)
    limit_min = _max_age_minutes(pair)
    if cloud.last_sync is None:
        yield report(f"tenant {cloud.tenant_id}: no sync from on-premises ever reached the tenant "
                     "(organization.onPremisesLastSyncDateTime is empty)",
                     tenant_id=cloud.tenant_id, last_sync=None, threshold_minutes=limit_min)
        return
    now = now_of(pair)
    age = _age_s(now, cloud.last_sync)
    if age <= limit_min * 60:
        return
    last_sync = aware(cloud.last_sync)
    message = (f"tenant {cloud.tenant_id}: last sync from on-premises {human_age(age)} ago at "
               f"{last_sync:%Y-%m-%d %H:%M:%S}Z (threshold {limit_min:g} min)")
    values: dict[str, object] = {"tenant_id": cloud.tenant_id, "last_sync": last_sync.isoformat(),
                                 "age_minutes": round(age / 60, 1), "threshold_minutes": limit_min}
    remediation = SYNC_FRESH_REMEDIATION
    if _servers_look_healthy(pair):
        staged = [s.host for s in pair.servers if s.scheduler.staging_mode_enabled]
        if len(staged) == len(pair.servers):
            cause = "every server is in staging mode"
            remediation = ("take the intended active server out of staging mode (Entra Connect wizard > "
                           "Configure staging mode), after confirming the other one stays staged; "
                           + SYNC_FRESH_REMEDIATION)
        else:
            cause = "check the active server's Export runs to the Entra connector"
        message += (f", while every server looks healthy (ADSync running, scheduler enabled): nothing is "
                    f"exporting ({cause})")
        values["servers_look_healthy"] = True
        values["staging_servers"] = staged
    yield report(message, remediation=remediation, values=values)


# --- cloud-canary ----------------------------------------------------------------------------------------

CANARY_REMEDIATION = (
    "the canary user's changes do not reach the tenant: check the user is in a synced OU and in scope of "
    "the sync rules on the active server, that its last export succeeded, and that canary_user names its "
    "cloud userPrincipalName (or object id)"
)


def _no_canary(pair: PairFacts) -> str | None:
    if pair.cloud is not None and pair.cloud.canary is None:
        return f"{pair.name}: no canary_user in the pair's cloud block (name a synced test user to check it)"
    return None


@check(
    "cloud-canary",
    title="the canary user is synced and its last sync is recent",
    severity=Severity.HIGH,
    scope="pair",
    remediation=CANARY_REMEDIATION,
    needs=("cloud",),
    skip_if=_no_canary,
)
def cloud_canary(pair: PairFacts) -> Iterator[Finding]:
    cloud = pair.require_cloud()
    canary = cloud.canary
    if canary is None:  # no canary_user in the pair's cloud block: nothing to check
        return
    report = Reporter("cloud-canary", pair)
    limit_min = _max_age_minutes(pair)
    if not canary.found:
        yield report(f"canary user {canary.user} not found in tenant {cloud.tenant_id}",
                     remediation="create the canary user in a synced OU on-premises and let it sync, or fix "
                                 "canary_user in the inventory (the cloud userPrincipalName or object id)",
                     user=canary.user, found=False)
        return
    if canary.on_premises_last_sync is None:
        yield report(f"canary user {canary.user} has never been synced from on-premises "
                     "(onPremisesLastSyncDateTime is empty: it is a cloud-only user?)",
                     user=canary.user, last_sync=None, threshold_minutes=limit_min)
        return
    last_sync = aware(canary.on_premises_last_sync)
    age = _age_s(now_of(pair), last_sync)
    if age > limit_min * 60:
        yield report(f"canary user {canary.user}: last sync from on-premises {human_age(age)} ago at "
                     f"{last_sync:%Y-%m-%d %H:%M:%S}Z (threshold {limit_min:g} min)",
                     user=canary.user, last_sync=last_sync.isoformat(),
                     age_minutes=round(age / 60, 1), threshold_minutes=limit_min)
