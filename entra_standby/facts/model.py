"""Typed facts: what a probe tells us about one host, after validation.

Field names equal the keys of the probe's JSON ``data`` object (docs/contracts.md), so a probe, the lab's
answer to it and the parser in ``facts.parse`` share one vocabulary. Every fact is frozen: checks are pure
functions of these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .password_sync import LogEvent, PartitionPasswordSync, PasswordSyncFacts  # noqa: F401  (hints resolve here)

# --- access (the preflight) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenGroup:
    """One group of the audit account's logon token (whoami /groups): its name as Windows writes it, SID."""

    name: str
    sid: str


@dataclass(frozen=True)
class AccessFacts:
    """Who the audit account is in the remote session: language mode, elevation and token groups."""

    identity: str
    sid: str
    language_mode: str  # FullLanguage, ConstrainedLanguage, ...
    elevated: bool | None = None  # high mandatory label; None when whoami listed no label
    groups: tuple[TokenGroup, ...] = ()


# --- scheduler -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectorOverride:
    """One row of Get-ADSyncSchedulerConnectorOverride (probes/scheduler.ps1): a full step the next cycle runs
    for that connector only. None: the flag was not readable."""

    connector_identifier: str | None = None
    connector_name: str | None = None  # only when the object carries one (Microsoft's examples use the id)
    full_import_required: bool | None = None
    full_sync_required: bool | None = None


