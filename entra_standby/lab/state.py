"""What one simulated Entra Connect server holds, and the healthy defaults of an HA pair.

A scenario is the healthy pair (``default_server_spec``) deep-merged with what differs; ``from_spec``
turns the merged, validated spec into live state. The wire calls the engine from worker threads and the sync
cycle runs in its own thread, so every read and change of live state happens under ``ServerState.lock``.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .timefmt import resolve_time

ENTRA_CONNECTOR_ID = "b891884f-051e-4a83-95af-2544101c9083"  # fixed for every install (reference §2.2)
ZERO_GUID = "00000000-0000-0000-0000-000000000000"
USER_CLASS_GUID = "bf967aba-0de6-11d0-a285-00aa003049e2"  # schemaIDGUID of the user class

# The eight TLS 1.2 values (reference §4.1): short key -> (registry path, value name, compliant data).
_NETFX_WOW = "HKLM:\\SOFTWARE\\WOW6432Node\\Microsoft\\.NETFramework\\v4.0.30319"
_NETFX = "HKLM:\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319"
_SCHANNEL = "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.2"
TLS_VALUES: dict[str, tuple[str, str, int]] = {
    "netfx_wow64_system_default_tls_versions": (_NETFX_WOW, "SystemDefaultTlsVersions", 1),
    "netfx_wow64_sch_use_strong_crypto": (_NETFX_WOW, "SchUseStrongCrypto", 1),
    "netfx_system_default_tls_versions": (_NETFX, "SystemDefaultTlsVersions", 1),
    "netfx_sch_use_strong_crypto": (_NETFX, "SchUseStrongCrypto", 1),
    "schannel_server_enabled": (_SCHANNEL + "\\Server", "Enabled", 1),
    "schannel_server_disabled_by_default": (_SCHANNEL + "\\Server", "DisabledByDefault", 0),
    "schannel_client_enabled": (_SCHANNEL + "\\Client", "Enabled", 1),
    "schannel_client_disabled_by_default": (_SCHANNEL + "\\Client", "DisabledByDefault", 0),
}


@dataclass(frozen=True)
class RightSpec:
    """One delegation ADSyncConfig grants (reference §6.2), as the ACE it produces."""

    scope: (
        str  # domain-root: granted on the NC root for this object only; ou: inherited to users on synced OUs
    )
    rights: tuple[str, ...]
    object_type: str
    inherited_object_type: str = ZERO_GUID
    inheritance: str = "None"
    on: str = "root"  # root: set on the domain root (ADSyncConfig's default); ou: set on each synced OU


RIGHTS: dict[str, RightSpec] = {
    "read_all": RightSpec("ou", ("ReadProperty",), ZERO_GUID, USER_CLASS_GUID, "Descendents"),
    "replicating_directory_changes": RightSpec(
        "domain-root", ("ExtendedRight",), "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2"
    ),
    "replicating_directory_changes_all": RightSpec(
        "domain-root", ("ExtendedRight",), "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2"
    ),
    "reset_password": RightSpec(
        "ou", ("ExtendedRight",), "00299570-246d-11d0-a768-00aa006e0529", USER_CLASS_GUID, "Descendents"
    ),
    "unexpire_password": RightSpec(
        "ou", ("ExtendedRight",), "ccc2dc7d-a6ad-4a7a-8846-c04e3cc53501", USER_CLASS_GUID, "Descendents"
    ),
    "write_lockout_time": RightSpec(
        "ou",
        ("ReadProperty", "WriteProperty"),
        "28630ebf-41d5-11d1-a9c1-0000f80367c1",
        USER_CLASS_GUID,
        "Descendents",
    ),
    "write_pwd_last_set": RightSpec(
        "ou",
        ("ReadProperty", "WriteProperty"),
        "bf967a0a-0de6-11d0-a285-00aa003049e2",
        USER_CLASS_GUID,
        "Descendents",
    ),
    "write_consistency_guid": RightSpec(
        "ou",
        ("ReadProperty", "WriteProperty"),
        "23773dc2-b63a-11d2-90e1-00c04fd91ab1",
        USER_CLASS_GUID,
        "Descendents",
    ),
}
"""Rights a healthy PHS + password-writeback + ms-DS-ConsistencyGuid install grants its MSOL_ account."""

MISSCOPED_RIGHTS: dict[str, RightSpec] = {
    # The right, but inherit-only: it reaches the objects below the root, not the root, where replication
    # rights are checked.
    "replicating_directory_changes_inherit_only": RightSpec(
        "domain-root", ("ExtendedRight",), "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2", inheritance="Descendents"
    ),
    "replicating_directory_changes_all_inherit_only": RightSpec(
        "domain-root", ("ExtendedRight",), "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2", inheritance="Descendents"
    ),
    # Reset Password set on each OU for "this object only": no user below it inherits it.
    "reset_password_ou_object_only": RightSpec(
        "ou", ("ExtendedRight",), "00299570-246d-11d0-a768-00aa006e0529", on="ou"
    ),
}
"""Grants a hand-made delegation gets wrong (ACE scope), for scenarios; never part of a healthy install."""

ALL_RIGHTS: dict[str, RightSpec] = {**RIGHTS, **MISSCOPED_RIGHTS}

# Drift-relevant global settings as the config probe reports them (text; lists sorted; None = unset).
DEFAULT_GLOBAL_SETTINGS: dict[str, str | None] = {
    "Microsoft.UserSignIn.SignOnMethod": "PasswordHashSync",
    "Microsoft.UserSignIn.DesktopSsoEnabled": "False",
    "Microsoft.SynchronizationOption.UPNAttribute": "userPrincipalName",
    "Microsoft.SynchronizationOption.JoinCriteria": "AlwaysProvision",
    "Microsoft.OptionalFeature.DirectoryExtensionAttributes": None,
    "Microsoft.OptionalFeature.GroupFiltering": "False",
    "Microsoft.AADFilter.AttributeExclusionList": None,
    "Microsoft.AADFilter.ApplicationList": None,
    "Microsoft.GroupWriteBack.Forest": None,
    "Microsoft.GroupWriteBack.Container": None,
    "Microsoft.DeviceWriteBack.Forest": None,
    "Microsoft.DeviceWriteBack.Container": None,
    "Microsoft.OptionalFeature.AutoUpgradeState": "Enabled",
}

RUN_PROFILES = ("Full Import", "Delta Import", "Full Synchronization", "Delta Synchronization", "Export")


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "entra-standby-lab/" + "/".join(parts)))


# --- the healthy default spec ----------------------------------------------------------------------------

DEFAULT_SERVERS: dict[str, tuple[str, str]] = {
    "aadc01": ("active", "127.0.0.11"),
    "aadc02": ("standby", "127.0.0.12"),
}
AD_CONNECTOR = "contoso.com"
ENTRA_CONNECTOR = "contoso.onmicrosoft.com - AAD"
CUSTOM_RULE = "Custom - In from AD - User extensionAttribute1"


def _standard_rules() -> dict[str, dict[str, Any]]:
    rows: list[tuple[str, str, str, int, str | None, str, str, str]] = [
        (
            "In from AD - User Join",
            AD_CONNECTOR,
            "Inbound",
            100,
            "Microsoft.InfromADUserJoin.010",
            "user",
            "person",
            "Provision",
        ),
        (
            "In from AD - User AccountEnabled",
            AD_CONNECTOR,
            "Inbound",
            101,
            "Microsoft.InfromADUserAccountEnabled.010",
            "user",
            "person",
            "Join",
        ),
        (
            "In from AD - User Common",
            AD_CONNECTOR,
            "Inbound",
            104,
            "Microsoft.InfromADUserCommon.010",
            "user",
            "person",
            "Join",
        ),
        (
            "In from AD - Group Join",
            AD_CONNECTOR,
            "Inbound",
            110,
            "Microsoft.InfromADGroupJoin.010",
            "group",
            "group",
            "Provision",
        ),
        (
            "In from AAD - User Join",
            ENTRA_CONNECTOR,
            "Inbound",
            125,
            "Microsoft.InfromAADUserJoin.010",
            "user",
            "person",
            "Join",
        ),
        (
            "Out to AAD - User Join",
            ENTRA_CONNECTOR,
            "Outbound",
            120,
            "Microsoft.OuttoAADUserJoin.010",
            "person",
            "user",
            "Provision",
        ),
        (
            "Out to AAD - User Identity",
            ENTRA_CONNECTOR,
            "Outbound",
            121,
            "Microsoft.OuttoAADUserIdentity.010",
            "person",
            "user",
            "Join",
        ),
        (
            "Out to AAD - Group Join",
            ENTRA_CONNECTOR,
            "Outbound",
            130,
            "Microsoft.OuttoAADGroupJoin.010",
            "group",
            "group",
            "Provision",
        ),
        (
            "Out to AD - User Password Writeback",
            AD_CONNECTOR,
            "Outbound",
            140,
            "Microsoft.OuttoADUserPasswordWriteback.010",
            "person",
            "user",
            "Join",
        ),
    ]
    # A custom rule has no immutable tag: that is what tells it from a standard one.
    rows.append((CUSTOM_RULE, AD_CONNECTOR, "Inbound", 50, None, "user", "person", "Join"))
    return {
        name: {
            "connector": connector,
            # Rule properties the probe reads beyond the hashes (community SyncRule model, UNCONFIRMED).
            "enable_password_sync": name == "In from AD - User Join",
            "soft_delete_expiry_interval_s": 0.0,
            "version_agnostic_tag": tag.rsplit(".", 1)[0] if tag else None,
            "tag_version": tag.rsplit(".", 1)[1] if tag else None,
            "direction": direction,
            "precedence": precedence,
            "disabled": False,
            "immutable_tag": tag,
            "is_standard": tag is not None,
            "source_object_type": source,
            "target_object_type": target,
            "link_type": link,
            "scope_hash": _hash(name, "scope"),
            "join_hash": _hash(name, "join"),
            "flows_hash": _hash(name, "flows"),
        }
        for name, connector, direction, precedence, tag, source, target, link in rows
    }


def default_server_spec(name: str, role: str, address: str, start: datetime) -> dict[str, Any]:
    """The healthy spec of one server; relative times are strings resolved against lab start later."""
    upper = name.upper()
    seed = hashlib.sha256(name.encode()).hexdigest()
    msol = f"MSOL_{seed[:12]}"
    staging = role != "active"
    cu_date = start - timedelta(days=4)
    older_cu = start - timedelta(days=34)
    cu_kb, older_kb = "KB5070884", "KB5066782"

    def cu_title(month: datetime, kb: str) -> str:
        return (f"{month:%Y-%m} Cumulative Update for Microsoft server operating system version 21H2 "
                f"for x64-based Systems ({kb})")

    netfx_title = (
        f"{cu_date:%Y-%m} Cumulative Update for .NET Framework 3.5, 4.8 and 4.8.1 for Microsoft server "
        "operating system version 21H2 for x64 (KB5068859)"
    )
    return {
        "role": role,
        "address": address,
        "computer_name": upper,
        "domain": "contoso.com",
        "version": "2.5.79.0",
        "display_version": None,  # None: same as version
        "install_path": "C:\\Program Files\\Microsoft Azure AD Sync",
        "staging": staging,
        "server_configuration_version": None,  # None: same as version
        "scheduler": {
            "allowed_interval_s": 1800,
            "customized_interval_s": None,
            "next_policy_type": "Delta",
            "next_start": None,  # None: newest cycle + effective interval
            "purge_interval_s": 604800,
            "sync_cycle_enabled": True,
            "maintenance_enabled": True,
            "scheduler_suspended": False,
        },
        "service": {
            "name": "ADSync",
            "exists": True,
            "status": "Running",
            "start_mode": "Auto",
            "delayed_auto_start": True,
            "account": "NT SERVICE\\ADSync",
        },
        "tls": {key: compliant for key, (_, _, compliant) in TLS_VALUES.items()},
        "dotnet_release": 528449,
        "os": {
            "caption": "Microsoft Windows Server 2022 Standard",
            "build": 20348,
            "ubr": 4405,
            "display_version": "21H2",
            "installation_type": "Server",
            "last_boot": "-4d",
            "updates": [
                {
                    "date": "-1d",
                    "title": "Security Intelligence Update for Microsoft Defender Antivirus - "
                    "KB2267602 (Version 1.441.112.0) - Current Channel (Broad)",
                    "operation": 1,
                    "result_code": 2,
                    "hresult": 0,
                },
                {"date": "-4d", "title": cu_title(cu_date, cu_kb), "operation": 1, "result_code": 2,
                 "hresult": 0},
                {"date": "-4d", "title": netfx_title, "operation": 1, "result_code": 2, "hresult": 0},
                {"date": "-34d", "title": cu_title(older_cu, older_kb), "operation": 1, "result_code": 2,
                 "hresult": 0},
            ],
            "update_history_error": None,
            "hotfixes": [{"id": cu_kb, "installed_on": "-4d"}, {"id": older_kb, "installed_on": "-34d"}],
            "reboot": {
                "cbs_reboot_pending": False,
                "cbs_reboot_in_progress": False,
                "cbs_packages_pending": False,
                "wu_reboot_required": False,
                "pending_file_rename": False,
                "computer_rename_pending": False,
                "netlogon_pending": False,
                "update_exe_volatile": False,
            },
        },
        "connectors": {
            AD_CONNECTOR: {
                "type": "AD",
                "identifier": _guid(name, AD_CONNECTOR),
                "forest": "contoso.com",
                "account_user": msol,
                "account_domain": "contoso.com",
                "account": {
                    "found": True,
                    "distinguished_name": f"CN={msol},CN=Users,DC=contoso,DC=com",
                    "sid": f"S-1-5-21-1004336348-1177238915-682003330-{int(seed[:4], 16) + 1100}",
                    "enabled": True,
                    "locked_out": False,
                    "password_expired": False,
                    "password_never_expires": True,
                    "password_last_set": "-400d",
                },
                "rights": list(RIGHTS),
                "permissions_error": None,
                "permissions_error_kind": None,
                "domain_root": "DC=contoso,DC=com",
                "partitions": {
                    "DC=contoso,DC=com": {
                        "selected": True,
                        "inclusions": ["OU=Staff,DC=contoso,DC=com", "OU=Groups,DC=contoso,DC=com"],
                        "exclusions": [],
                        "object_classes": ["user", "group", "contact", "inetOrgPerson"],
                    }
                },
                "attribute_inclusions_hash": _hash(AD_CONNECTOR, "attributes"),
            },
            ENTRA_CONNECTOR: {
                "type": "Extensible2",
                "identifier": ENTRA_CONNECTOR_ID,
                "forest": None,
                "account_user": f"Sync_{upper}_{seed[12:24]}@contoso.onmicrosoft.com",
                "account_domain": None,
                "account": None,
                "rights": [],
                "permissions_error": None,
                "permissions_error_kind": None,
                "domain_root": None,
                "partitions": {
                    "default": {
                        "selected": True,
                        "inclusions": [],
                        "exclusions": [],
                        "object_classes": ["user", "group", "contact", "device"],
                    }
                },
                "attribute_inclusions_hash": _hash(ENTRA_CONNECTOR, "attributes"),
            },
        },
        "rules": _standard_rules(),
        "features": {
            "password_hash_sync": True,
            "password_writeback": True,
            "group_writeback": False,
            "device_writeback": False,
            "exchange_hybrid": False,
            "directory_extensions": False,
        },
        "feature_errors": {},  # feature -> the error a failed Get-ADSyncAAD*Configuration read gave
        "company_features": {"password_hash_sync": True, "password_writeback": True},
        "global_settings": dict(DEFAULT_GLOBAL_SETTINGS),
        # Get-ADSyncAutoUpgrade -Detail's reason while the AutoUpgradeState global setting is Suspended.
        "auto_upgrade_suspension_reason": None,
        # ADSync\Parameters Server / SQLInstance / DBName and the LocalDB data file's size (version probe);
        # data_file_bytes None on LocalDB: no data file where the probe looks.
        "database": {"server": "(localdb)", "sql_instance": ".\\ADSync2019", "db_name": "ADSync",
                     "data_file_bytes": 1_310_720_000},
        # How the Entra connector authenticates (connectors probe, Get-ADSyncEntraConnectorCredential):
        # application-based authentication, the default from 2.5.3.0 (onboarded automatically from
        # 2.5.74.0), its own application per server and a certificate rotated well before expiry.
        # identity_type null: the cmdlet fails; certificate_not_after null: the probe finds no expiry. The
        # legacy Sync_* account stays in the connector's parameters until someone removes it (Learn
        # recommends it), so account_user is kept.
        "entra_identity": {
            "identity_type": "Application",
            "application_id": _guid(name, "ConnectSyncProvisioning"),
            "certificate_thumbprint": _hash(name, "aba-certificate")[:40].upper(),
            "certificate_not_after": "+300d",
        },
        # Get-ADSyncSchedulerConnectorOverride (scheduler probe): connector name -> the full steps its next
        # cycle runs ({full_import_required, full_sync_required}); a completed cycle clears them.
        "connector_overrides": {},
        # PHS and password writeback evidence at lab start (password-sync probe): the partitions' last
        # successful PHS cycle and the newest event of each kind; None = never. An active pushes hashes every
        # 2 minutes and its writeback service started with the server; a staging server does neither.
        "password_evidence": {
            "phs_last_success": None if staging else "-2m",
            "phs_last_status": None if staging else "Successful",
            "phs_heartbeat": None if staging else "-2m",  # event 654
            "writeback_started": None if staging else "-4d",  # 31015, at the last boot
            "writeback_stopped": None,  # 31016
            "writeback_heartbeat": None if staging else "-2m",  # 31019
            "writeback_error": None,  # 32002 ServiceBusError (outbound 443 to the relay blocked)
        },
        # The Connect Health sync agent's services (machine probe): installed, running, automatic.
        "health_agent": [
            {"name": n, "exists": True, "state": "Running", "start_mode": "Auto", "version": "4.5.2466.0"}
            for n in ("AzureADConnectHealthSyncInsights", "AzureADConnectHealthSyncMonitor")
        ],
        # No proxy anywhere (direct access): machine.config without <defaultProxy>, WinHTTP reset.
        "proxy": {
            "default_proxy_found": False,
            "default_proxy_enabled": None,
            "proxy_address": None,
            "use_system_default": None,
            "bypass_on_local": None,
            "bypass_list": [],
            "winhttp_proxy": None,
            "winhttp_bypass": None,
        },
        "source_anchor": "mS-DS-ConsistencyGuid",
        # Global settings ExportDeletionThreshold(Value); percentage: a percentage-mode threshold.
        "deletion_threshold": {"enabled": True, "threshold": 500, "percentage": None},
        "pending_exports": {
            AD_CONNECTOR: {"adds": 0, "updates": 0, "deletes": 0},
            ENTRA_CONNECTOR: {"adds": 0, "updates": 3, "deletes": 0},
        },
        # The standby's value is in the 'N' form (32 hex digits), as Microsoft's own fix procedure writes it.
        "sync_machine_identifier": _guid(name, "SyncMachineIdentifier")
        if role == "active"
        else uuid.UUID(_guid(name, "SyncMachineIdentifier")).hex,
        "adsynctools_versions": ["2.4.0"],
        "utc_offset_minutes": 0,  # the server's time zone (UTC+10: 600)
        # The audit account's logon token in a remote session (probes/access.ps1): the rights the documented
        # prerequisites ask for (docs/real-server.md): local Administrators, unfiltered, and ADSyncAdmins.
        "audit_account": {
            "identity": "CONTOSO\\svc-entra-audit",
            "groups": ["Administrators", "Remote Management Users", "ADSyncAdmins", "ADSyncBrowse"],
            "elevated": True,
            "language_mode": "FullLanguage",
        },
        "run_history": {
            "last_cycle": "-12m",
            "cycles": 6,
            "step_seconds": 20,
            "runs": None,
            "results": {},
            "results_since": None,
            "export_counters": {},  # connector -> {failure: 12, ...}: the newest Export's step counters
        },
    }


# --- live state ------------------------------------------------------------------------------------------


@dataclass
class SharedSchedule:
    """The scheduler settings stored in the tenant, one object for every server of the pair.

    [SCHED] (how-to-connect-sync-feature-scheduler): "The scheduler configuration is stored in Microsoft Entra
    ID. If you have a staging server, any change on the primary server also affects the staging server
    (except IsStagingModeEnabled)." Writes happen under ``lock`` (taken after a server's own lock, never
    before it).
    """

    allowed_interval_s: float
    customized_interval_s: float | None
    next_policy_type: str
    purge_interval_s: float
    sync_cycle_enabled: bool
    maintenance_enabled: bool
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)


TENANT_SCHEDULER_FIELDS = ("allowed_interval_s", "customized_interval_s", "next_policy_type",
                           "purge_interval_s", "sync_cycle_enabled", "maintenance_enabled")
"""Scheduler settings shared by the pair; next_start and scheduler_suspended stay per server."""


def shared_schedule_from_spec(sched: dict[str, Any]) -> SharedSchedule:
    custom = sched["customized_interval_s"]
    return SharedSchedule(
        allowed_interval_s=float(sched["allowed_interval_s"]),
        customized_interval_s=None if custom is None else float(custom),
        next_policy_type=str(sched["next_policy_type"]),
        purge_interval_s=float(sched["purge_interval_s"]),
        sync_cycle_enabled=bool(sched["sync_cycle_enabled"]),
        maintenance_enabled=bool(sched["maintenance_enabled"]),
    )


@dataclass
class Scheduler:
    """One server's view of the scheduler: its own next start and suspension, the pair's shared settings
    (the six properties below read and write the one ``SharedSchedule`` of the pair)."""

    shared: SharedSchedule
    next_start: datetime | None
    scheduler_suspended: bool

    @property
    def allowed_interval_s(self) -> float:
        return self.shared.allowed_interval_s

    @allowed_interval_s.setter
    def allowed_interval_s(self, value: float) -> None:
        with self.shared.lock:
            self.shared.allowed_interval_s = value

    @property
    def customized_interval_s(self) -> float | None:
        return self.shared.customized_interval_s

    @customized_interval_s.setter
    def customized_interval_s(self, value: float | None) -> None:
        with self.shared.lock:
            self.shared.customized_interval_s = value

    @property
    def next_policy_type(self) -> str:
        return self.shared.next_policy_type

    @next_policy_type.setter
    def next_policy_type(self, value: str) -> None:
        with self.shared.lock:
            self.shared.next_policy_type = value

    @property
    def purge_interval_s(self) -> float:
        return self.shared.purge_interval_s

    @purge_interval_s.setter
    def purge_interval_s(self, value: float) -> None:
        with self.shared.lock:
            self.shared.purge_interval_s = value

    @property
    def sync_cycle_enabled(self) -> bool:
        return self.shared.sync_cycle_enabled

    @sync_cycle_enabled.setter
    def sync_cycle_enabled(self, value: bool) -> None:
        with self.shared.lock:
            self.shared.sync_cycle_enabled = value

    @property
    def maintenance_enabled(self) -> bool:
        return self.shared.maintenance_enabled

    @maintenance_enabled.setter
    def maintenance_enabled(self, value: bool) -> None:
        with self.shared.lock:
            self.shared.maintenance_enabled = value

    @property
    def effective_interval_s(self) -> float:
        with self.shared.lock:
            custom, allowed = self.shared.customized_interval_s, self.shared.allowed_interval_s
        return custom if custom is not None and custom >= allowed else allowed


@dataclass
class Service:
    name: str
    exists: bool
    status: str | None
    start_mode: str | None
    delayed_auto_start: bool | None
    account: str | None


@dataclass
class UpdateRecord:
    date: datetime
    title: str
    operation: int
    result_code: int
    hresult: int = 0


WELL_KNOWN_GROUP_SIDS = {
    "administrators": "S-1-5-32-544",
    "users": "S-1-5-32-545",
    "remote management users": "S-1-5-32-580",
}
"""Built-in groups by their well-known SIDs (learn.microsoft.com/windows-server/identity/ad-ds/manage/
understand-security-identifiers); other groups get a SID made from the server's name."""


