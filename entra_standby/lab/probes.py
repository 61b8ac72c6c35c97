"""The ``data`` each probe returns on a simulated server, built from its state (docs/contracts.md §1).

Keys are the field names of the facts dataclasses; the lab does not import the harness, so the shapes are
spelled out here and a test compares them with ``entra_standby.facts.model``. Call under ``state.lock``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .state import (
    ALL_RIGHTS,
    EXPORT_COUNTERS,
    PHS_SOURCE,
    PWWB_SOURCE,
    TLS_VALUES,
    WELL_KNOWN_GROUP_SIDS,
    AppEvent,
    ConnectorState,
    Run,
    ServerState,
)
from .timefmt import ps_date, utc_now

PWWB_EVENT_IDS = (31015, 31016, 31019, 31034, 32002)  # reference §1.4
PHS_EVENT_IDS = (654,)  # probe-review [PHS-TS]
MAX_EVENTS = 200  # probes/password-sync.ps1 -MaxEvents's default


class ProbeFailedError(Exception):
    """A probe that ends with ok:false (its script caught a terminating error): kind and message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind

ADSYNC_CMDLET = {
    "scheduler": "Get-ADSyncScheduler",
    "run-history": "Get-ADSyncRunProfileResult",
    "connectors": "Get-ADSyncConnector",
    "config": "Get-ADSyncRule",
    "pending-exports": "Get-ADSyncConnectorStatistics",
}
"""Probes whose cmdlets live in the ADSync module (and need the ADSync service running): the first cmdlet
each one calls, which names the error when the module or the service is missing."""


ADSYNC_ADMIN_PROBES = frozenset({"config", "connectors"})
"""ADSync probes that read the sync configuration: refused to a caller outside ADSyncAdmins (the lab's reading
of Microsoft's "plan for ADSyncAdmins"; whether ADSyncOperators may read it is UNCONFIRMED). The other ADSync
probes also accept ADSyncOperators ("View of Synchronization Statistics for each run")."""

CONSTRAINED_LANGUAGE = (
    "this remote session runs in {mode} mode (WDAC/AppLocker policy or a restricted endpoint); the probes "
    "need FullLanguage: connect to an endpoint that runs in FullLanguage for the audit account"
)
"""What Assert-EsFullLanguage (probes/helpers/common.ps1) throws."""

WU_ACCESS_DENIED = (
    "AccessDenied: Exception calling \"GetTotalHistoryCount\" with \"0\" argument(s): \"Access is denied. "
    "(Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))\""
)
"""update_history_error for a caller that is not an administrator: [WUA] requires administrator privileges of
a remote caller; the exact call that fails first is UNCONFIRMED."""

REGISTRY_DENIED = "AccessDenied: Requested registry access is not allowed."
"""reboot_error when a marker key may not be read (.NET's SecurityException text); which markers a non-admin
may read is UNCONFIRMED, the lab denies them all."""


def adsync_access_refused(state: ServerState, probe: str) -> bool:
    """True when the audit account may not use the ADSync cmdlets this probe calls."""
    account = state.audit_account
    if account.member_of("ADSyncAdmins"):
        return False
    return probe in ADSYNC_ADMIN_PROBES or not account.member_of("ADSyncOperators")


def access_data(state: ServerState, params: dict[str, Any]) -> dict[str, Any]:
    """probes/access.ps1: whoami /user and /groups of the audit account (the label row becomes elevated)."""
    account = state.audit_account
    seed = int(hashlib.sha256(state.computer_name.encode()).hexdigest()[:8], 16)
    machine_sid = f"S-1-5-21-{seed}-{seed % 99991}-{seed % 7919}"
    groups = []
    for n, group in enumerate(account.groups):
        well_known = WELL_KNOWN_GROUP_SIDS.get(group.lower())
        if well_known is not None:
            groups.append({"name": f"BUILTIN\\{group}", "sid": well_known})
        elif group.lower().startswith("adsync"):
            groups.append({"name": f"{state.computer_name}\\{group}", "sid": f"{machine_sid}-{1010 + n}"})
        else:
            groups.append({"name": f"CONTOSO\\{group}", "sid": f"S-1-5-21-1004336348-1177238915-{2000 + n}"})
    return {
        "identity": account.identity,
        "sid": "S-1-5-21-1004336348-1177238915-682003330-1112",
        "language_mode": account.language_mode,
        "elevated": account.elevated,
        "groups": groups,
    }


