"""Probe JSON -> typed facts: realistic documents parse, malformed ones fail naming host, probe and field."""

from __future__ import annotations

import copy
import dataclasses
import json
import typing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from entra_standby.errors import EntraStandbyError, ProbeError
from entra_standby.facts.model import (
    FACT_TYPES,
    CanaryFacts,
    CloudFacts,
    ConfigFacts,
    ConnectorsFacts,
    OsFacts,
    RunHistoryFacts,
    SchedulerFacts,
    TlsFacts,
    VersionFacts,
)
from entra_standby.facts.parse import (
    ProbeFailedError,
    fact_from_data,
    fact_to_data,
    parse_action_output,
    parse_datetime,
    parse_probe_output,
)
from entra_standby.lab.ps51 import unroll_collections

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
HOST = "aadc02.contoso.com"

_SCHANNEL = "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.2\\"
_TLS_ROWS = [
    {
        "path": "HKLM:\\SOFTWARE\\WOW6432Node\\Microsoft\\.NETFramework\\v4.0.30319",
        "name": "SystemDefaultTlsVersions",
        "value": 1,
    },
    {
        "path": "HKLM:\\SOFTWARE\\WOW6432Node\\Microsoft\\.NETFramework\\v4.0.30319",
        "name": "SchUseStrongCrypto",
        "value": 1,
    },
    {
        "path": "HKLM:\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319",
        "name": "SystemDefaultTlsVersions",
        "value": 1,
    },
    {
        "path": "HKLM:\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319",
        "name": "SchUseStrongCrypto",
        "value": 1,
    },
    {
        "path": _SCHANNEL + "Server",
        "name": "Enabled",
        "value": 1,
    },
    {
        "path": _SCHANNEL + "Server",
        "name": "DisabledByDefault",
        "value": 0,
    },
    {
        "path": _SCHANNEL + "Client",
        "name": "Enabled",
        "value": 1,
    },
    {
        "path": _SCHANNEL + "Client",
        "name": "DisabledByDefault",
        "value": None,
    },
]