@dataclass(frozen=True)
class AuditAccount:
    """The audit account as the server sees it in a remote session (whoami /user /groups)."""

    identity: str
    groups: tuple[str, ...] = ("Administrators", "Remote Management Users", "ADSyncAdmins", "ADSyncBrowse")
    elevated: bool | None = True
    language_mode: str = "FullLanguage"

    def member_of(self, group: str) -> bool:
        return any(g.lower() == group.lower() for g in self.groups)

    @property
    def local_admin(self) -> bool:
        return self.member_of("Administrators") and self.elevated is not False


@dataclass
class OsState:
    caption: str
    build: int
    ubr: int
    display_version: str | None
    installation_type: str | None
    last_boot: datetime | None
    updates: list[UpdateRecord]
    update_history_error: str | None
    hotfixes: list[tuple[str, datetime | None]]
    reboot: dict[str, bool]


EXPORT_COUNTERS = ("add", "update", "rename", "delete", "delete_add", "failure")
"""The export counters of a run step (MIIS run history <export-counters>), as the probe names them."""


@dataclass
class Run:
    run_history_id: str
    connector: str
    profile: str
    result: str
    start: datetime
    end: datetime | None
    complete: bool


@dataclass
class Account:
    found: bool
    distinguished_name: str | None
    sid: str | None
    enabled: bool | None
    locked_out: bool | None
    password_expired: bool | None
    password_never_expires: bool | None
    password_last_set: datetime | None