def scheduler_data(state: ServerState) -> dict[str, Any]:
    s = state.scheduler
    return {
        "allowed_interval_s": s.allowed_interval_s,
        "effective_interval_s": s.effective_interval_s,
        "customized_interval_s": s.customized_interval_s,
        "next_policy_type": s.next_policy_type,
        "next_start_utc": ps_date(s.next_start),
        "purge_interval_s": s.purge_interval_s,
        "sync_cycle_enabled": s.sync_cycle_enabled,
        "maintenance_enabled": s.maintenance_enabled,
        "staging_mode_enabled": state.staging,
        "scheduler_suspended": s.scheduler_suspended,
        "sync_cycle_in_progress": state.sync_cycle_in_progress,
    }


def scheduler_probe_data(state: ServerState) -> dict[str, Any]:
    """probes/scheduler.ps1: the scheduler (as the actions also return it) and, read by the probe alone,
    Get-ADSyncSchedulerConnectorOverride: one row per connector, by identifier only (the property Microsoft's
    upgrade page reads; whether the object also names the connector is UNCONFIRMED, so the lab does not)."""
    rows = []
    for c in state.connectors:
        flags = state.connector_overrides.get(c.name, {})
        rows.append({"connector_identifier": c.identifier, "connector_name": None,
                     "full_import_required": bool(flags.get("full_import_required", False)),
                     "full_sync_required": bool(flags.get("full_sync_required", False))})
    return {**scheduler_data(state), "connector_overrides": {"overrides": rows, "error": None}}


ENTRA_CREDENTIAL_CMDLET = "Get-ADSyncEntraConnectorCredential"


def entra_identity_data(state: ServerState) -> dict[str, Any]:
    """connectors.ps1's entra_identity block: what Get-ADSyncEntraConnectorCredential gives, as the probe
    reports it (the lab's credential object carries its certificate's expiry; a null expiry is what the probe
    writes when neither the object nor Cert:\\LocalMachine\\My has one)."""
    spec = state.entra_identity
    kind = spec.get("identity_type")
    block: dict[str, Any] = {"identity_type": kind, "application_id": None, "certificate_thumbprint": None,
                             "certificate_not_after": None, "certificate_source": None,
                             "certificate_error": None, "error": None}
    if kind is None:
        # Builds before application-based authentication (2.5.3.0) have no such cmdlet.
        block["error"] = (
            f"CommandNotFound: The term '{ENTRA_CREDENTIAL_CMDLET}' is not recognized as the name of a "
            "cmdlet, function, script file, or operable program. Check the spelling of the name, or if a "
            "path was included, verify that the path is correct and try again.")
        return block
    if kind == "Application":
        not_after = spec.get("certificate_not_after")
        block.update(application_id=spec.get("application_id"),
                     certificate_thumbprint=spec.get("certificate_thumbprint"),
                     certificate_not_after=ps_date(not_after))
        if not_after is None:
            block["certificate_error"] = (
                f"no certificate expiry in {ENTRA_CREDENTIAL_CMDLET} (properties: ConnectorIdentityType, "
                "ApplicationId, CertificateThumbprint) nor in Cert:\\LocalMachine\\My")
        else:
            block["certificate_source"] = ENTRA_CREDENTIAL_CMDLET
    return block


def service_data(state: ServerState, params: dict[str, Any]) -> dict[str, Any]:
    name = str(params.get("servicename", "ADSync"))
    svc = state.service
    if name.lower() != svc.name.lower() or not svc.exists:
        return {
            "name": name,
            "exists": False,
            "status": None,
            "start_mode": None,
            "delayed_auto_start": None,
            "account": None,
        }
    return {
        "name": svc.name,
        "exists": True,
        "status": "Stopped" if state.adsync_stopped else svc.status,
        "start_mode": svc.start_mode,
        "delayed_auto_start": svc.delayed_auto_start,
        "account": svc.account,
    }