# The example data objects of docs/contracts.md section 1 (ellipses filled in with realistic values).
EXAMPLES: dict[str, dict[str, Any]] = {
    "access": {
        "identity": "CONTOSO\\svc-audit",
        "sid": "S-1-5-21-1004336348-1177238915-682003330-1112",
        "language_mode": "FullLanguage",
        "elevated": True,
        "groups": [{"name": "BUILTIN\\Administrators", "sid": "S-1-5-32-544"},
                   {"name": "AADC01\\ADSyncAdmins", "sid": "S-1-5-21-3623811015-3361044348-30300820-1013"}],
    },
    "scheduler": {
        "allowed_interval_s": 1800,
        "effective_interval_s": 1800,
        "customized_interval_s": None,
        "next_policy_type": "Delta",
        "next_start_utc": "2026-11-22T04:25:00.0000000Z",
        "purge_interval_s": 604800,
        "sync_cycle_enabled": True,
        "maintenance_enabled": True,
        "staging_mode_enabled": False,
        "scheduler_suspended": False,
        "sync_cycle_in_progress": False,
        "connector_overrides": {"overrides": [
            {"connector_identifier": "5d4e3f2a-1b0c-4d9e-8f7a-6b5c4d3e2f1a", "connector_name": None,
             "full_import_required": False, "full_sync_required": False},
            {"connector_identifier": "b891884f-051e-4a83-95af-2544101c9083", "connector_name": None,
             "full_import_required": False, "full_sync_required": False}], "error": None},
    },
    "service": {
        "name": "ADSync",
        "exists": True,
        "status": "Running",
        "start_mode": "Auto",
        "delayed_auto_start": True,
        "account": "NT SERVICE\\ADSync",
    },
    "version": {
        "product_version": "2.5.79.0",
        "display_version": "2.5.79.0",
        "install_path": "C:\\Program Files\\Microsoft Azure AD Sync",
    },
    "tls": {"values": _TLS_ROWS, "dotnet_release": 528449},
    "os": {
        "caption": "Microsoft Windows Server 2022 Standard",
        "build": 20348,
        "ubr": 2849,
        "display_version": "21H2",
        "installation_type": "Server",
        "last_boot_utc": "2026-11-20T02:11:09.5000000Z",
        "updates": [
            {
                "date": "2026-11-12T03:55:54.1234567Z",
                "title": "2026-11 Cumulative Update for Microsoft server operating system version 21H2 for "
                "x64-based Systems (KB5070000)",
                "operation": 1,
                "result_code": 2,
                "hresult": 0,
            }
        ],
        "update_history_error": None,
        "hotfixes": [{"id": "KB5070000", "installed_on": "2026-11-12T00:00:00.0000000Z"}],
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
    "run-history": {
        "runs": [
            {
                "run_history_id": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
                "connector": "contoso.com",
                "profile": "Delta Import",
                "result": "success",
                "start": "2026-11-22T03:55:01.0000000Z",
                "end": "2026-11-22T03:55:54.1234567Z",
                "complete": True,
            },
            {
                "run_history_id": "1f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
                "connector": "contoso.com",
                "profile": "Export",
                "result": "in-progress",
                "start": "2026-11-22T03:58:00.0000000Z",
                "end": None,
                "complete": False,
            },
        ],
        "busy_connectors": [],
    },
    "connectors": {
        "connectors": [
            {
                "name": "contoso.com",
                "identifier": "5d4e3f2a-1b0c-4d9e-8f7a-6b5c4d3e2f1a",
                "type": "AD",
                "forest": "contoso.com",
                "account_user": "MSOL_1a2b3c4d5e6f",
                "account_domain": "contoso.com",
                "account": {
                    "found": True,
                    "distinguished_name": "CN=MSOL_1a2b3c4d5e6f,CN=Users,DC=contoso,DC=com",
                    "sid": "S-1-5-21-1004336348-1177238915-682003330-1112",
                    "enabled": True,
                    "locked_out": False,
                    "password_expired": False,
                    "password_never_expires": True,
                    "password_last_set": "2025-03-01T10:00:00.0000000Z",
                },
                "permissions": [
                    {
                        "object_dn": "DC=contoso,DC=com",
                        "scope": "domain-root",
                        "aces": [
                            {
                                "identity": "CONTOSO\\MSOL_1a2b3c4d5e6f",
                                "rights": ["ExtendedRight"],
                                "access": "Allow",
                                "object_type": "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2",
                                "inherited_object_type": "00000000-0000-0000-0000-000000000000",
                                "inheritance": "None",
                                "inherited": False,
                            }
                        ],
                    }
                ],
                "permissions_error": None,
            },
            {
                "name": "contoso.onmicrosoft.com - AAD",
                "identifier": "b891884f-051e-4a83-95af-2544101c9083",
                "type": "Extensible2",
                "forest": None,
                "account_user": "Sync_AADC01_1a2b3c@contoso.onmicrosoft.com",
                "account_domain": None,
                "account": None,
                "permissions": [],
                "permissions_error": None,
            },
        ],
        "entra_identity": {"identity_type": "Application",
                           "application_id": "0e6a1c7d-55b1-4a43-9a51-3f1e3d2b7c11",
                           "certificate_thumbprint": "3F2A9C1B7E6D5A4F3E2D1C0B9A8F7E6D5C4B3A29",
                           "certificate_not_after": "2027-09-18T04:00:00.0000000Z",
                           "certificate_source": "Get-ADSyncEntraConnectorCredential",
                           "certificate_error": None, "error": None},
    },
    "config": {
        "server_configuration_version": "2.5.79.0",
        "connectors": [
            {
                "name": "contoso.com",
                "type": "AD",
                "partitions": [
                    {
                        "name": "DC=contoso,DC=com",
                        "selected": True,
                        "inclusions": ["OU=Staff,DC=contoso,DC=com"],
                        "exclusions": [],
                        "object_classes": ["user", "group", "contact"],
                    }
                ],
                "attribute_inclusions_hash": "9f86d081884c7d659a2feaa0c55ad015" * 2,
            }
        ],
        "rules": [
            {
                "name": "In from AD - User Join",
                "connector": "contoso.com",
                "direction": "Inbound",
                "precedence": 100,
                "disabled": False,
                "immutable_tag": "Microsoft.InfromADUserJoin.010",
                "is_standard": True,
                "source_object_type": "user",
                "target_object_type": "person",
                "link_type": "Provision",
                "scope_hash": "a" * 64,
                "join_hash": "b" * 64,
                "flows_hash": "c" * 64,
            }
        ],
        "features": {
            "password_hash_sync": True,
            "password_writeback": True,
            "group_writeback": False,
            "device_writeback": False,
            "exchange_hybrid": False,
            "directory_extensions": False,
        },
        "source_anchor": "mS-DS-ConsistencyGuid",
        "deletion_threshold": {"enabled": True, "threshold": 500},
    },
    "pending-exports": {
        "connectors": [{"connector": "contoso.com", "adds": 0, "updates": 3, "deletes": 0}],
        "source": "Get-ADSyncConnectorStatistics",
    },
    "machine": {
        "computer_name": "AADC02",
        "domain": "contoso.com",
        "sync_machine_identifier": "7e1c5a52-33b1-4d0e-9b55-1f8f2d6f0a11",
        "adsynctools_versions": ["2.4.0"],
        "proxy": {"default_proxy_found": True, "default_proxy_enabled": "true",
                  "proxy_address": "http://proxy.contoso.com:8080", "use_system_default": None,
                  "bypass_on_local": "true", "bypass_list": ["contoso\\.com"], "machine_config_error": None,
                  "winhttp_proxy": None, "winhttp_bypass": None,
                  "winhttp_error": "Failed: layout not recognised"},
        "health_agent": {"services": [{"name": "AzureADConnectHealthSyncInsights", "exists": True,
                                       "state": "Running", "start_mode": "Auto", "version": "4.5.2466.0"},
                                      {"name": "AzureADConnectHealthSyncMonitor", "exists": True,
                                       "state": "Running", "start_mode": "Auto", "version": "4.5.2466.0"}],
                         "error": None},
    },
    # the audit's read (MaxEvents 5): two partitions, newest events first, the newest start/stop of any age
    "password-sync": {
        "since_utc": "2026-11-21T04:00:00.0000000Z",
        "partitions": [
            {"connector_id": "{2A5F6D8C-0000-4000-8000-00000000AD01}", "dn": "DC=contoso,DC=com",
             "last_successful_cycle_start_utc": "2026-11-22T03:58:00Z",
             "last_successful_cycle_end_utc": "2026-11-22T03:58:02Z",
             "last_cycle_start_utc": "2026-11-22T03:58:00Z", "last_cycle_end_utc": "2026-11-22T03:58:02Z",
             "last_cycle_status": "Successful"},
            {"connector_id": "2a5f6d8c-0000-4000-8000-00000000ad01", "dn": "DC=emea,DC=contoso,DC=com",
             "last_successful_cycle_start_utc": None, "last_successful_cycle_end_utc": None,
             "last_cycle_start_utc": None, "last_cycle_end_utc": None, "last_cycle_status": None},
        ],
        "partitions_error": None,
        "writeback_events": [
            {"id": 31019, "time_utc": "2026-11-22T03:55:00Z", "provider": "PasswordResetService",
             "message": "ServiceBusHeartBeat"},
            {"id": 32002, "time_utc": "2026-11-22T02:55:00Z", "provider": "PasswordResetService",
             "message": None},
        ],
        "writeback_events_error": None,
        "phs_events": [{"id": 654, "time_utc": "2026-11-22T03:58:02Z",
                        "provider": "Directory Synchronization", "message": "PHS heartbeat"}],
        "phs_events_error": None,
        "writeback_state_event": {"id": 31015, "time_utc": "2026-11-18T04:00:00Z",
                                  "provider": "PasswordResetService", "message": None},
        "writeback_state_error": None,
    },
}

CLOUD_EXAMPLE: dict[str, Any] = {
    "tenant_id": "11111111-2222-3333-4444-555555555555",
    "sync_enabled": True,
    "last_sync": "2026-11-22T03:56:10Z",
    "last_password_sync": "2026-11-22T03:57:00Z",
    "canary": {
        "user": "canary@contoso.com",
        "found": True,
        "on_premises_last_sync": "2026-11-22T03:56:10Z",
        "extension_attributes": {"extensionAttribute15": "nonce-123", "extensionAttribute14": None},
    },
    "collected_utc": "2026-11-22T04:00:00Z",
}


def envelope(probe: str, data: Any, **overrides: Any) -> str:
    doc: dict[str, Any] = {"probe": probe, "schema": 1, "ok": True, "data": data, "error": None}
    doc.update(overrides)
    return json.dumps(doc)


def parse(probe: str, data: Any) -> Any:
    return parse_probe_output(HOST, probe, envelope(probe, data), now=NOW)


def test_examples_cover_every_domain() -> None:
    assert set(EXAMPLES) == set(FACT_TYPES)


@pytest.mark.parametrize("probe", list(FACT_TYPES))
def test_each_domain_parses_into_its_dataclass(probe: str) -> None:
    fact = parse(probe, EXAMPLES[probe])
    assert type(fact) is FACT_TYPES[probe]


def test_scheduler_values() -> None:
    fact: SchedulerFacts = parse("scheduler", EXAMPLES["scheduler"])
    assert fact.allowed_interval_s == 1800.0 and isinstance(fact.allowed_interval_s, float)
    assert fact.customized_interval_s is None
    assert fact.next_start_utc == datetime(2026, 11, 22, 4, 25, tzinfo=UTC)
    assert fact.staging_mode_enabled is False and fact.sync_cycle_enabled is True


def test_nested_values_connectors_os_config_tls() -> None:
    connectors: ConnectorsFacts = parse("connectors", EXAMPLES["connectors"])
    ad = connectors.connectors[0]
    assert ad.account is not None and ad.account.password_never_expires is True
    assert ad.permissions[0].aces[0].rights == ("ExtendedRight",)
    assert ad.permissions[0].aces[0].object_type == "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2"
    assert connectors.connectors[1].account is None

    os_fact: OsFacts = parse("os", EXAMPLES["os"])
    assert os_fact.updates[0].date == datetime(2026, 11, 12, 3, 55, 54, 123456, tzinfo=UTC)
    assert os_fact.reboot.cbs_reboot_pending is False

    config: ConfigFacts = parse("config", EXAMPLES["config"])
    assert config.features["password_hash_sync"] is True
    assert config.connectors[0].partitions[0].inclusions == ("OU=Staff,DC=contoso,DC=com",)
    assert config.deletion_threshold.threshold == 500

    tls: TlsFacts = parse("tls", EXAMPLES["tls"])
    assert len(tls.values) == 8 and tls.values[-1].value is None

    history: RunHistoryFacts = parse("run-history", EXAMPLES["run-history"])
    assert history.runs[1].end is None and history.runs[1].complete is False


def test_auto_upgrade_parses_and_older_version_facts_without_it_still_do() -> None:
    """Get-ADSyncAutoUpgrade state, reason and error (issue 16); evidence from before carries none."""
    data = {**EXAMPLES["version"], "auto_upgrade": "Suspended",
            "auto_upgrade_reason": "UpgradeAbortedAdSyncExeInUse", "auto_upgrade_error": None}
    version: VersionFacts = parse("version", data)
    assert version.auto_upgrade == "Suspended"
    assert version.auto_upgrade_reason == "UpgradeAbortedAdSyncExeInUse"
    plain: VersionFacts = parse("version", EXAMPLES["version"])
    assert plain.auto_upgrade is None and plain.auto_upgrade_error is None


def test_database_block_parses_and_version_facts_without_it_still_do() -> None:
    """ADSync\\Parameters and the LocalDB data file (issue 16 point 7); evidence from before carries none."""
    data = {**EXAMPLES["version"], "database": {
        "server": "(localdb)", "sql_instance": ".\\ADSync2019", "db_name": "ADSync",
        "data_file": "C:\\Program Files\\Microsoft Azure AD Sync\\Data\\ADSync2019\\ADSync.mdf",
        "data_file_bytes": 9556302233, "registry_error": None, "data_file_error": None}}
    version: VersionFacts = parse("version", data)
    assert version.database is not None and version.database.is_localdb is True
    assert version.database.data_file_bytes == 9556302233
    remote = {**data["database"], "server": "sql01.contoso.com", "sql_instance": None, "data_file": None,
              "data_file_bytes": None}
    parsed: VersionFacts = parse("version", {**EXAMPLES["version"], "database": remote})
    assert parsed.database is not None and parsed.database.is_localdb is False
    assert parse("version", EXAMPLES["version"]).database is None


def test_connector_overrides_parse_and_scheduler_facts_without_them_still_do() -> None:
    """Get-ADSyncSchedulerConnectorOverride (issue 16 point 8); older evidence and actions carry none."""
    rows = [{"connector_identifier": "b891884f-051e-4a83-95af-2544101c9083", "connector_name": None,
             "full_import_required": True, "full_sync_required": None}]
    scheduler = parse("scheduler", {**EXAMPLES["scheduler"],
                                    "connector_overrides": {"overrides": rows, "error": None}})
    assert scheduler.connector_overrides.overrides[0].full_import_required is True
    assert scheduler.connector_overrides.overrides[0].full_sync_required is None
    failed = parse("scheduler", {**EXAMPLES["scheduler"],
                                 "connector_overrides": {"overrides": None, "error": "Failed: no"}})
    assert failed.connector_overrides.overrides == () and failed.connector_overrides.error == "Failed: no"
    without = {k: v for k, v in EXAMPLES["scheduler"].items() if k != "connector_overrides"}
    assert parse("scheduler", without).connector_overrides is None


def test_entra_identity_parses_a_certificate_years_ahead_and_connectors_without_it_still_do() -> None:
    """Get-ADSyncEntraConnectorCredential (issue 16 point 9): a certificate's expiry lies in the future by
    nature, unlike every other date; older evidence carries no block."""
    identity = {**EXAMPLES["connectors"]["entra_identity"], "certificate_not_after": "2031-01-01T00:00:00Z"}
    facts = parse("connectors", {**EXAMPLES["connectors"], "entra_identity": identity})
    assert facts.entra_identity.identity_type == "Application"
    assert facts.entra_identity.certificate_not_after == datetime(2031, 1, 1, tzinfo=UTC)
    without = {k: v for k, v in EXAMPLES["connectors"].items() if k != "entra_identity"}
    assert parse("connectors", without).entra_identity is None


def test_health_agent_rows_parse_and_machine_facts_without_them_still_do() -> None:
    """Connect Health sync agent services (issue 16 point 4); evidence from before carries none."""
    rows = [{"name": "AzureADConnectHealthSyncMonitor", "exists": True, "state": "Stopped",
             "start_mode": "Manual", "version": "4.2.1100.0"}]
    machine = parse("machine", {**EXAMPLES["machine"], "health_agent": {"services": rows, "error": None}})
    assert machine.health_agent.services[0].state == "Stopped"
    assert machine.health_agent.services[0].version == "4.2.1100.0"
    without = {k: v for k, v in EXAMPLES["machine"].items() if k != "health_agent"}
    assert parse("machine", without).health_agent is None


def test_proxy_block_parses_and_machine_facts_without_it_still_do() -> None:
    """machine.config defaultProxy and WinHTTP proxy (issue 16); evidence from before carries no block."""
    machine = parse("machine", EXAMPLES["machine"])
    assert machine.proxy.proxy_address == "http://proxy.contoso.com:8080"
    assert machine.proxy.bypass_list == ("contoso\\.com",) and machine.proxy.winhttp_error
    without = {k: v for k, v in EXAMPLES["machine"].items() if k != "proxy"}
    assert parse("machine", without).proxy is None


def test_export_counters_parse_and_rows_without_them_still_do() -> None:
    """Counters only on a connector's newest Export; older evidence and other rows carry none (issue 16)."""
    data = copy.deepcopy(EXAMPLES["run-history"])
    data["runs"][1]["export_counters"] = {"add": 1, "update": 14, "rename": 0, "delete": 812,
                                          "delete_add": 0, "failure": 4}
    data["runs"][1]["export_counters_error"] = None
    data["runs"][0]["export_counters"] = None
    data["runs"][0]["export_counters_error"] = "no export counters on 1 step(s); step properties: StepNumber"
    history: RunHistoryFacts = parse("run-history", data)
    counters = history.runs[1].export_counters
    assert counters is not None and (counters.update, counters.delete, counters.failure) == (14, 812, 4)
    assert history.runs[0].export_counters is None
    assert history.runs[0].export_counters_error and "StepNumber" in history.runs[0].export_counters_error
    plain: RunHistoryFacts = parse("run-history", EXAMPLES["run-history"])
    assert plain.runs[1].export_counters is None and plain.runs[1].export_counters_error is None


def test_guids_are_normalised_and_rights_accept_flag_text() -> None:
    data = copy.deepcopy(EXAMPLES["connectors"])
    data["connectors"][0]["identifier"] = "{5D4E3F2A-1B0C-4D9E-8F7A-6B5C4D3E2F1A}"
    data["connectors"][0]["permissions"][0]["aces"][0]["rights"] = "ReadProperty, WriteProperty"
    fact: ConnectorsFacts = parse("connectors", data)
    assert fact.connectors[0].identifier == "5d4e3f2a-1b0c-4d9e-8f7a-6b5c4d3e2f1a"
    assert fact.connectors[0].permissions[0].aces[0].rights == ("ReadProperty", "WriteProperty")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T03:55:54.1234567Z", datetime(2026, 11, 22, 3, 55, 54, 123456, tzinfo=UTC)),
        ("2026-11-22T03:55:54Z", datetime(2026, 11, 22, 3, 55, 54, tzinfo=UTC)),
        ("2026-11-22T04:55:54.5+01:00", datetime(2026, 11, 22, 3, 55, 54, 500000, tzinfo=UTC)),
        ("2026-11-22T03:55:54.1234567", datetime(2026, 11, 22, 3, 55, 54, 123456, tzinfo=UTC)),
        ("/Date(1700000000000)/", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("\\/Date(1700000000000)\\/", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    ],
)
def test_datetime_forms(text: str, expected: datetime) -> None:
    assert parse_datetime(text) == expected


def test_ps51_date_form_inside_a_probe_document() -> None:
    data = copy.deepcopy(EXAMPLES["scheduler"])
    expected_ms = int(datetime(2026, 11, 22, 4, 25, tzinfo=UTC).timestamp() * 1000)
    data["next_start_utc"] = f"/Date({expected_ms})/"
    fact: SchedulerFacts = parse("scheduler", data)
    assert fact.next_start_utc == datetime(2026, 11, 22, 4, 25, tzinfo=UTC)


def test_int_is_accepted_for_float_but_bool_is_not_an_int() -> None:
    fact: SchedulerFacts = parse("scheduler", EXAMPLES["scheduler"])
    assert fact.purge_interval_s == 604800.0
    data = copy.deepcopy(EXAMPLES["os"])
    data["ubr"] = True
    with pytest.raises(ProbeError, match="expected an integer"):
        parse("os", data)


def test_optional_none_defaults_may_be_omitted_but_asserting_defaults_may_not() -> None:
    data = copy.deepcopy(EXAMPLES["scheduler"])
    del data["sync_cycle_in_progress"]
    assert parse("scheduler", data).sync_cycle_in_progress is None
    os_data = copy.deepcopy(EXAMPLES["os"])
    del os_data["reboot"]
    with pytest.raises(ProbeError) as info:
        parse("os", os_data)
    assert info.value.field == "reboot"


# --- Windows PowerShell 5.1 collection shapes ------------------------------------------------------------
# PS 5.1 unrolls collections: an empty array returned from a function (or a pipeline, or an `if` expression)
# becomes $null and a one-element array becomes its element, so a list field can arrive as JSON null or as the
# bare element. The cases are generated from the dataclass fields, so a new list field is covered (or fails
# the coverage test) without anyone listing it here.

JsonPath = tuple[str | int, ...]


def _tuple_item(hint: Any) -> Any | None:
    """X when ``hint`` is ``tuple[X, ...]`` (possibly optional), else None."""
    for arg in (hint, *typing.get_args(hint)):
        if typing.get_origin(arg) is tuple:
            return typing.get_args(arg)[0]
    return None


def _dataclass_in(hint: Any) -> type | None:
    """The dataclass ``hint`` is, or holds as an optional, if any."""
    for arg in (hint, *typing.get_args(hint)):
        if dataclasses.is_dataclass(arg) and isinstance(arg, type):
            return arg
    return None


def _all_list_fields(cls: type, seen: set[type] | None = None) -> set[tuple[type, str]]:
    """Every tuple-typed field of ``cls`` and of the dataclasses it holds, from the type hints alone."""
    seen = set() if seen is None else seen
    if cls in seen:
        return set()
    seen.add(cls)
    found: set[tuple[type, str]] = set()
    for name, hint in typing.get_type_hints(cls).items():
        item = _tuple_item(hint)
        if item is not None:
            found.add((cls, name))
        inner = _dataclass_in(item if item is not None else hint)
        if inner is not None:
            found |= _all_list_fields(inner, seen)
    return found


def _list_fields_in(cls: type, data: Any, path: JsonPath = ()) -> Iterator[tuple[type, str, JsonPath]]:
    """Every tuple-typed field present in ``data`` (JSON of a ``cls``), with its JSON path, at any depth."""
    if not isinstance(data, dict):
        return
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        value = data.get(f.name)
        if value is None:
            continue
        item = _tuple_item(hints[f.name])
        if item is not None:
            yield cls, f.name, (*path, f.name)
            inner = _dataclass_in(item)
            for i, element in enumerate(value if inner is not None else []):
                yield from _list_fields_in(inner, element, (*path, f.name, i))  # type: ignore[arg-type]
            continue
        inner = _dataclass_in(hints[f.name])
        if inner is not None:
            yield from _list_fields_in(inner, value, (*path, f.name))


def _field_path(path: JsonPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _at(data: Any, path: JsonPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _put(data: Any, path: JsonPath, value: Any) -> None:
    _at(data, path[:-1])[path[-1]] = value


LIST_FIELD_CASES: list[tuple[str, type, str, JsonPath]] = [
    (domain, cls, name, path)
    for domain in FACT_TYPES
    for cls, name, path in _list_fields_in(FACT_TYPES[domain], EXAMPLES[domain])
]

SAMPLE_ELEMENTS: dict[tuple[type, str], Any] = {}
for _domain, _cls, _name, _path in LIST_FIELD_CASES:
    if _at(EXAMPLES[_domain], _path):
        SAMPLE_ELEMENTS.setdefault((_cls, _name), _at(EXAMPLES[_domain], _path)[0])


def test_list_field_cases_cover_every_tuple_field_of_the_model() -> None:
    every = set().union(*(_all_list_fields(cls) for cls in FACT_TYPES.values()))
    covered = {(cls, name) for _, cls, name, _ in LIST_FIELD_CASES}
    assert every, "the model has list fields"
    assert every - covered == set(), "give EXAMPLES a value for these list fields"


@pytest.mark.parametrize(
    ("domain", "cls", "name", "path"),
    LIST_FIELD_CASES,
    ids=[f"{domain}:{_field_path(path)}" for domain, _, _, path in LIST_FIELD_CASES],
)
def test_ps51_unrolled_list_shapes_parse_to_the_same_facts(
    domain: str, cls: type, name: str, path: JsonPath
) -> None:
    base = copy.deepcopy(EXAMPLES[domain])
    items = _at(base, path)
    assert isinstance(items, list)
    # An empty example list borrows an element the same field has elsewhere (an AD connector's permissions
    # for the Entra connector's); a list of strings that is empty everywhere gets a sample string.
    element = items[0] if items else SAMPLE_ELEMENTS.get((cls, name))
    if element is None:
        item_type = _tuple_item(typing.get_type_hints(cls)[name])
        assert item_type is str, f"{_field_path(path)}: give the examples an element"
        element = "OU=Sample,DC=contoso,DC=com"

    def shaped(value: Any) -> Any:
        data = copy.deepcopy(base)
        _put(data, path, copy.deepcopy(value))
        return parse(domain, data)

    one = shaped([element])
    assert shaped(element) == one  # a one-element array unrolled to its element
    empty = shaped([])
    assert shaped(None) == empty  # an empty array unrolled to $null
    assert one != empty  # the field really reached the facts
    assert _at_fact(one, path) == (_at_fact(one, (*path, 0)),)
    assert _at_fact(empty, path) == ()


def _at_fact(fact: Any, path: JsonPath) -> Any:
    for part in path:
        fact = fact[part] if isinstance(part, int) else getattr(fact, part)
    return fact


@pytest.mark.parametrize("domain", list(FACT_TYPES))
def test_every_list_unrolled_at_once_parses_to_the_same_facts(domain: str) -> None:
    # What the lab's ps51_unrolling option serves: every empty list null, every one-element list its element.
    unrolled = unroll_collections(copy.deepcopy(EXAMPLES[domain]))
    assert parse(domain, unrolled) == parse(domain, EXAMPLES[domain])


def test_ps51_shapes_really_occur_in_the_unrolled_examples() -> None:
    # The test above proves something only if the examples have empty and one-element lists to unroll.
    shapes = {
        "null" if _at(unroll_collections(copy.deepcopy(EXAMPLES[d])), p) is None else "bare"
        for d, _, _, p in LIST_FIELD_CASES
        if len(_at(EXAMPLES[d], p)) < 2 and all(isinstance(x, str) for x in p)
    }
    assert shapes == {"null", "bare"}


# --- malformed -------------------------------------------------------------------------------------------


def _mutated(probe: str, change: Any) -> str:
    data = copy.deepcopy(EXAMPLES[probe])
    change(data)
    return envelope(probe, data)


def _set(path: list[Any], value: Any) -> Any:
    def change(data: Any) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _delete(path: list[Any]) -> Any:
    def change(data: Any) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


MALFORMED: list[tuple[str, str, Any, str | None, str]] = [
    # (id, probe, raw output, field named, message fragment)
    ("not-a-string", "scheduler", {"probe": "scheduler"}, None, "expected one JSON string"),
    ("not-json", "scheduler", "WARNING: something {", None, "not JSON"),
    ("not-an-object", "scheduler", "[1, 2]", None, "expected a JSON object"),
    ("wrong-probe", "scheduler", envelope("service", EXAMPLES["scheduler"]), "probe", "expected 'scheduler'"),
    ("wrong-schema", "scheduler", envelope("scheduler", EXAMPLES["scheduler"], schema=2), "schema", "schema"),
    (
        "bool-schema",
        "scheduler",
        envelope("scheduler", EXAMPLES["scheduler"], schema=True),
        "schema",
        "schema",
    ),
    ("ok-not-bool", "scheduler", envelope("scheduler", EXAMPLES["scheduler"], ok="yes"), "ok", "'ok'"),
    ("data-null", "scheduler", envelope("scheduler", None), "data", "'data'"),
    (
        "missing-field",
        "scheduler",
        _mutated("scheduler", _delete(["staging_mode_enabled"])),
        "staging_mode_enabled",
        "missing field",
    ),
    (
        "nested-wrong-type",
        "connectors",
        _mutated("connectors", _set(["connectors", 0, "account", "enabled"], "yes")),
        "connectors[0].account.enabled",
        "expected true or false",
    ),
    (
        "nested-missing",
        "connectors",
        _mutated("connectors", _delete(["connectors", 0, "permissions", 0, "aces", 0, "access"])),
        "connectors[0].permissions[0].aces[0].access",
        "missing field",
    ),
    (
        "null-required",
        "scheduler",
        _mutated("scheduler", _set(["sync_cycle_enabled"], None)),
        "sync_cycle_enabled",
        "must not be null",
    ),
    (
        "string-for-number",
        "scheduler",
        _mutated("scheduler", _set(["allowed_interval_s"], "00:30:00")),
        "allowed_interval_s",
        "expected a number",
    ),
    (
        "bool-for-float",
        "scheduler",
        _mutated("scheduler", _set(["allowed_interval_s"], True)),
        "allowed_interval_s",
        "expected a number",
    ),
    ("float-for-int", "os", _mutated("os", _set(["build"], 20348.5)), "build", "expected an integer"),
    (
        "negative-interval",
        "scheduler",
        _mutated("scheduler", _set(["effective_interval_s"], -1)),
        "effective_interval_s",
        "negative",
    ),
    (
        "negative-count",
        "pending-exports",
        _mutated("pending-exports", _set(["connectors", 0, "deletes"], -5)),
        "connectors[0].deletes",
        "negative",
    ),
    ("small-build", "os", _mutated("os", _set(["build"], 5999)), "build", "Windows build"),
    (
        "year-before-2000",
        "run-history",
        _mutated("run-history", _set(["runs", 0, "start"], "0001-01-01T00:00:00Z")),
        "runs[0].start",
        "before 2000",
    ),
    (
        "future-date",
        "os",
        _mutated("os", _set(["last_boot_utc"], "2026-11-24T04:00:00Z")),
        "last_boot_utc",
        "future",
    ),
    (
        "bad-date",
        "os",
        _mutated("os", _set(["updates", 0, "date"], "yesterday")),
        "updates[0].date",
        "ISO 8601",
    ),
    (
        "bad-guid",
        "run-history",
        _mutated("run-history", _set(["runs", 0, "run_history_id"], "not-a-guid")),
        "runs[0].run_history_id",
        "GUID",
    ),
    ("list-for-object", "os", _mutated("os", _set(["reboot"], [])), "reboot", "expected an object"),
    # A lone object where a list belongs is PS 5.1's one-element array: read as [object], so an object that is
    # not a valid element still fails, at the element's path.
    ("object-for-list", "tls", _mutated("tls", _set(["values"], {})), "values[0].path", "missing field"),
    ("number-for-object-list", "tls", _mutated("tls", _set(["values"], 5)), "values[0]",
     "expected an object"),
    (
        "bool-for-string-list",
        "machine",
        _mutated("machine", _set(["adsynctools_versions"], True)),
        "adsynctools_versions[0]",
        "expected a string",
    ),
    (
        "lone-element-missing-field",
        "run-history",
        _mutated(
            "run-history",
            _set(["runs"], {k: v for k, v in EXAMPLES["run-history"]["runs"][0].items() if k != "connector"}),
        ),
        "runs[0].connector",
        "missing field",
    ),
    (
        "lone-element-wrong-type",
        "connectors",
        _mutated(
            "connectors",
            _set(["connectors", 0, "permissions", 0, "aces"],
                 {**EXAMPLES["connectors"]["connectors"][0]["permissions"][0]["aces"][0], "inherited": "no"}),
        ),
        "connectors[0].permissions[0].aces[0].inherited",
        "expected true or false",
    ),
    ("null-list-item", "run-history", _mutated("run-history", _set(["busy_connectors"], [None])),
     "busy_connectors[0]", "must not be null"),
    # null is PS 5.1's empty array, but a list field that is missing altogether is still missing.
    ("missing-required-list", "run-history", _mutated("run-history", _delete(["runs"])), "runs",
     "missing field"),
    (
        "missing-defaulted-list",
        "connectors",
        _mutated("connectors", _delete(["connectors", 1, "permissions"])),
        "connectors[1].permissions",
        "missing field",
    ),
    (
        "features-not-bool",
        "config",
        _mutated("config", _set(["features", "group_writeback"], "False")),
        "features.group_writeback",
        "expected true or false",
    ),
    (
        "update-result-code",
        "os",
        _mutated("os", _set(["updates", 0, "result_code"], 9)),
        "updates[0].result_code",
        "result code",
    ),
    (
        "nan",
        "scheduler",
        envelope("scheduler", EXAMPLES["scheduler"]).replace("604800", "NaN"),
        None,
        "not JSON",
    ),
]


@pytest.mark.parametrize(
    ("probe", "raw", "field", "fragment"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_output_names_host_probe_and_field(
    probe: str, raw: Any, field: str | None, fragment: str
) -> None:
    with pytest.raises(ProbeError) as info:
        parse_probe_output(HOST, probe, raw, now=NOW)
    error = info.value
    assert isinstance(error, EntraStandbyError)
    assert error.host == HOST and error.probe == probe
    assert error.field == field
    text = str(error)
    assert HOST in text and f"probe {probe}" in text and fragment in text
    if field:
        assert f"field {field}" in text
    assert "\n" not in text


@pytest.mark.parametrize("kind", ["CommandNotFound", "AccessDenied", "NotInstalled", "Failed"])
def test_ok_false_carries_error_kind_and_message(kind: str) -> None:
    raw = json.dumps(
        {
            "probe": "scheduler",
            "schema": 1,
            "ok": False,
            "data": None,
            "error": {"kind": kind, "message": "The term 'Get-ADSyncScheduler' is not recognized"},
        }
    )
    with pytest.raises(ProbeFailedError) as info:
        parse_probe_output(HOST, "scheduler", raw, now=NOW)
    assert info.value.error_kind == kind
    assert info.value.kind == "probe"
    assert kind in str(info.value) and "Get-ADSyncScheduler" in str(info.value) and HOST in str(info.value)


def test_ok_false_with_unknown_kind_is_malformed() -> None:
    raw = json.dumps(
        {
            "probe": "scheduler",
            "schema": 1,
            "ok": False,
            "data": None,
            "error": {"kind": "Oops", "message": "x"},
        }
    )
    with pytest.raises(ProbeError) as info:
        parse_probe_output(HOST, "scheduler", raw, now=NOW)
    assert not isinstance(info.value, ProbeFailedError)
    assert info.value.field == "error.kind"


def test_unknown_probe_is_an_error() -> None:
    with pytest.raises(ProbeError, match="unknown probe"):
        parse_probe_output(HOST, "nope", envelope("nope", {}), now=NOW)


def test_future_check_is_relative_to_injected_now() -> None:
    data = copy.deepcopy(EXAMPLES["os"])
    data["last_boot_utc"] = "2030-01-01T00:00:00Z"
    later = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(hours=1)
    assert parse_probe_output(HOST, "os", envelope("os", data), now=later).last_boot_utc.year == 2030
    with pytest.raises(ProbeError):
        parse_probe_output(HOST, "os", envelope("os", data), now=NOW)


def test_action_output_is_scheduler_state() -> None:
    raw = json.dumps(
        {"action": "set-staging", "schema": 1, "ok": True, "data": EXAMPLES["scheduler"], "error": None}
    )
    assert parse_action_output(HOST, "set-staging", raw, now=NOW).staging_mode_enabled is False
    with pytest.raises(ProbeError, match="envelope names action"):
        parse_action_output(HOST, "set-sync-cycle", raw, now=NOW)


# --- evidence round trip ---------------------------------------------------------------------------------


@pytest.mark.parametrize("domain", [*FACT_TYPES, "cloud"])
def test_round_trip_fact_data_fact_is_identity(domain: str) -> None:
    source = CLOUD_EXAMPLE if domain == "cloud" else EXAMPLES[domain]
    fact = fact_from_data(domain, source)
    data = fact_to_data(fact)
    json.dumps(data)  # plain JSON-ready data
    assert fact_from_data(domain, json.loads(json.dumps(data))) == fact
    assert fact_to_data(fact_from_data(domain, data)) == data


def test_cloud_facts_build() -> None:
    cloud: CloudFacts = fact_from_data("cloud", CLOUD_EXAMPLE)
    assert isinstance(cloud.canary, CanaryFacts)
    assert cloud.canary.extension_attributes == {
        "extensionAttribute15": "nonce-123",
        "extensionAttribute14": None,
    }
    assert cloud.last_sync == datetime(2026, 11, 22, 3, 56, 10, tzinfo=UTC)


def test_fact_to_data_writes_powershell_dates() -> None:
    data = fact_to_data(parse("scheduler", EXAMPLES["scheduler"]))
    assert data["next_start_utc"] == "2026-11-22T04:25:00.0000000Z"


def test_fact_from_data_rejects_garbage_with_domain_and_field() -> None:
    with pytest.raises(ProbeError) as info:
        fact_from_data("cloud", {**CLOUD_EXAMPLE, "sync_enabled": "true"}, host="replay")
    assert info.value.host == "replay" and info.value.probe == "cloud" and info.value.field == "sync_enabled"
    with pytest.raises(ProbeError, match="unknown fact domain"):
        fact_from_data("weather", {})