@dataclass
class PartitionState:
    name: str
    selected: bool
    inclusions: list[str]
    exclusions: list[str]
    object_classes: list[str]


@dataclass
class ConnectorState:
    name: str
    type: str
    identifier: str
    forest: str | None
    account_user: str | None
    account_domain: str | None
    account: Account | None
    rights: list[str]  # keys of RIGHTS granted to the account
    permissions_error: str | None
    permissions_error_kind: str | None  # "double-hop": the AD reads failed for want of delegation
    domain_root: str | None
    partitions: list[PartitionState]
    attribute_inclusions_hash: str | None

    @property
    def is_entra(self) -> bool:
        return self.type != "AD"


@dataclass
class PendingCounts:
    adds: int
    updates: int
    deletes: int


PWWB_SOURCE = "PasswordResetService"  # reference §1.4 (SSPR writeback troubleshooting page)
PHS_SOURCE = "Directory Synchronization"  # probe-review [PHS-TS]: PHS heartbeat event 654
_EVENT_TEXT = {
    31015: "WriteBackServiceStarted: the password writeback service started and is ready to accept requests.",
    31016: "WriteBackServiceStopped: the password writeback service stopped.",
    31019: "ServiceBusHeartBeat: the request to the tenant's Service Bus instance succeeded.",
    32002: "ServiceBusError: the request to the tenant's Service Bus instance failed.",
    654: "Password synchronization heartbeat: the password hash synchronization agent is running.",
}
_MAX_EVENTS = 500  # the Application log rolls over too
_SEEDED_EVENTS = (  # scenario password_evidence key -> the event it seeds at lab start
    ("phs_heartbeat", 654, PHS_SOURCE),
    ("writeback_started", 31015, PWWB_SOURCE),
    ("writeback_stopped", 31016, PWWB_SOURCE),
    ("writeback_heartbeat", 31019, PWWB_SOURCE),
    ("writeback_error", 32002, PWWB_SOURCE),
)