def version_data(state: ServerState, params: dict[str, Any]) -> dict[str, Any]:
    upgrade, reason, error = _auto_upgrade(state)
    return {
        "product_version": state.version,
        "display_version": state.display_version,
        "install_path": state.install_path,
        "auto_upgrade": upgrade,
        "auto_upgrade_reason": reason,
        "auto_upgrade_error": error,
        "database": _database(state),
    }


def _database(state: ServerState) -> dict[str, Any]:
    """version.ps1's database block: the Parameters values as the scenario sets them; for LocalDB the data
    file where the probe looks first (<install>\\Data\\<instance>\\<DBName>.mdf), or the error it gives."""
    spec = state.database
    block: dict[str, Any] = {
        "server": spec["server"], "sql_instance": spec["sql_instance"], "db_name": spec["db_name"],
        "data_file": None, "data_file_bytes": None, "registry_error": None, "data_file_error": None,
    }
    named = f"{spec['server'] or ''} {spec['sql_instance'] or ''}".lower()
    if "(localdb)" not in named:
        return block
    db_name = spec["db_name"] or "ADSync"
    instance_text = spec["sql_instance"] or ""
    if instance_text.strip().lower() in ("", "(localdb)"):
        instance_text = spec["server"] or ""
    parts = [p for p in instance_text.split("\\") if p not in ("", ".", "(localdb)")]
    folder = f"{state.install_path}\\Data"
    first = f"{folder}\\{parts[-1]}\\{db_name}.mdf" if parts else f"{folder}\\{db_name}.mdf"
    if spec["data_file_bytes"] is None:
        looked = f"{first}, {folder}\\{db_name}.mdf" if parts else first
        block["data_file_error"] = (f"no LocalDB data file found; looked at {looked} and {db_name}*.mdf "
                                    f"under {folder}")
    else:
        block["data_file"] = first
        block["data_file_bytes"] = spec["data_file_bytes"]
    return block


AUTO_UPGRADE_SETTING = "Microsoft.OptionalFeature.AutoUpgradeState"
"""The global setting Get-ADSyncAutoUpgrade reports (one source for the config and the version probes)."""

ADSYNC_NOT_FOUND = (
    "CommandNotFound: The specified module 'ADSync' was not loaded because no valid module file was found in "
    "any module directory."
)
ADSYNC_DOWN = (
    "Failed: Get-ADSyncAutoUpgrade : Unable to connect to the Synchronization Service. Some possible reasons "
    "are: 1) The service is not started. 2) Your account is not a member of the required security group. "
    "See the security section of the product documentation."
)


def _auto_upgrade(state: ServerState) -> tuple[str | None, str | None, str | None]:
    """version.ps1's Get-ADSyncAutoUpgrade read: (state, suspension reason, error). It goes through the sync
    service as the other ADSync cmdlets do (UNCONFIRMED for this one), so it fails as they do."""
    if not state.service.exists:
        return None, None, ADSYNC_NOT_FOUND
    if (state.adsync_stopped or state.service.status != "Running"
            or adsync_access_refused(state, "version")):
        return None, None, ADSYNC_DOWN
    value = state.global_settings.get(AUTO_UPGRADE_SETTING)
    reason = state.auto_upgrade_suspension_reason if value == "Suspended" else None
    return value, reason, None


def tls_data(state: ServerState, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "values": [
            {"path": path, "name": name, "value": state.tls.get(key)}
            for key, (path, name, _) in TLS_VALUES.items()
        ],
        "dotnet_release": state.dotnet_release,
    }