@dataclass(frozen=True)
class ConnectorOverridesFacts:
    """The scheduler's per-connector overrides, or why they could not be read ("Kind: message")."""

    overrides: tuple[ConnectorOverride, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class SchedulerFacts:
    """Get-ADSyncScheduler, with TimeSpans as seconds and DateTimes as UTC."""

    allowed_interval_s: float
    effective_interval_s: float
    customized_interval_s: float | None
    next_policy_type: str
    next_start_utc: datetime | None
    purge_interval_s: float
    sync_cycle_enabled: bool
    maintenance_enabled: bool
    staging_mode_enabled: bool
    scheduler_suspended: bool
    sync_cycle_in_progress: bool | None = None
    connector_overrides: ConnectorOverridesFacts | None = None  # None: a probe from before pending-full-sync


# --- service ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceFacts:
    """The ADSync Windows service (Win32_Service)."""

    name: str
    exists: bool
    status: str | None  # Running, Stopped, StartPending, ...
    start_mode: str | None  # Auto, Manual, Disabled
    delayed_auto_start: bool | None = None
    account: str | None = None


# --- version ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseFacts:
    """Where the sync database lives (probes/version.ps1): HKLM:\\SYSTEM\\CurrentControlSet\\Services\\
    ADSync\\Parameters Server / SQLInstance / DBName, and for LocalDB the data file's size (10 GB limit)."""

    server: str | None = None
    sql_instance: str | None = None
    db_name: str | None = None
    data_file: str | None = None  # the .mdf found (LocalDB only)
    data_file_bytes: int | None = None
    registry_error: str | None = None  # the Parameters key could not be read
    data_file_error: str | None = None  # LocalDB, but no data file found: the paths looked at

    @property
    def is_localdb(self) -> bool | None:
        """LocalDB when Server or SQLInstance names "(localdb)" (both shapes are read: Server "(localdb)" with
        SQLInstance ".\\ADSync2019", or the whole "(localdb)\\.\\ADSync2019" in Server); None when unread."""
        if self.server is None and self.sql_instance is None:
            return None
        return any("(localdb)" in (text or "").lower() for text in (self.server, self.sql_instance))


@dataclass(frozen=True)
class VersionFacts:
    """Installed Entra Connect build: miiserver.exe ProductVersion and the uninstall entry."""

    product_version: str | None
    display_version: str | None = None
    install_path: str | None = None
    # Get-ADSyncAutoUpgrade: Enabled | Disabled | Suspended; the reason only when Suspended (-Detail); the
    # read's error when the ADSync module or service could not answer (the version itself never needs them).
    auto_upgrade: str | None = None
    auto_upgrade_reason: str | None = None
    auto_upgrade_error: str | None = None
    database: DatabaseFacts | None = None  # None: a probe from before the database check


# --- tls (TLS 1.2 registry values and .NET release) ------------------------------------------------------


@dataclass(frozen=True)
class RegistryValue:
    path: str
    name: str
    value: int | None  # None = "Not Found"


@dataclass(frozen=True)
class TlsFacts:
    values: tuple[RegistryValue, ...]
    dotnet_release: int | None


# --- os --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateEntry:
    """One IUpdateHistoryEntry (Operation 1=install 2=uninstall; ResultCode 2=succeeded 3=with errors)."""

    date: datetime
    title: str
    operation: int
    result_code: int
    hresult: int = 0


@dataclass(frozen=True)
class HotFix:
    id: str
    installed_on: datetime | None


@dataclass(frozen=True)
class RebootMarkers:
    cbs_reboot_pending: bool = False
    cbs_reboot_in_progress: bool = False
    cbs_packages_pending: bool = False
    wu_reboot_required: bool = False
    pending_file_rename: bool = False  # a hint only: many false positives
    computer_rename_pending: bool = False
    netlogon_pending: bool = False
    update_exe_volatile: bool = False


@dataclass(frozen=True)
class OsFacts:
    caption: str
    build: int
    ubr: int
    display_version: str | None = None
    installation_type: str | None = None  # Server, Server Core
    last_boot_utc: datetime | None = None
    updates: tuple[UpdateEntry, ...] = ()
    update_history_error: str | None = None
    hotfixes: tuple[HotFix, ...] = ()
    reboot: RebootMarkers = field(default_factory=RebootMarkers)
    reboot_error: str | None = None  # a marker could not be read (kind: message): the markers are unknown


# --- run-history -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportCounters:
    """The export counters of one Export run's step (MIIS run history <export-counters>; names UNCONFIRMED
    in the ADSync object model: probes/run-history.ps1 reads two shapes)."""

    add: int = 0
    update: int = 0
    rename: int = 0
    delete: int = 0
    delete_add: int = 0
    failure: int = 0


@dataclass(frozen=True)
class RunRecord:
    """One Get-ADSyncRunProfileResult row."""

    run_history_id: str
    connector: str
    profile: str  # Full Import, Delta Import, Full Synchronization, Delta Synchronization, Export
    result: str  # success, completed-*-errors, stopped-*, in-progress
    start: datetime
    end: datetime | None
    complete: bool
    # Only on each connector's newest Export: its step counters, or why they could not be read.
    export_counters: ExportCounters | None = None
    export_counters_error: str | None = None


@dataclass(frozen=True)
class RunHistoryFacts:
    runs: tuple[RunRecord, ...]
    busy_connectors: tuple[str, ...] = ()


# --- connectors (accounts and their AD rights) -----------------------------------------------------------


@dataclass(frozen=True)
class AccountState:
    """The AD connector account as AD sees it (Get-ADUser)."""

    found: bool
    distinguished_name: str | None = None
    sid: str | None = None
    enabled: bool | None = None
    locked_out: bool | None = None
    password_expired: bool | None = None
    password_never_expires: bool | None = None
    password_last_set: datetime | None = None


@dataclass(frozen=True)
class Ace:
    """One ActiveDirectoryAccessRule granted to the account (or a group it is in)."""

    identity: str
    rights: tuple[str, ...]  # ActiveDirectoryRights flags, e.g. ("ReadProperty", "WriteProperty")
    access: str  # Allow | Deny
    object_type: str  # lower-case GUID; 00000000-0000-0000-0000-000000000000 = all
    inherited_object_type: str  # lower-case GUID of the object class it applies to; all-zero = any
    inheritance: str  # None, All, Descendents, Children, SelfAndChildren
    inherited: bool = False


@dataclass(frozen=True)
class ObjectPermissions:
    object_dn: str
    scope: str  # domain-root | ou
    aces: tuple[Ace, ...]


@dataclass(frozen=True)
class Connector:
    name: str
    identifier: str
    type: str  # AD | Extensible2 (Entra)
    forest: str | None = None
    account_user: str | None = None
    account_domain: str | None = None
    account: AccountState | None = None  # AD connectors only
    permissions: tuple[ObjectPermissions, ...] = ()
    permissions_error: str | None = None
    # "double-hop" when the AD reads failed because the remote session could not reach a domain controller
    # with the caller's credentials (no Kerberos delegation / CredSSP); None for any other failure.
    permissions_error_kind: str | None = None


@dataclass(frozen=True)
class EntraIdentityFacts:
    """How the Entra connector authenticates (probes/connectors.ps1, Get-ADSyncEntraConnectorCredential):
    ConnectorIdentityType ServiceAccount (the Sync_* account) or Application (application-based
    authentication, a certificate credential)."""

    identity_type: str | None = None  # ServiceAccount | Application
    application_id: str | None = None
    certificate_thumbprint: str | None = None
    certificate_not_after: datetime | None = None
    certificate_source: str | None = None  # where the expiry was read (the credential object or a store)
    certificate_error: str | None = None  # Application only: why no expiry could be read
    error: str | None = None  # the cmdlet failed ("Kind: message")


@dataclass(frozen=True)
class ConnectorsFacts:
    connectors: tuple[Connector, ...]
    entra_identity: EntraIdentityFacts | None = None  # None: a probe from before entra-connector-identity


# --- config (fingerprint for drift) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    name: str
    selected: bool
    inclusions: tuple[str, ...] = ()
    exclusions: tuple[str, ...] = ()
    object_classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConnectorConfig:
    name: str
    type: str
    partitions: tuple[Partition, ...] = ()
    attribute_inclusions_hash: str | None = None
    identifier: str | None = None  # fixed b891884f-… for the Entra connector; per install otherwise


@dataclass(frozen=True)
class SyncRule:
    name: str
    connector: str  # connector *name*: GUIDs differ per install
    direction: str  # Inbound | Outbound
    precedence: int
    disabled: bool
    immutable_tag: str | None = None  # Microsoft.* for default rules
    is_standard: bool = False
    source_object_type: str | None = None
    target_object_type: str | None = None
    link_type: str | None = None
    scope_hash: str | None = None
    join_hash: str | None = None
    flows_hash: str | None = None
    enable_password_sync: bool | None = None  # PHS scope of an inbound rule
    soft_delete_expiry_interval_s: float | None = None
    version_agnostic_tag: str | None = None
    tag_version: str | None = None


@dataclass(frozen=True)
class DeletionThreshold:
    """The server's local view of accidental-delete prevention (global settings; the tenant holds it).

    ``enabled`` is None when the server did not say (``error`` tells why). ``mode`` is "count" (``threshold``
    objects) or "percentage" (``percentage`` per cent of the connector's objects).
    """

    enabled: bool | None
    threshold: int | None = None
    mode: str | None = None
    percentage: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class ConfigFacts:
    server_configuration_version: str | None
    connectors: tuple[ConnectorConfig, ...]
    rules: tuple[SyncRule, ...]
    # password_hash_sync, password_writeback, group_writeback, device_writeback, exchange_hybrid,
    # directory_extensions, ...; None = could not be read (feature_errors says why)
    features: dict[str, bool | None]
    source_anchor: str | None
    deletion_threshold: DeletionThreshold
    feature_errors: dict[str, str] | None = None  # feature -> why it could not be read
    # Get-ADSyncAADCompanyFeature: the tenant's password_hash_sync / password_writeback flags (None = unread)
    company_features: dict[str, bool | None] | None = None
    # Drift-relevant global settings (parameter name -> value as text; None = not set on this server)
    global_settings: dict[str, str | None] | None = None


# --- pending-exports -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingExport:
    connector: str
    adds: int
    updates: int
    deletes: int


@dataclass(frozen=True)
class PendingExportsFacts:
    connectors: tuple[PendingExport, ...]
    source: str = "Get-ADSyncConnectorStatistics"


# --- machine ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyFacts:
    """The proxies .NET and WinHTTP use (probes/machine.ps1): machine.config <system.net><defaultProxy>, and
    the machine-wide WinHTTP proxy (netsh winhttp); None where nothing is configured (direct access)."""

    default_proxy_found: bool = False  # machine.config has a <defaultProxy> element
    default_proxy_enabled: str | None = None  # attribute text as written (true/false)
    proxy_address: str | None = None
    use_system_default: str | None = None
    bypass_on_local: str | None = None
    bypass_list: tuple[str, ...] = ()
    machine_config_error: str | None = None
    winhttp_proxy: str | None = None  # None = direct access
    winhttp_bypass: str | None = None
    winhttp_error: str | None = None


@dataclass(frozen=True)
class HealthAgentService:
    """One Connect Health sync agent service (probes/machine.ps1, Win32_Service)."""

    name: str
    exists: bool = False
    state: str | None = None  # Running, Stopped, ...
    start_mode: str | None = None  # Auto, Manual, Disabled
    version: str | None = None  # the service binary's ProductVersion


@dataclass(frozen=True)
class HealthAgentFacts:
    """The Connect Health sync agent (probes/machine.ps1): one row per service looked for, or the error."""

    services: tuple[HealthAgentService, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class MachineFacts:
    computer_name: str
    domain: str | None = None
    sync_machine_identifier: str | None = None
    adsynctools_versions: tuple[str, ...] = ()
    proxy: ProxyFacts | None = None  # None: a probe from before proxy-parity
    health_agent: HealthAgentFacts | None = None  # None: a probe from before connect-health-agent


# --- cloud (Graph) ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CanaryFacts:
    user: str
    found: bool
    on_premises_last_sync: datetime | None = None
    extension_attributes: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class CloudFacts:
    tenant_id: str
    sync_enabled: bool | None
    last_sync: datetime | None
    last_password_sync: datetime | None = None
    canary: CanaryFacts | None = None
    collected_utc: datetime | None = None


# --- the per-domain map ----------------------------------------------------------------------------------

FACT_TYPES: dict[str, type] = {
    "access": AccessFacts,
    "scheduler": SchedulerFacts,
    "service": ServiceFacts,
    "version": VersionFacts,
    "tls": TlsFacts,
    "os": OsFacts,
    "run-history": RunHistoryFacts,
    "connectors": ConnectorsFacts,
    "config": ConfigFacts,
    "pending-exports": PendingExportsFacts,
    "machine": MachineFacts,
    "password-sync": PasswordSyncFacts,
}
"""Fact domain (== probe name) -> the dataclass its ``data`` parses into."""

HOST_DOMAINS: tuple[str, ...] = tuple(FACT_TYPES)
