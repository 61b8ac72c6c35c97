"""Hand-built facts for rule tests: a healthy pair (aadc01 active, aadc02 standby) and one-field changes.

    pair = healthy_pair()
    pair = change(pair, "aadc02", "service", status="Stopped")        # one field of one fact domain
    pair = put(pair, "aadc02", "tls", TlsFacts(values=(), dotnet_release=None))   # a whole fact
    findings = run("adsync-service", pair, "aadc02")

The values mirror the lab's healthy defaults (entra_standby/lab/state.py) so a check that passes here
should pass against the lab, and vice versa.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from entra_standby.facts.collection import FactError, HostFacts, PairFacts
from entra_standby.facts.model import (
    AccessFacts,
    AccountState,
    Ace,
    ConfigFacts,
    Connector,
    ConnectorConfig,
    ConnectorOverride,
    ConnectorOverridesFacts,
    ConnectorsFacts,
    DatabaseFacts,
    DeletionThreshold,
    EntraIdentityFacts,
    HealthAgentFacts,
    HealthAgentService,
    HotFix,
    MachineFacts,
    ObjectPermissions,
    OsFacts,
    Partition,
    PendingExport,
    PendingExportsFacts,
    ProxyFacts,
    RebootMarkers,
    RegistryValue,
    RunHistoryFacts,
    RunRecord,
    SchedulerFacts,
    ServiceFacts,
    SyncRule,
    TlsFacts,
    TokenGroup,
    UpdateEntry,
    VersionFacts,
)
from entra_standby.facts.password_sync import LogEvent, PartitionPasswordSync, PasswordSyncFacts
from entra_standby.rules import Finding, evaluate
from entra_standby.rules import guids as g
from entra_standby.rules.system import TLS12_VALUES

NOW = datetime(2026, 11, 22, 4, 0, 0, tzinfo=UTC)
AD = "contoso.com"
AAD = "contoso.onmicrosoft.com - AAD"
ROOT = "DC=contoso,DC=com"
OUS = ("OU=Staff,DC=contoso,DC=com", "OU=Groups,DC=contoso,DC=com")
CUSTOM_RULE = "Custom - In from AD - User extensionAttribute1"
ZERO = g.ALL_OBJECTS


def ace(
    identity: str,
    rights: tuple[str, ...],
    object_type: str,
    *,
    access: str = "Allow",
    inherited_object_type: str = ZERO,
    inheritance: str = "None",
) -> Ace:
    return Ace(identity, rights, access, object_type, inherited_object_type, inheritance)


def healthy_permissions(identity: str) -> tuple[ObjectPermissions, ...]:
    """What ADSyncConfig grants for PHS + password writeback + ms-DS-ConsistencyGuid (reference §6.2)."""
    root = ObjectPermissions(
        ROOT,
        "domain-root",
        (
            ace(identity, ("ExtendedRight",), g.DS_REPLICATION_GET_CHANGES),
            ace(identity, ("ExtendedRight",), g.DS_REPLICATION_GET_CHANGES_ALL),
        ),
    )

    def on_users(rights: tuple[str, ...], object_type: str) -> Ace:
        return ace(
            identity, rights, object_type, inherited_object_type=g.USER_CLASS, inheritance="Descendents"
        )

    ou_aces = (
        on_users(("ReadProperty",), ZERO),
        on_users(("ExtendedRight",), g.USER_FORCE_CHANGE_PASSWORD),
        on_users(("ExtendedRight",), g.UNEXPIRE_PASSWORD),
        on_users(("ReadProperty", "WriteProperty"), g.LOCKOUT_TIME),
        on_users(("ReadProperty", "WriteProperty"), g.PWD_LAST_SET),
        on_users(("ReadProperty", "WriteProperty"), g.MS_DS_CONSISTENCY_GUID),
    )
    return (root, *(ObjectPermissions(ou, "ou", ou_aces) for ou in OUS))


def _runs(host: str, last_cycle_end: datetime, cycles: int = 3, *, staging: bool) -> tuple[RunRecord, ...]:
    """Cycles every 30 min, newest first: imports, then syncs, then exports (only when not staging)."""
    runs: list[RunRecord] = []
    for n in range(cycles):
        end = last_cycle_end - timedelta(minutes=30 * n)
        steps = [
            (AD, "Delta Import"),
            (AAD, "Delta Import"),
            (AD, "Delta Synchronization"),
            (AAD, "Delta Synchronization"),
        ]
        if not staging:
            steps += [(AAD, "Export"), (AD, "Export")]
        for i, (connector, profile) in enumerate(reversed(steps)):
            stop = end - timedelta(seconds=20 * i)
            runs.append(
                RunRecord(
                    f"{host}-{n}-{i}", connector, profile, "success", stop - timedelta(seconds=15), stop, True
                )
            )
    return tuple(runs)


def _rules() -> tuple[SyncRule, ...]:
    rows = [
        ("In from AD - User Join", AD, "Inbound", 100, "Microsoft.InfromADUserJoin.010"),
        ("In from AD - Group Join", AD, "Inbound", 110, "Microsoft.InfromADGroupJoin.010"),
        ("Out to AAD - User Join", AAD, "Outbound", 120, "Microsoft.OuttoAADUserJoin.010"),
    ]
    rules = [
        SyncRule(
            name,
            conn,
            direction,
            prec,
            False,
            tag,
            True,
            "user",
            "person",
            "Provision",
            f"scope-{name}",
            f"join-{name}",
            f"flows-{name}",
        )
        for name, conn, direction, prec, tag in rows
    ]
    rules.append(
        SyncRule(
            CUSTOM_RULE,
            AD,
            "Inbound",
            50,
            False,
            None,
            False,
            "user",
            "person",
            "Join",
            "scope-custom",
            "join-custom",
            "flows-custom",
        )
    )
    return tuple(rules)


def healthy_host(name: str, role: str, now: datetime = NOW) -> HostFacts:
    """One healthy server; ``name`` seeds what differs per install (MSOL_ account, machine id)."""
    msol = f"MSOL_{name}00000"
    identity = f"CONTOSO\\{msol}"
    staging = role != "active"
    values: dict[str, Any] = {
        "access": AccessFacts(
            "CONTOSO\\svc-entra-audit",
            "S-1-5-21-1-2-3-1112",
            "FullLanguage",
            True,
            (
                TokenGroup("BUILTIN\\Administrators", "S-1-5-32-544"),
                TokenGroup("BUILTIN\\Remote Management Users", "S-1-5-32-580"),
                TokenGroup(f"{name.upper()}\\ADSyncAdmins", "S-1-5-21-9-8-7-1010"),
                TokenGroup(f"{name.upper()}\\ADSyncBrowse", "S-1-5-21-9-8-7-1012"),
            ),
        ),
        "scheduler": SchedulerFacts(
            1800, 1800, None, "Delta", now + timedelta(minutes=18), 604800, True, True, staging, False, False,
            ConnectorOverridesFacts(tuple(
                ConnectorOverride(ident, None, False, False)
                for ident in (f"{name}-ad-guid", "b891884f-051e-4a83-95af-2544101c9083"))),
        ),
        "service": ServiceFacts("ADSync", True, "Running", "Auto", True, "NT SERVICE\\ADSync"),
        "version": VersionFacts("2.5.79.0", "2.5.79.0", "C:\\Program Files\\Microsoft Azure AD Sync",
                                auto_upgrade="Enabled",
                                database=DatabaseFacts("(localdb)", ".\\ADSync2019", "ADSync",
                                                       "C:\\Program Files\\Microsoft Azure AD Sync\\Data\\"
                                                       "ADSync2019\\ADSync.mdf", 1_310_720_000)),
        "tls": TlsFacts(tuple(RegistryValue(p, n, v) for p, n, v in TLS12_VALUES), 528449),
        "os": OsFacts(
            "Microsoft Windows Server 2022 Standard",
            20348,
            4405,
            "21H2",
            "Server",
            now - timedelta(days=4),
            updates=(
                UpdateEntry(
                    now - timedelta(days=1),
                    "Security Intelligence Update for Microsoft Defender Antivirus "
                    "- KB2267602 (Version 1.441.112.0)",
                    1,
                    2,
                ),
                UpdateEntry(
                    now - timedelta(days=4),
                    "2026-11 Cumulative Update for Microsoft server operating "
                    "system version 21H2 for x64-based Systems (KB5070884)",
                    1,
                    2,
                ),
            ),
            hotfixes=(HotFix("KB5070884", now - timedelta(days=4)),),
            reboot=RebootMarkers(),
        ),
        "run-history": RunHistoryFacts(_runs(name, now - timedelta(minutes=12), staging=staging)),
        "connectors": ConnectorsFacts(
            (
                Connector(
                    AD,
                    f"{name}-ad-guid",
                    "AD",
                    "contoso.com",
                    msol,
                    "contoso.com",
                    AccountState(
                        True,
                        f"CN={msol},CN=Users,{ROOT}",
                        "S-1-5-21-1-2-3-1105",
                        True,
                        False,
                        False,
                        True,
                        now - timedelta(days=400),
                    ),
                    healthy_permissions(identity),
                ),
                Connector(
                    AAD,
                    "b891884f-051e-4a83-95af-2544101c9083",
                    "Extensible2",
                    None,
                    f"Sync_{name.upper()}_1a2b3c@contoso.onmicrosoft.com",
                ),
            ),
            EntraIdentityFacts("Application", f"{name}-aba-app-id", f"{name.upper()}THUMB",
                               now + timedelta(days=300), "Get-ADSyncEntraConnectorCredential"),
        ),
        "config": ConfigFacts(
            "2.5.79.0",
            (
                ConnectorConfig(
                    AD, "AD", (Partition(ROOT, True, OUS, (), ("user", "group", "contact")),), "attr-ad"
                ),
                ConnectorConfig(
                    AAD, "Extensible2", (Partition("default", True, (), (), ("user", "group")),), "attr-aad"
                ),
            ),
            _rules(),
            {
                "password_hash_sync": True,
                "password_writeback": True,
                "group_writeback": False,
                "device_writeback": False,
                "exchange_hybrid": False,
                "directory_extensions": False,
            },
            "mS-DS-ConsistencyGuid",
            DeletionThreshold(True, 500),
        ),
        "pending-exports": PendingExportsFacts((PendingExport(AD, 0, 0, 0), PendingExport(AAD, 0, 3, 0))),
        "machine": MachineFacts(name.upper(), "contoso.com", f"{name}-sync-machine-id", ("2.4.0",),
                                proxy=ProxyFacts(), health_agent=HealthAgentFacts(tuple(
                                    HealthAgentService(f"AzureADConnectHealthSync{kind}", True, "Running",
                                                       "Auto", "4.5.2466.0")
                                    for kind in ("Insights", "Monitor")))),
        "password-sync": healthy_password_sync(name, staging, now),
    }
    return HostFacts(name, role, values, collected_utc=now)


def healthy_password_sync(name: str, staging: bool, now: datetime = NOW) -> PasswordSyncFacts:
    """The lab's healthy password evidence: an active syncs hashes every 2 minutes, with heartbeats, and its
    writeback service started at the last boot; a staging server does neither (audit read: MaxEvents 5)."""
    synced = None if staging else now - timedelta(minutes=2)
    partition = PartitionPasswordSync(f"{name}-ad-guid", ROOT, synced, synced, synced, synced,
                                      None if staging else "Successful")
    if staging:
        return PasswordSyncFacts(now - timedelta(days=1), (partition,), (), ())
    started = LogEvent(31015, now - timedelta(days=4), "PasswordResetService")
    return PasswordSyncFacts(
        now - timedelta(days=1), (partition,),
        (LogEvent(31019, now - timedelta(minutes=2), "PasswordResetService"),),
        (LogEvent(654, now - timedelta(minutes=2), "Directory Synchronization"),),
        writeback_state_event=started)


def healthy_pair(
    *, now: datetime = NOW, thresholds: dict[str, Any] | None = None, standbys: tuple[str, ...] = ("aadc02",)
) -> PairFacts:
    servers = (healthy_host("aadc01", "active", now), *(healthy_host(s, "standby", now) for s in standbys))
    return PairFacts("contoso-prod", servers, dict(thresholds or {}), now_utc=now)


def _replace_host(pair: PairFacts, host: str, new: HostFacts) -> PairFacts:
    if host not in {s.host for s in pair.servers}:
        raise KeyError(host)
    return dataclasses.replace(pair, servers=tuple(new if s.host == host else s for s in pair.servers))


def put(pair: PairFacts, host: str, domain: str, value: Any) -> PairFacts:
    """Replace one fact domain of one server."""
    server = pair.server(host)
    return _replace_host(pair, host, dataclasses.replace(server, values={**server.values, domain: value}))


def change(pair: PairFacts, host: str, domain: str, **fields: Any) -> PairFacts:
    """Change fields of one fact domain of one server (``dataclasses.replace`` on that fact)."""
    return put(pair, host, domain, dataclasses.replace(pair.server(host).values[domain], **fields))


def drop(pair: PairFacts, host: str, domain: str, message: str = "probe failed") -> PairFacts:
    """Make one fact domain unavailable on one server, as a failed probe would."""
    server = pair.server(host)
    values = {k: v for k, v in server.values.items() if k != domain}
    errors = {**server.errors, domain: FactError(domain, "probe", message)}
    return _replace_host(pair, host, dataclasses.replace(server, values=values, errors=errors))


def set_role(pair: PairFacts, host: str, role: str) -> PairFacts:
    return _replace_host(pair, host, dataclasses.replace(pair.server(host), role=role))


def ad_connector(pair: PairFacts, host: str) -> Connector:
    return next(c for c in pair.server(host).connectors.connectors if c.type == "AD")


def change_ad_connector(pair: PairFacts, host: str, **fields: Any) -> PairFacts:
    conns = pair.server(host).connectors.connectors
    new = tuple(dataclasses.replace(c, **fields) if c.type == "AD" else c for c in conns)
    return put(pair, host, "connectors", dataclasses.replace(pair.server(host).connectors, connectors=new))


def run(check_id: str, pair: PairFacts, host: str | None = None) -> list[Finding]:
    """Evaluate one check on the pair (pair scope) or on one of its servers."""
    return evaluate(check_id, pair, pair.server(host) if host else None)


def run_all_hosts(check_id: str, pair: PairFacts) -> list[Finding]:
    return [f for s in pair.servers for f in evaluate(check_id, pair, s)]