def os_data(state: ServerState, params: dict[str, Any]) -> dict[str, Any]:
    o = state.os
    admin = state.audit_account.local_admin
    history_error = o.update_history_error if admin else WU_ACCESS_DENIED
    limit = max(int(params.get("maxupdatehistory", 200)), 0)
    updates = sorted(o.updates, key=lambda u: u.date, reverse=True)[:limit]
    return {
        "caption": o.caption,
        "build": o.build,
        "ubr": o.ubr,
        "display_version": o.display_version,
        "installation_type": o.installation_type,
        "last_boot_utc": ps_date(o.last_boot),
        "updates": []
        if history_error
        else [
            {
                "date": ps_date(u.date),
                "title": u.title,
                "operation": u.operation,
                "result_code": u.result_code,
                "hresult": u.hresult,
            }
            for u in updates
        ],
        "update_history_error": history_error,
        "hotfixes": [{"id": kb, "installed_on": ps_date(when)} for kb, when in o.hotfixes],
        "reboot": dict(o.reboot) if admin else dict.fromkeys(o.reboot, False),
        "reboot_error": None if admin else REGISTRY_DENIED,
    }


RUN_TIMES_AS_UTC = "run_times_as_utc"
"""Set by the handler from the script sent: which run times the probe converts with -AssumeUtc."""


def run_times_as_utc(script: str) -> dict[str, bool]:
    """Whether run-history.ps1 reads StartDate / EndDate as UTC (``ConvertTo-EsUtcString ... -AssumeUtc``)."""
    found = {"start": False, "end": False}
    for line in script.splitlines():
        code = line.split("#", 1)[0]
        if "ConvertTo-EsUtcString" in code and "-AssumeUtc" in code:
            found["start"] = found["start"] or "$run.StartDate" in code
            found["end"] = found["end"] or "$run.EndDate" in code
    return found


def run_history_data(state: ServerState, params: dict[str, Any]) -> dict[str, Any]:
    limit = max(int(params.get("numberrequested", 100)), 0)
    runs = sorted(state.runs, key=lambda r: r.start, reverse=True)[:limit]
    as_utc = params.get(RUN_TIMES_AS_UTC, {"start": True, "end": True})
    # An Unspecified-kind UTC value that ToUniversalTime() takes for local time moves by minus the offset.
    shift = timedelta(minutes=state.utc_offset_minutes)

    def run_time(value: datetime | None, field: str) -> str | None:
        if value is None or as_utc.get(field, True):
            return ps_date(value)
        return ps_date(value - shift)

    newest_export: dict[str, str] = {}  # connector -> run id of its newest Export in this answer
    for r in runs:
        if r.profile == "Export":
            newest_export.setdefault(r.connector, r.run_history_id)

    def counters(r: Run) -> dict[str, int] | None:
        if newest_export.get(r.connector) != r.run_history_id:
            return None
        named = state.export_counters.get(r.connector, {})
        return {k: int(named.get(k, 0)) for k in EXPORT_COUNTERS}

    return {
        "runs": [
            {
                "run_history_id": r.run_history_id,
                "connector": r.connector,
                "profile": r.profile,
                "result": r.result,
                "start": run_time(r.start, "start"),
                "end": run_time(r.end, "end"),
                "complete": r.complete,
                "export_counters": counters(r),
                "export_counters_error": None,
            }
            for r in runs
        ],
        "busy_connectors": list(state.busy_connectors),
    }


def _permissions(state: ServerState, connector: ConnectorState) -> list[dict[str, Any]]:
    """The account's ACEs: grants set on the domain root, and on each synced OU the root's grants that inherit
    (inheritance other than None) plus those set on the OU itself."""
    if connector.domain_root is None or connector.account_user is None or connector.permissions_error:
        return []
    identity = f"{state.netbios_domain}\\{connector.account_user}"

    def ace(key: str, inherited: bool) -> dict[str, Any]:
        spec = ALL_RIGHTS[key]
        return {
            "identity": identity,
            "rights": list(spec.rights),
            "access": "Allow",
            "object_type": spec.object_type,
            "inherited_object_type": spec.inherited_object_type,
            "inheritance": spec.inheritance,
            "inherited": inherited,
        }

    entries = [
        {
            "object_dn": connector.domain_root,
            "scope": "domain-root",
            "aces": [ace(key, False) for key in connector.rights if ALL_RIGHTS[key].on == "root"],
        }
    ]
    for partition in connector.partitions:
        for ou in partition.inclusions:
            if ou.lower() == connector.domain_root.lower():
                continue
            entries.append(
                {
                    "object_dn": ou,
                    "scope": "ou",
                    "aces": [
                        ace(key, True)
                        for key in connector.rights
                        if ALL_RIGHTS[key].on == "root" and ALL_RIGHTS[key].inheritance != "None"
                    ]
                    + [ace(key, False) for key in connector.rights if ALL_RIGHTS[key].on == "ou"],
                }
            )
    return entries