@dataclass
class PasswordSyncPartition:
    """One AD partition's password hash sync state (Get-ADSyncPartitionPasswordSyncState, reference §1.4)."""

    connector_id: str
    dn: str
    last_successful_start: datetime | None
    last_successful_end: datetime | None
    last_start: datetime | None
    last_end: datetime | None
    last_status: str | None


@dataclass(frozen=True)
class AppEvent:
    """One Application-log event (Get-WinEvent): PasswordResetService and Directory Synchronization."""

    event_id: int
    source: str
    time: datetime
    message: str


@dataclass
class ServerState:
    """One simulated server. Hold ``lock`` to read a consistent view or to change anything."""

    name: str
    role: str
    address: str
    computer_name: str
    domain: str | None
    version: str
    display_version: str | None
    install_path: str | None
    staging: bool
    server_configuration_version: str | None
    scheduler: Scheduler
    service: Service
    tls: dict[str, int | None]
    dotnet_release: int | None
    os: OsState
    connectors: list[ConnectorState]
    rules: list[dict[str, Any]]  # name + the SyncRule fields
    features: dict[str, bool | None]
    source_anchor: str | None
    deletion_threshold: dict[str, Any]  # {"enabled": bool | None, "threshold": int | None, "percentage": ...}
    pending_exports: dict[str, PendingCounts]
    sync_machine_identifier: str | None
    adsynctools_versions: list[str]
    runs: list[Run]  # oldest first
    audit_account: AuditAccount = field(default_factory=lambda: AuditAccount("CONTOSO\\svc-entra-audit"))
    # The server clock's offset from UTC. Run times come from the sync database as UTC values whose
    # DateTimeKind is Unspecified (probe-review R1, UNCONFIRMED): a probe that converts them without
    # -AssumeUtc gets them shifted by this offset, as PowerShell's ToUniversalTime() would.
    utc_offset_minutes: int = 0
    adsync_stopped: bool = False
    malformed_output: set[str] = field(default_factory=set)
    ps51_unrolling: bool = False  # answer arrays as PS 5.1 unrolls them: [] -> null, [x] -> x (lab/ps51.py)
    sync_cycle_in_progress: bool = False
    busy_connectors: list[str] = field(default_factory=list)
    password_sync: list[PasswordSyncPartition] = field(default_factory=list)
    events: list[AppEvent] = field(default_factory=list)  # oldest first
    # What the AD connector imported from the on-premises directory (canary attributes): exports carry this,
    # not the directory as it is at export time.
    imported_directory: dict[str, dict[str, str | None]] = field(default_factory=dict)
    cycle_never_ends: bool = False  # state fault: a started cycle stays in progress (busy) until cleared
    export_result: str | None = None  # state fault: every Export run ends with this result, nothing exported
    # Connector -> the step counters of its newest Export (Get-ADSyncRunStepResult); zeros when not named.
    export_counters: dict[str, dict[str, int]] = field(default_factory=dict)
    ad_unreachable: bool = False  # state fault: AD cmdlets cannot reach a DC (the double hop of write-canary)
    # State fault: PHS and writeback do not run after un-staging (probe-review A2: whether a scripted flip
    # starts them without the wizard is UNVERIFIED), so the password-sync probe shows no new evidence.
    password_services_down: bool = False
    feature_errors: dict[str, str] = field(default_factory=dict)
    company_features: dict[str, bool | None] = field(default_factory=dict)
    global_settings: dict[str, str | None] = field(default_factory=dict)
    auto_upgrade_suspension_reason: str | None = None
    proxy: dict[str, Any] = field(default_factory=dict)  # probes/machine.ps1's proxy block, from the scenario
    health_agent: list[dict[str, Any]] = field(default_factory=list)  # machine probe's health_agent rows
    # connectors probe's Get-ADSyncEntraConnectorCredential (certificate_not_after resolved to a datetime)
    entra_identity: dict[str, Any] = field(default_factory=dict)
    # Get-ADSyncSchedulerConnectorOverride: connector name -> {full_import_required, full_sync_required}
    connector_overrides: dict[str, dict[str, bool]] = field(default_factory=dict)
    database: dict[str, Any] = field(default_factory=dict)  # version probe's database block (scenario)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # -- construction ------------------------------------------------------------------------------------

    @classmethod
    def from_spec(cls, name: str, spec: dict[str, Any], start: datetime,
                  shared: SharedSchedule | None = None) -> ServerState:
        """Build live state from a merged, validated spec (times may still be relative strings).

        ``shared``: the pair's tenant-wide scheduler settings (one object for every server of a lab); None
        builds a private one from this spec (a server on its own).
        """

        def when(value: Any) -> datetime | None:
            return resolve_time(value, start)

        sched = spec["scheduler"]
        scheduler = Scheduler(
            shared=shared if shared is not None else shared_schedule_from_spec(sched),
            next_start=when(sched["next_start"]),
            scheduler_suspended=bool(sched["scheduler_suspended"]),
        )
        os_spec = spec["os"]
        os_state = OsState(
            caption=os_spec["caption"],
            build=int(os_spec["build"]),
            ubr=int(os_spec["ubr"]),
            display_version=os_spec["display_version"],
            installation_type=os_spec["installation_type"],
            last_boot=when(os_spec["last_boot"]),
            updates=[
                UpdateRecord(
                    date=when(u["date"]) or start,
                    title=u["title"],
                    operation=int(u["operation"]),
                    result_code=int(u["result_code"]),
                    hresult=int(u.get("hresult", 0)),
                )
                for u in os_spec["updates"]
            ],
            update_history_error=os_spec["update_history_error"],
            hotfixes=[(h["id"], when(h.get("installed_on"))) for h in os_spec["hotfixes"]],
            reboot={k: bool(v) for k, v in os_spec["reboot"].items()},
        )
        connectors = []
        for cname, c in spec["connectors"].items():
            account = None
            if c.get("account") is not None:
                a = c["account"]
                account = Account(
                    found=bool(a["found"]),
                    distinguished_name=a.get("distinguished_name"),
                    sid=a.get("sid"),
                    enabled=a.get("enabled"),
                    locked_out=a.get("locked_out"),
                    password_expired=a.get("password_expired"),
                    password_never_expires=a.get("password_never_expires"),
                    password_last_set=when(a.get("password_last_set")),
                )
            connectors.append(
                ConnectorState(
                    name=cname,
                    type=c["type"],
                    identifier=c["identifier"],
                    forest=c.get("forest"),
                    account_user=c.get("account_user"),
                    account_domain=c.get("account_domain"),
                    account=account,
                    rights=list(c.get("rights") or []),
                    permissions_error=c.get("permissions_error"),
                    permissions_error_kind=c.get("permissions_error_kind"),
                    domain_root=c.get("domain_root"),
                    partitions=[
                        PartitionState(
                            name=pname,
                            selected=bool(p.get("selected", True)),
                            inclusions=list(p.get("inclusions") or []),
                            exclusions=list(p.get("exclusions") or []),
                            object_classes=list(p.get("object_classes") or []),
                        )
                        for pname, p in (c.get("partitions") or {}).items()
                    ],
                    attribute_inclusions_hash=c.get("attribute_inclusions_hash"),
                )
            )
        state = cls(
            name=name,
            role=spec["role"],
            address=spec["address"],
            computer_name=spec["computer_name"],
            domain=spec["domain"],
            version=spec["version"],
            display_version=spec["display_version"] or spec["version"],
            install_path=spec["install_path"],
            staging=bool(spec["staging"]),
            server_configuration_version=spec["server_configuration_version"] or spec["version"],
            scheduler=scheduler,
            service=Service(**spec["service"]),
            tls={k: (None if v is None else int(v)) for k, v in spec["tls"].items()},
            dotnet_release=spec["dotnet_release"],
            os=os_state,
            connectors=connectors,
            rules=[{"name": rname, **rule} for rname, rule in spec["rules"].items()],
            features=dict(spec["features"]),
            feature_errors=dict(spec["feature_errors"]),
            company_features=dict(spec["company_features"]),
            global_settings=dict(spec["global_settings"]),
            auto_upgrade_suspension_reason=spec["auto_upgrade_suspension_reason"],
            proxy=dict(spec["proxy"]),
            database=dict(spec["database"]),
            health_agent=[dict(row) for row in spec["health_agent"]],
            entra_identity={**spec["entra_identity"],
                            "certificate_not_after": when(spec["entra_identity"]["certificate_not_after"])},
            source_anchor=spec["source_anchor"],
            deletion_threshold=dict(spec["deletion_threshold"]),
            pending_exports={
                cname: PendingCounts(
                    int(p.get("adds", 0)), int(p.get("updates", 0)), int(p.get("deletes", 0))
                )
                for cname, p in spec["pending_exports"].items()
            },
            sync_machine_identifier=spec["sync_machine_identifier"],
            adsynctools_versions=list(spec["adsynctools_versions"]),
            runs=[],
            utc_offset_minutes=int(spec["utc_offset_minutes"]),
            audit_account=AuditAccount(
                identity=spec["audit_account"]["identity"],
                groups=tuple(spec["audit_account"]["groups"]),
                elevated=spec["audit_account"]["elevated"],
                language_mode=spec["audit_account"]["language_mode"],
            ),
        )
        state.runs = _build_runs(state, spec["run_history"], when)
        # After the history: the overrides are pending, the past cycles ran without them.
        state.connector_overrides = {
            cname: {"full_import_required": bool(o["full_import_required"]),
                    "full_sync_required": bool(o["full_sync_required"])}
            for cname, o in spec["connector_overrides"].items()
        }
        state.export_counters = {
            cname: {k: int(v) for k, v in counters.items()}
            for cname, counters in (spec["run_history"].get("export_counters") or {}).items()
        }
        evidence = spec["password_evidence"]
        synced = when(evidence["phs_last_success"])
        status = evidence["phs_last_status"]
        # A failed newest cycle started after the last successful one; a successful one is that one.
        last = synced if status in (None, "Successful") else start - timedelta(minutes=1)
        state.password_sync = [
            PasswordSyncPartition(c.identifier, p.name, synced, synced, last, last, status)
            for c in state.connectors if not c.is_entra for p in c.partitions if p.selected
        ]
        seeded: list[tuple[datetime, int, str]] = []
        for key, event_id, source in _SEEDED_EVENTS:
            at = when(evidence[key])
            if at is not None:
                seeded.append((at, event_id, source))
        for at, event_id, source in sorted(seeded):  # state.events is oldest first
            state.add_event(event_id, source, at)
        if state.scheduler.next_start is None:
            newest = max((r.start for r in state.runs), default=start)
            interval = timedelta(seconds=state.scheduler.effective_interval_s)
            next_start = newest + interval
            while next_start < start:
                next_start += interval
            state.scheduler.next_start = next_start
        return state

    # -- helpers used by the engine and the cycle ---------------------------------------------------------

    def add_event(self, event_id: int, source: str, at: datetime) -> None:
        self.events.append(AppEvent(event_id, source, at, _EVENT_TEXT.get(event_id, "")))
        del self.events[:-_MAX_EVENTS]

    def staging_changed(self, enabled: bool, at: datetime) -> None:
        """Password writeback follows the staging flag ([STAGE]: leaving staging "enables password
        writeback"; staging stops it). Called under ``lock`` when the flag really changes."""
        if self.features.get("password_writeback") and not self.password_services_down:
            self.add_event(31016 if enabled else 31015, PWWB_SOURCE, at)

    def cycle_completed(self, began: datetime, at: datetime) -> None:
        """PHS and the writeback heartbeat run only while un-staged ([STAGE]): on a staging server the
        password-sync timestamps stay frozen and no heartbeat is written. Called under ``lock``."""
        if self.staging or self.password_services_down:
            return
        if self.features.get("password_hash_sync"):
            for partition in self.password_sync:
                partition.last_start = partition.last_successful_start = began
                partition.last_end = partition.last_successful_end = at
                partition.last_status = "Successful"
            self.add_event(654, PHS_SOURCE, at)
        if self.features.get("password_writeback"):
            self.add_event(31019, PWWB_SOURCE, at)

    def connector(self, name: str) -> ConnectorState | None:
        return next((c for c in self.connectors if c.name == name), None)

    @property
    def netbios_domain(self) -> str:
        return (self.domain or "contoso").split(".")[0].upper()


