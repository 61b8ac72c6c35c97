"""Committed evidence (fixtures/evidence/<scenario>/) replayed: the exact verdict of every check x target.

Each directory was written by ``pytest checks/ --inventory <lab: scenario> --evidence DIR`` (see
scripts/refresh-evidence). Here each one is replayed once (a module-scoped fixture per scenario) with
``pytest checks/ --replay DIR`` in a subprocess, no lab running, and the JUnit report must match ``EXPECTED``
exactly: the listed check x target fail or error with the listed message fragments, everything else passes.
Replay evaluates at the evidence's collection time, so time-dependent verdicts ("62 days ago") never drift and
these tests stay valid for ever. Every check id fails in at least one saved scenario, so each has a replay
test proving it can fail. A format change that ``entra_standby/evidence.py`` can no longer read fails here
first, with the fix.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from spine_helpers import ROOT, Case, junit_cases, run_checks

from entra_standby.errors import EntraStandbyError
from entra_standby.evidence import load_evidence, read_run_metadata
from entra_standby.rules import evaluate, load_all

EVIDENCE = ROOT / "fixtures" / "evidence"
ACTIVE, STANDBY = "127.0.0.11", "127.0.0.12"  # the lab's aadc01 and aadc02
ACTIVE_NAME, STANDBY_NAME = "aadc01", "aadc02"  # how their testcases (targets) name them
REFRESH = ".venv/bin/python scripts/refresh-evidence"


@dataclass(frozen=True)
class Expect:
    outcome: str  # failed | error
    fragments: tuple[str, ...]


def failed(*fragments: str) -> Expect:
    return Expect("failed", fragments)


def errored(*fragments: str) -> Expect:
    return Expect("error", fragments)


UNREACHABLE = f"{ACTIVE}: unreachable: connection refused on port"
NO_SYNC_SERVICE = "Unable to connect to the Synchronization Service"

# scenario -> {(check id, host, or None for a pair-scoped check): expected}; every other target passes.
EXPECTED: dict[str, dict[tuple[str, str | None], Expect]] = {
    "healthy-pair": {},
    "standby-drifted": {
        ("version-parity", STANDBY): failed(f"Entra Connect 2.5.79.0 is older than the active {ACTIVE}'s "
                                            "2.5.190.0"),
        ("tls12", STANDBY): failed(r"v4.0.30319\SchUseStrongCrypto is Not Found, recommended 1",
                                   r"TLS 1.2\Client\DisabledByDefault is 1, must be 0", "tls12: 2 findings"),
        ("dotnet", STANDBY): failed(".NET Framework release 460805 is below 461808 (4.7.2)"),
        ("patch-age", STANDBY): failed("(KB5065432) installed", "62 days ago (limit 45 days)",
                                       '"age_days": 62.0'),
        ("os-build-parity", STANDBY): failed(f"OS build 20348.3807 is below the active {ACTIVE}'s "
                                             "20348.4405"),
        ("pending-reboot", STANDBY): failed("reboot pending (cbs_reboot_pending"),
        ("recent-imports", STANDBY): failed("connector 'contoso.com': latest Delta Import ended 3.0 h ago "
                                            "(limit 60 min)", "recent-imports: 4 findings"),
        ("connector-account", STANDBY): failed("lacks ExtendedRight Replicating Directory Changes All",
                                               "lacks ExtendedRight Reset Password", f"the active {ACTIVE}'s",
                                               "on OU=Contractors,DC=contoso,DC=com "
                                               "(needed by password_writeback)",
                                               "connector-account: 4 findings"),
        ("config-drift", STANDBY): failed("OU inclusions missing here: ou=groups,dc=contoso,dc=com",
                                          "OU inclusions only here: ou=contractors,dc=contoso,dc=com",
                                          "'Custom - In from AD - User extensionAttribute1'",
                                          "disabled False on active, True here", f"(vs active {ACTIVE})"),
        ("pending-exports", STANDBY): failed("connector 'contoso.onmicrosoft.com - AAD' has 1200 pending "
                                             "deletes, above the export deletion threshold 500 (limit 10)"),
        ("machine-identity", None): failed(f"{ACTIVE} and {STANDBY} share SyncMachineIdentifier "
                                           "5d9c3f5e-7a2b-4c1d-9e8f-0a1b2c3d4e5f"),
        ("adsynctools", STANDBY): failed("the ADSyncTools module is not installed",
                                         '"adsynctools_versions": []'),
    },
    "split-brain": {
        ("staging-flag", None): failed("2 servers are un-staged and export at the same time",
                                       f"{ACTIVE} (active): UN-STAGED (exporting)",
                                       f"{STANDBY} (standby): UN-STAGED (exporting)",
                                       f"{STANDBY} is a standby in the inventory but is NOT staged"),
    },
    "active-down": {
        **{(check_id, ACTIVE): errored(f"{check_id} cannot be evaluated on active-down/{ACTIVE_NAME}",
                                                   UNREACHABLE)
           for check_id in ("adsync-service", "adsynctools", "audit-access", "connector-account",
                            "deletion-threshold", "dotnet", "export-health", "os-supported", "patch-age",
                            "pending-reboot",
                            "sync-scheduler", "tls12", "version-supported")},
        # The standby's checks that compare with the active cannot be evaluated either; its own ones pass.
        **{(check_id, STANDBY): errored(f"{check_id} cannot be evaluated on active-down/{STANDBY_NAME}",
                                        f"{ACTIVE}: fact '{domain}' unavailable", UNREACHABLE)
           for check_id, domain in (("config-drift", "config"), ("connector-account", "config"),
                                    ("os-build-parity", "os"), ("proxy-parity", "machine"),
                                    ("version-parity", "version"))},
        ("machine-identity", None): errored("machine-identity cannot be evaluated on active-down:",
                                            UNREACHABLE),
        ("auto-upgrade", None): errored("auto-upgrade cannot be evaluated on active-down:", UNREACHABLE),
        ("database", None): errored("database cannot be evaluated on active-down:", UNREACHABLE),
        ("connect-health-agent", None): errored("connect-health-agent cannot be evaluated on active-down:",
                                                UNREACHABLE),
        ("entra-connector-identity", None): errored("entra-connector-identity cannot be evaluated on "
                                                    "active-down:", UNREACHABLE),
        ("staging-flag", None): errored("staging-flag cannot be evaluated on active-down:", UNREACHABLE),
        ("password-hash-sync", None): errored("password-hash-sync cannot be evaluated on active-down:",
                                              UNREACHABLE),
        ("password-writeback", None): errored("password-writeback cannot be evaluated on active-down:",
                                              UNREACHABLE),
    },
    "cloud-stale": {
        ("cloud-sync-fresh", None): failed("tenant 7d3f5a1e-2c4b-4e8f-9a6d-1b2c3d4e5f60: last sync from "
                                           "on-premises 6.0 h ago", "(threshold 90 min)",
                                           '"age_minutes": 360.0', "nothing is exporting"),
        ("cloud-canary", None): failed("canary user canary@contoso.com: last sync from on-premises 6.0 h ago",
                                       "(threshold 90 min)"),
        # The cause the tenant only hints at, on the server itself: the active's Entra export stopped.
        ("export-health", ACTIVE): failed(
            "[critical]", "connector 'contoso.onmicrosoft.com - AAD': newest Export ended",
            "with stopped-server-down: the connected directory did not answer",
            "3 update(s), 0 delete(s) still pending export"),
        # Password hash sync cannot reach Entra ID either (the tenant's last password sync is 6 h old too).
        ("password-hash-sync", None): failed(
            f"{ACTIVE}: partition DC=contoso,DC=com: the last successful password hash sync cycle ended "
            "6.0 h ago", "limit 120 min", "the newest password hash sync cycle ended 'FailedRetryable'",
            "password-hash-sync: 2 findings"),
    },
    "break-sync-scheduler": {
        ("sync-scheduler", STANDBY): failed("SchedulerSuspended is True: cycles are blocked"),
    },
    "break-adsync-service": {
        ("adsync-service", STANDBY): failed("service ADSync is Stopped, not Running",
                                            "service ADSync start mode is Manual, not Automatic"),
        # With ADSync stopped the standby's ADSync cmdlets fail, so what needs them cannot be evaluated.
        **{(check_id, STANDBY): errored(f"{check_id} cannot be evaluated on break-adsync-service/"
                                                 f"{STANDBY_NAME}",
                                        f"{STANDBY}: probe {probe}: Failed: {cmdlet} : {NO_SYNC_SERVICE}")
           for check_id, probe, cmdlet in (
               ("config-drift", "config", "Get-ADSyncRule"),
               ("connector-account", "connectors", "Get-ADSyncConnector"),
               ("deletion-threshold", "config", "Get-ADSyncRule"),
               ("export-health", "run-history", "Get-ADSyncRunProfileResult"),
               ("pending-exports", "pending-exports", "Get-ADSyncConnectorStatistics"),
               ("recent-imports", "run-history", "Get-ADSyncRunProfileResult"),
               ("pending-full-sync", "scheduler", "Get-ADSyncScheduler"),
               ("sync-scheduler", "scheduler", "Get-ADSyncScheduler"))},
        ("staging-flag", None): errored(f"{STANDBY}: probe scheduler: Failed: Get-ADSyncScheduler"),
        ("entra-connector-identity", None): errored(
            f"{STANDBY}: probe connectors: Failed: Get-ADSyncConnector : {NO_SYNC_SERVICE}"),
        # The version probe answers without the sync service; its Get-ADSyncAutoUpgrade read does not.
        ("auto-upgrade", None): errored(f"{STANDBY}: fact 'version' unavailable",
                                        "auto-upgrade state unreadable: Failed: Get-ADSyncAutoUpgrade : "
                                        f"{NO_SYNC_SERVICE}"),
        # The standby's PHS / writeback settings come from the config probe's ADSync cmdlets.
        **{(check_id, None): errored(f"{STANDBY}: probe config: Failed: Get-ADSyncRule : {NO_SYNC_SERVICE}")
           for check_id in ("password-hash-sync", "password-writeback")},
    },
    "break-audit-access": {
        # The sync service runs, but refuses the audit account (in no ADSync group) exactly as it would answer
        # when stopped; audit-access is the one failure, naming the group, and the rest cannot be evaluated.
        ("audit-access", STANDBY): failed("is in neither ADSyncAdmins nor ADSyncOperators",
                                          "net localgroup ADSyncAdmins CONTOSO\\svc-entra-audit /add"),
        **{(check_id, STANDBY): errored(f"{check_id} cannot be evaluated on break-audit-access/"
                                                 f"{STANDBY_NAME}",
                                        f"{STANDBY}: probe {probe}: Failed: {cmdlet} : {NO_SYNC_SERVICE}")
           for check_id, probe, cmdlet in (
               ("config-drift", "config", "Get-ADSyncRule"),
               ("connector-account", "connectors", "Get-ADSyncConnector"),
               ("deletion-threshold", "config", "Get-ADSyncRule"),
               ("export-health", "run-history", "Get-ADSyncRunProfileResult"),
               ("pending-exports", "pending-exports", "Get-ADSyncConnectorStatistics"),
               ("recent-imports", "run-history", "Get-ADSyncRunProfileResult"),
               ("pending-full-sync", "scheduler", "Get-ADSyncScheduler"),
               ("sync-scheduler", "scheduler", "Get-ADSyncScheduler"))},
        ("staging-flag", None): errored(f"{STANDBY}: probe scheduler: Failed: Get-ADSyncScheduler"),
        ("entra-connector-identity", None): errored(
            f"{STANDBY}: probe connectors: Failed: Get-ADSyncConnector : {NO_SYNC_SERVICE}"),
        # The version probe answers without the sync service; its Get-ADSyncAutoUpgrade read does not.
        ("auto-upgrade", None): errored(f"{STANDBY}: fact 'version' unavailable",
                                        "auto-upgrade state unreadable: Failed: Get-ADSyncAutoUpgrade : "
                                        f"{NO_SYNC_SERVICE}"),
        # The standby's PHS / writeback settings come from the config probe's ADSync cmdlets.
        **{(check_id, None): errored(f"{STANDBY}: probe config: Failed: Get-ADSyncRule : {NO_SYNC_SERVICE}")
           for check_id in ("password-hash-sync", "password-writeback")},
    },
    "break-version-supported": {
        ("version-supported", ACTIVE): failed("Entra Connect 2.4.28.0 is below the supported floor 2.5.79.0"),
        ("version-parity", STANDBY): failed(f"Entra Connect 2.5.79.0 is newer than the active {ACTIVE}'s "
                                            "2.4.28.0"),
    },
    "break-os-supported": {
        ("os-supported", STANDBY): failed("[critical]", "(build 26100.4061) is not supported", "KB5070773"),
    },
    "break-deletion-threshold": {
        ("deletion-threshold", ACTIVE): failed("export deletion threshold (accidental-delete prevention) is "
                                               "disabled"),
        ("config-drift", STANDBY): failed("deletion threshold: disabled on active, enabled at 500 here"),
    },
    "break-export-health": {
        # The active's Entra ID export stopped at the deletion threshold and its AD export completed with
        # errors: both named, with the step counters and the Entra connector's pending deletes; nothing else
        # fails.
        ("export-health", ACTIVE): failed(
            "connector 'contoso.onmicrosoft.com - AAD': newest Export ended",
            "with stopped-deletion-threshold-exceeded: the export deletion threshold stopped the export "
            "(event 116", "812 delete(s) still pending export",
            "connector 'contoso.com': newest Export ended", "with completed-export-errors",
            "14 update(s)", "4 failure(s)", "export-health: 2 findings"),
    },
    "break-auto-upgrade": {
        ("auto-upgrade", None): failed(f"{STANDBY}: automatic upgrade is Suspended (reason "
                                       "UpgradeAbortedAdSyncExeInUse)",
                                       f"automatic upgrade differs between the servers ({ACTIVE} (active): "
                                       f"Enabled, {STANDBY}: Suspended)", "auto-upgrade: 2 findings"),
        # config-drift compares the same global setting (AutoUpgradeState, medium).
        ("config-drift", STANDBY): failed("Microsoft.OptionalFeature.AutoUpgradeState"),
    },
    "break-connect-health-agent": {
        ("connect-health-agent", None): failed(
            f"{STANDBY}: Connect Health sync service AzureADConnectHealthSyncMonitor is Stopped, start mode "
            "Manual",
            f"Connect Health sync agent versions differ between the servers ({ACTIVE} (active): 4.5.2466.0, "
            f"{STANDBY}: 4.2.1100.0)", "connect-health-agent: 2 findings"),
    },
    "break-database": {
        ("database", None): failed(f"{ACTIVE}: the LocalDB data file C:\\Program Files\\Microsoft Azure AD "
                                   "Sync\\Data\\ADSync2019\\ADSync.mdf is 8.90 GB, 89% of the 10 GB LocalDB "
                                   "limit",
                                   f"the servers use different kinds of database ({ACTIVE} (active): LocalDB "
                                   f"(localdb) .\\ADSync2019, database ADSync; {STANDBY}: SQL Server "
                                   "sql01.contoso.com ADSYNC, database ADSync)", "database: 2 findings"),
    },
    "break-proxy-parity": {
        ("proxy-parity", STANDBY): failed(
            "machine.config defaultProxy is none (direct access); on the active",
            "proxyaddress=http://proxy.contoso.com:8080",
            "WinHTTP proxy is none (direct access)",
            "proxy=proxy.contoso.com:8080, bypass=*.contoso.com;<local>",
            "proxy-parity: 2 findings"),
    },
    "break-pending-full-sync": {
        ("pending-full-sync", STANDBY): failed(
            "a full import and a full synchronization are pending on connector contoso.com "
            "(Get-ADSyncSchedulerConnectorOverride FullImportRequired=True, FullSyncRequired=True)",
            "a full synchronization is pending on connector contoso.onmicrosoft.com - AAD",
            "pending-full-sync: 2 findings"),
    },
    "break-entra-connector-identity": {
        ("entra-connector-identity", None): failed(
            f"the servers authenticate to Entra ID differently ({ACTIVE} (active): Application (application ",
            f"{STANDBY}: ServiceAccount (account Sync_AADC02_",
            f"{ACTIVE}: the application certificate 5C1E8A7D2B9F40C63E1A7B8D9C0F2E4A6B8C1D3E expires on",
            "in 12 days (warning from 30 days", "entra-connector-identity: 2 findings"),
    },
    "break-password-hash-sync": {
        # The active's PHS stalled six hours ago: each partition's last successful cycle, its failed newest
        # cycle and the missing heartbeat 654 are named; the staging standby is not held to cycles.
        ("password-hash-sync", None): failed(
            f"{ACTIVE}: partition DC=contoso,DC=com: the last successful password hash sync cycle ended "
            "6.0 h ago", "the newest password hash sync cycle ended 'FailedRetryable'",
            f"{ACTIVE}: no password hash sync heartbeat (event 654, source 'Directory Synchronization') in "
            "the last 120 min (newest 6.0 h ago", "password-hash-sync: 3 findings"),
    },
    "break-password-writeback": {
        # The standby listens too (heartbeat 31019 in staging mode); the active's writeback service stopped
        # after relay errors: 31016 after its 31015, no heartbeat for three hours, the 32002 named.
        ("password-writeback", None): failed(
            f"{ACTIVE}: the password writeback service stopped (31016 WriteBackServiceStopped at",
            f"{ACTIVE}: no password writeback heartbeat (31019 ServiceBusHeartBeat, source "
            "PasswordResetService) in the last 120 min (newest 3.0 h ago; since then 1 relay error(s) "
            "(32002;",
            f"{STANDBY}: password writeback is listening on this standby too (heartbeat 31019 5 min ago)",
            "password-writeback: 3 findings"),
    },
    "break-cloud-sync-enabled": {
        ("cloud-sync-enabled", None): failed("tenant 7d3f5a1e-2c4b-4e8f-9a6d-1b2c3d4e5f60: directory "
                                             "synchronization is disabled",
                                             '"on_premises_sync_enabled": false'),
    },
}

SCENARIOS = sorted(EXPECTED)


def test_every_committed_evidence_directory_has_expectations() -> None:
    committed = sorted(p.name for p in EVIDENCE.iterdir() if p.is_dir())
    assert committed == SCENARIOS, f"fixtures/evidence/ holds {committed}; this table covers {SCENARIOS}"


def test_every_check_fails_in_some_saved_evidence() -> None:
    breaking = {check_id for table in EXPECTED.values() for (check_id, _), e in table.items()
                if e.outcome == "failed"}
    assert set(load_all()) - breaking == set(), (
        "checks no saved evidence fails: add fixtures/scenarios/break-<id>.yml and its evidence "
        f"({REFRESH} break-<id>), then its row here")


# --- the format guard -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_committed_evidence_is_readable_by_evidence_py(scenario: str) -> None:
    directory = EVIDENCE / scenario
    shown = directory.relative_to(ROOT) if directory.is_relative_to(ROOT) else directory
    fix = (f"entra_standby/evidence.py can no longer read the committed evidence "
           f"{shown}: a format change needs a migration in evidence.py, "
           f"or regenerate it with {REFRESH} (and review the verdicts in tests/test_replay_saved.py)")
    try:
        meta = read_run_metadata(directory)
        run = load_evidence(directory)
    except EntraStandbyError as exc:
        pytest.fail(f"{fix}: {exc}", pytrace=False)
    assert [p["name"] for p in meta["pairs"]] == [p.name for p in run.pairs] == [scenario]
    for pair_meta, pair in zip(meta["pairs"], run.pairs, strict=True):
        if pair_meta.get("cloud_file"):
            assert pair.cloud is not None or pair.cloud_error is not None, f"{fix}: cloud facts lost"
        for server_meta, server in zip(pair_meta["servers"], pair.servers, strict=True):
            doc = json.loads((directory / server_meta["file"]).read_text(encoding="utf-8"))
            unreadable = {d: e.message for d, e in server.errors.items() if e.kind == "evidence"}
            assert unreadable == {}, f"{fix}: {unreadable}"
            # Every saved fact loads as a fact (not re-parsed from raw, not turned into an error).
            assert set(doc["facts"]) <= set(server.values), f"{fix}: facts not loaded: " \
                f"{sorted(set(doc['facts']) - set(server.values))} on {server.host}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_committed_evidence_holds_no_secret(scenario: str) -> None:
    # The lab's password and client secret are random per run (scripts/refresh-evidence checked them);
    # what a leak would look like in any evidence: a credential-named key, a private key, a bearer token.
    secret_keys = {"password", "client_secret", "secret", "certificate_password", "access_token", "token"}
    files = [f for f in (EVIDENCE / scenario).rglob("*") if f.is_file()]
    assert files
    for file in files:
        text = file.read_text(encoding="utf-8")
        keys = set(re.findall(r'"([A-Za-z_]+)":', text))
        assert keys & secret_keys == set(), file
        assert "PRIVATE KEY" not in text and not re.search(r"eyJ[\w-]{10,}\.eyJ", text), file


# --- determinism ----------------------------------------------------------------------------------------


def test_replay_evaluates_at_the_collection_time() -> None:
    directory = EVIDENCE / "standby-drifted"
    collected = read_run_metadata(directory)["collected_utc"]
    (pair,) = load_evidence(directory).pairs
    assert pair.now_utc is not None and pair.now_utc.isoformat().replace("+00:00", "Z") == collected
    standby = pair.server(STANDBY)
    (finding,) = evaluate("patch-age", pair, standby)
    assert finding.values["age_days"] == 62.0
    # The verdict depends on the evaluation time, so only a fixed one keeps it stable: a year on it reads 427.
    later = dataclasses.replace(pair, now_utc=pair.now_utc + timedelta(days=365))
    (aged,) = evaluate("patch-age", later, standby)
    assert aged.values["age_days"] == 427.0


# --- the replays ----------------------------------------------------------------------------------------


@dataclass
class Replay:
    scenario: str
    cases: dict[str, Case]
    output: str


@pytest.fixture(scope="module", params=SCENARIOS)
def replay(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Replay:
    scenario: str = request.param
    junit = tmp_path_factory.mktemp(f"replay-{scenario}") / "junit.xml"
    run = run_checks("--replay", str(EVIDENCE / scenario), f"--junitxml={junit}")
    assert junit.exists(), run.output[-3000:]
    return Replay(scenario, junit_cases(junit), run.output)


def expected_targets(scenario: str) -> dict[str, tuple[str, str | None]]:
    """JUnit testcase name -> (check id, host) for every check on every target of the saved pair."""
    meta = json.loads((EVIDENCE / scenario / "run.json").read_text(encoding="utf-8"))
    names: dict[str, tuple[str, str | None]] = {}
    for pair in meta["pairs"]:
        for check_id, spec in load_all().items():
            hosts = [None] if spec.scope == "pair" else [
                s["host"] for s in pair["servers"] if spec.scope == "host" or s["role"] == "standby"]
            # A server's testcase carries its inventory name when it has one (the lab's do); messages and
            # EXPECTED keep the address.
            shown = {s["host"]: s.get("name") or s["host"] for s in pair["servers"]}
            for host in hosts:
                target = pair["name"] if host is None else f"{pair['name']}/{shown[host]}"
                names[f"test_{check_id.replace('-', '_')}[{target}]"] = (check_id, host)
    return names


def _by_name(fragment: str) -> str:
    return fragment.replace(ACTIVE, ACTIVE_NAME).replace(STANDBY, STANDBY_NAME)


def test_replay_gives_the_exact_verdict_of_every_check(replay: Replay) -> None:
    assert "TARGET: REPLAY of evidence" in replay.output  # offline: no lab, no network
    targets = expected_targets(replay.scenario)
    assert set(replay.cases) == set(targets), (
        f"{replay.scenario}: missing {sorted(set(targets) - set(replay.cases))}, "
        f"unexpected {sorted(set(replay.cases) - set(targets))}\n{replay.output[-3000:]}")
    table = EXPECTED[replay.scenario]
    assert set(table) <= set(targets.values()), f"table rows for targets that do not exist: {table}"
    wrong: list[str] = []
    for name, (check_id, host) in sorted(targets.items()):
        case = replay.cases[name]
        expect = table.get((check_id, host))
        if expect is None:
            if case.outcome != "passed":
                wrong.append(f"{name}: {case.outcome}, expected passed\n{case.message[:1500]}")
            continue
        if case.outcome != expect.outcome:
            wrong.append(f"{name}: {case.outcome}, expected {expect.outcome}\n{case.message[:1500]}")
            continue
        # A failure names the server it is about, by address or by name (a pair-scoped one names them in its
        # fragments).
        # Reports name a lab server by its inventory name where the evidence keeps its address: a fragment
        # written with addresses matches either way.
        missing = [f for f in expect.fragments
                   if f not in case.message and _by_name(f) not in case.message]
        if host is not None and host not in case.message and (shown := name.split("/", 1)[1].rstrip("]")) \
                not in case.message:
            missing.append(f"{host} or {shown}")
        if missing:
            wrong.append(f"{name}: {missing} not in\n{case.message[:3000]}")
    assert wrong == [], f"{replay.scenario}:\n" + "\n\n".join(wrong)