def connectors_data(state: ServerState, params: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for c in state.connectors:
        account = None
        if c.account is not None:
            a = c.account
            account = {
                "found": a.found,
                "distinguished_name": a.distinguished_name,
                "sid": a.sid,
                "enabled": a.enabled,
                "locked_out": a.locked_out,
                "password_expired": a.password_expired,
                "password_never_expires": a.password_never_expires,
                "password_last_set": ps_date(a.password_last_set),
            }
        rows.append(
            {
                "name": c.name,
                "identifier": c.identifier,
                "type": c.type,
                "forest": c.forest,
                "account_user": c.account_user,
                "account_domain": c.account_domain,
                "account": account,
                "permissions": _permissions(state, c),
                "permissions_error": c.permissions_error,
                "permissions_error_kind": c.permissions_error_kind if c.permissions_error else None,
            }
        )
    return {"connectors": rows, "entra_identity": entra_identity_data(state)}


def config_data(state: ServerState, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "server_configuration_version": state.server_configuration_version,
        "connectors": [
            {
                "name": c.name,
                "identifier": c.identifier,
                "type": c.type,
                "partitions": [
                    {
                        "name": p.name,
                        "selected": p.selected,
                        "inclusions": sorted(p.inclusions),
                        "exclusions": sorted(p.exclusions),
                        "object_classes": sorted(p.object_classes),
                    }
                    for p in c.partitions
                ],
                "attribute_inclusions_hash": c.attribute_inclusions_hash,
            }
            for c in state.connectors
        ],
        "rules": [dict(rule) for rule in sorted(state.rules, key=lambda r: (r["connector"], r["name"]))],
        "features": dict(state.features),
        "source_anchor": state.source_anchor,
        "deletion_threshold": deletion_threshold_data(state.deletion_threshold),
        "feature_errors": dict(state.feature_errors),
        "company_features": dict(state.company_features),
        "global_settings": dict(state.global_settings),
    }


_THRESHOLD_SETTING = "Microsoft.OptionalFeature.ExportDeletionThreshold"


def deletion_threshold_data(spec: dict[str, Any]) -> dict[str, Any]:
    """What config.ps1 makes of the global settings ExportDeletionThreshold(Value) (and a percentage)."""
    enabled, count, percentage = spec.get("enabled"), spec.get("threshold"), spec.get("percentage")
    mode = "percentage" if percentage is not None else ("count" if enabled is not None else None)
    error = None
    if enabled is None:
        error = f"global setting {_THRESHOLD_SETTING} is not set on this server"
    elif enabled and mode == "count" and count is None:
        error = f"global setting {_THRESHOLD_SETTING}Value is not set on this server"
    return {"enabled": enabled, "threshold": count, "mode": mode, "percentage": percentage, "error": error}


def pending_exports_data(state: ServerState, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "connectors": [
            {"connector": name, "adds": p.adds, "updates": p.updates, "deletes": p.deletes}
            for name, p in state.pending_exports.items()
        ],
        "source": "Get-ADSyncConnectorStatistics",
    }


def machine_data(state: ServerState, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "computer_name": state.computer_name,
        "domain": state.domain,
        "sync_machine_identifier": state.sync_machine_identifier,
        "adsynctools_versions": list(state.adsynctools_versions),
        "proxy": {
            **state.proxy,
            "bypass_list": sorted(state.proxy.get("bypass_list") or []),
            "machine_config_error": None,
            "winhttp_error": None,
        },
        "health_agent": {"services": [dict(row) for row in state.health_agent], "error": None},
    }


def password_sync_data(state: ServerState, params: dict[str, Any]) -> dict[str, Any]:
    """probes/password-sync.ps1: PHS partition state, writeback and PHS heartbeat events since SinceUtc."""
    since_text = params.get("sinceutc")
    if since_text in (None, ""):
        since = utc_now() - timedelta(days=1)
    else:
        try:
            since = datetime.fromisoformat(str(since_text).replace("Z", "+00:00"))
        except ValueError:
            raise ProbeFailedError(
                "Failed", f"SinceUtc '{since_text}' is not an ISO 8601 date and time") from None
        since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
    most = int(params.get("maxevents", MAX_EVENTS))  # [int] binding, as for NumberRequested
    if most < 1:
        raise ProbeFailedError("Failed", f"MaxEvents {most} must be 1 or more")

    def events(source: str, ids: tuple[int, ...], after: datetime | None = since,
               limit: int = most) -> list[dict[str, Any]]:
        chosen: list[AppEvent] = [e for e in state.events if e.source == source and e.event_id in ids
                                  and (after is None or e.time >= after)]
        return [{"id": e.event_id, "time_utc": ps_date(e.time), "provider": e.source,
                 "message": e.message}
                for e in sorted(chosen, key=lambda e: e.time, reverse=True)[:limit]]

    partitions_error = None
    if not state.service.exists:
        partitions_error = ("The term 'Get-ADSyncPartitionPasswordSyncState' is not recognized as the name "
                            "of a cmdlet, function, script file, or operable program.")
    elif state.adsync_stopped or state.service.status != "Running":
        partitions_error = ("Get-ADSyncPartitionPasswordSyncState : Unable to connect to the "
                            "Synchronization Service.")
    return {
        "since_utc": ps_date(since),
        "partitions": [] if partitions_error else [
            {
                "connector_id": p.connector_id,
                "dn": p.dn,
                "last_successful_cycle_start_utc": ps_date(p.last_successful_start),
                "last_successful_cycle_end_utc": ps_date(p.last_successful_end),
                "last_cycle_start_utc": ps_date(p.last_start),
                "last_cycle_end_utc": ps_date(p.last_end),
                "last_cycle_status": p.last_status,
            }
            for p in state.password_sync
        ],
        "partitions_error": partitions_error,
        "writeback_events": events(PWWB_SOURCE, PWWB_EVENT_IDS),
        "writeback_events_error": None,
        "phs_events": events(PHS_SOURCE, PHS_EVENT_IDS),
        "phs_events_error": None,
        # the newest start/stop whatever its age (Get-WinEvent -MaxEvents 1, no StartTime)
        "writeback_state_event": next(iter(events(PWWB_SOURCE, (31015, 31016), None, 1)), None),
        "writeback_state_error": None,
    }


PROBE_DATA: dict[str, Callable[[ServerState, dict[str, Any]], dict[str, Any]]] = {
    "access": access_data,
    "scheduler": lambda state, params: scheduler_probe_data(state),
    "service": service_data,
    "version": version_data,
    "tls": tls_data,
    "os": os_data,
    "run-history": run_history_data,
    "connectors": connectors_data,
    "config": config_data,
    "pending-exports": pending_exports_data,
    "machine": machine_data,
    "password-sync": password_sync_data,
}
"""Probe name -> data builder (params keyed by lower-case parameter name)."""

PROBE_PARAMETERS: dict[str, tuple[str, ...]] = {
    "service": ("servicename",),
    "os": ("maxupdatehistory",),
    "run-history": ("numberrequested",),
    "password-sync": ("sinceutc", "maxevents"),
}
"""The ``param()`` block of each probe (lower case, in declaration order, which is also the positional
order); passing anything else fails like PowerShell does."""