def _build_runs(state: ServerState, spec: dict[str, Any], when: Any) -> list[Run]:
    """Explicit ``runs`` rows, or ``cycles`` generated Delta cycles ending at ``last_cycle``."""
    if spec.get("runs") is not None:
        rows = []
        for i, r in enumerate(spec["runs"]):
            begin = when(r["start"])
            end = (
                when(r.get("end"))
                if r.get("end") is not None
                else (
                    begin + timedelta(seconds=float(r.get("duration_s", 20)))
                    if r.get("complete", True)
                    else None
                )
            )
            rows.append(
                Run(
                    run_history_id=r.get("run_history_id") or _guid(state.name, "run", str(i)),
                    connector=r["connector"],
                    profile=r["profile"],
                    result=r.get("result", "success"),
                    start=begin,
                    end=end,
                    complete=bool(r.get("complete", True)),
                )
            )
        return sorted(rows, key=lambda run: run.start)
    step = timedelta(seconds=float(spec["step_seconds"]))
    interval = timedelta(seconds=state.scheduler.effective_interval_s)
    newest = when(spec["last_cycle"])
    since = when(spec.get("results_since"))
    results: dict[str, str] = dict(spec.get("results") or {})
    runs: list[Run] = []
    for n in range(int(spec["cycles"]) - 1, -1, -1):
        at = newest - n * interval
        for connector, profile in cycle_steps(state, "Delta", exports=not state.staging):
            result = "success"
            key = f"{connector}/{profile}"
            if key in results and (since is None or at >= since):
                result = results[key]
            runs.append(
                Run(
                    run_history_id=_guid(state.name, "run", at.isoformat(), connector, profile),
                    connector=connector,
                    profile=profile,
                    result=result,
                    start=at,
                    end=at + step,
                    complete=True,
                )
            )
            at += step
    return runs


def cycle_steps(state: ServerState, policy: str, *, exports: bool) -> list[tuple[str, str]]:
    """The scheduler's order (reference §2.2): import AD, Entra; sync AD, Entra; export Entra, AD."""
    kind = "Full" if policy == "Initial" else "Delta"
    ad = [c.name for c in state.connectors if not c.is_entra]
    entra = [c.name for c in state.connectors if c.is_entra]

    def step(connector: str, flag: str) -> str:
        # A connector override (Set-ADSyncSchedulerConnectorOverride) makes a Delta cycle run that full step
        # for that connector only ([SCHED] "Customizing a sync cycle").
        return "Full" if state.connector_overrides.get(connector, {}).get(flag) else kind

    steps = [(c, f"{step(c, 'full_import_required')} Import") for c in ad + entra]
    steps += [(c, f"{step(c, 'full_sync_required')} Synchronization") for c in ad + entra]
    if exports:
        steps += [(c, "Export") for c in entra + ad]
    return steps
