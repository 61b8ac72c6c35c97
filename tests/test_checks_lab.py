"""The check catalogue end to end: the lab serves a scenario, ``pytest checks/`` audits it over PSRP.

Each scenario gets one lab and one audit run (module-scoped), whose JUnit report the tests read:
the healthy pair passes every check; ``standby-drifted`` fails at least eight different checks with
none erroring; every check id fails against its ``break-<id>.yml`` scenario with a message naming the
server and the offending values; evidence saved from a live run replays to the same verdicts offline.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from spine_helpers import SCENARIOS, Case, junit_cases, run_checks

from entra_standby.lab import Lab
from entra_standby.rules import load_all

# check id -> (broken server, or None for a pair check; fragments its failure must contain)
BREAKS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "sync-scheduler": ("aadc02", ("SchedulerSuspended is True",)),
    "adsync-service": ("aadc02", ("service ADSync is Stopped, not Running", "start mode is Manual")),
    "version-supported": ("aadc01", ("Entra Connect 2.4.28.0 is below the supported floor 2.5.79.0",)),
    "version-parity": ("aadc02", ("Entra Connect 2.5.190.0 is newer than the active",)),
    "tls12": ("aadc01", ("TLS 1.2\\Server\\Enabled is 0, must be 1",
                         "HKLM:\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319\\SystemDefaultTlsVersions is "
                         "Not Found")),
    "dotnet": ("aadc01", (".NET Framework release 461308 is below 461808",)),
    "patch-age": ("aadc02", ("KB5063880", "90 days ago (limit 45 days)")),
    "os-build-parity": ("aadc02", ("OS build 20348.2849 is below the active", "20348.4405")),
    "pending-reboot": ("aadc01", ("wu_reboot_required", "cbs_reboot_pending")),
    "os-supported": ("aadc02", ("[critical]", "build 26100.4061", "KB5070773")),
    "recent-imports": ("aadc02", ("connector 'contoso.com'", "Delta Import", "stopped-connectivity")),
    "connector-account": ("aadc02", ("is locked out", "lacks ExtendedRight Reset Password")),
    "config-drift": ("aadc02", ("precedence 50 on active, 60 here",
                                "OU exclusions only here: ou=disabled,ou=staff,dc=contoso,dc=com")),
    "pending-exports": ("aadc02", ("75 pending adds (limit 50)", "[critical]",
                                   "1200 pending deletes, above the export deletion threshold 500")),
    "deletion-threshold": ("aadc01", ("deletion threshold (accidental-delete prevention) is disabled",)),
    "machine-identity": (None, ("share SyncMachineIdentifier 0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b",)),
    "adsynctools": ("aadc02", ("only ADSyncTools 1.5.3 installed",)),
    "audit-access": ("aadc02", ("is in neither ADSyncAdmins nor ADSyncOperators",
                                "net localgroup ADSyncAdmins")),
    "export-health": ("aadc01", ("newest Export ended", "with stopped-deletion-threshold-exceeded",
                                 "event 116", "812 delete(s) still pending export",
                                 "with completed-export-errors", "14 update(s)", "4 failure(s)")),
    "pending-full-sync": ("aadc02", (
        "a full import and a full synchronization are pending on connector contoso.com",
        "a full synchronization is pending on connector contoso.onmicrosoft.com - AAD",
        "Start-ADSyncSyncCycle -PolicyType Initial")),
    "entra-connector-identity": (None, (
        "the servers authenticate to Entra ID differently", "(active): Application (application ",
        ": ServiceAccount (account Sync_",
        "the application certificate 5C1E8A7D2B9F40C63E1A7B8D9C0F2E4A6B8C1D3E expires on",
        "in 12 days (warning from 30 days")),
    "proxy-parity": ("aadc02", ("machine.config defaultProxy is none (direct access); on the active",
                                "proxyaddress=http://proxy.contoso.com:8080",
                                "WinHTTP proxy is none (direct access)", "proxy=proxy.contoso.com:8080")),
    "auto-upgrade": (None, ("automatic upgrade is Suspended (reason UpgradeAbortedAdSyncExeInUse)",
                            "automatic upgrade differs between the servers", ": Enabled", ": Suspended")),
    "connect-health-agent": (None, ("Connect Health sync service AzureADConnectHealthSyncMonitor is Stopped, "
                                    "start mode Manual", "Connect Health sync agent versions differ",
                                    "(active): 4.5.2466.0", ": 4.2.1100.0")),
    "database": (None, ("the LocalDB data file C:\\Program Files\\Microsoft Azure AD Sync\\Data\\ADSync2019\\"
                        "ADSync.mdf is 8.90 GB, 89% of the 10 GB LocalDB limit (warning from 80%)",
                        "the servers use different kinds of database",
                        "(active): LocalDB (localdb) .\\ADSync2019, database ADSync",
                        ": SQL Server sql01.contoso.com ADSYNC, database ADSync")),
    # A pair check whose fault sits on one server names that server (the case is still the pair's).
    "password-hash-sync": ("aadc01", ("the last successful password hash sync cycle ended 6.0 h ago",
                                      "the newest password hash sync cycle ended 'FailedRetryable'",
                                      "no password hash sync heartbeat (event 654")),
    "password-writeback": (None, ("the password writeback service stopped (31016 WriteBackServiceStopped",
                                  "no password writeback heartbeat (31019 ServiceBusHeartBeat",
                                  "since then 1 relay error(s) (32002;",
                                  "password writeback is listening on this standby too")),
}

# What standby-drifted.yml changes on aadc02, one check each (see the comments in that file).
DRIFTED = {"version-parity", "tls12", "dotnet", "patch-age", "os-build-parity", "pending-reboot",
           "recent-imports", "connector-account", "config-drift", "pending-exports", "machine-identity",
           "adsynctools"}


@dataclass
class Audit:
    """One audit run of ``checks/`` against one lab scenario."""

    scenario: str
    addresses: dict[str, str]  # lab server name -> address (the inventory's hosts; ids use the names)
    cases: dict[str, Case]  # JUnit testcase name -> outcome
    output: str

    def case(self, check_id: str, server: str | None) -> Case:
        target = self.scenario if server is None else f"{self.scenario}/{server}"
        name = f"test_{check_id.replace('-', '_')}[{target}]"
        assert name in self.cases, f"{name} not run; ran: {sorted(self.cases)}\n{self.output[-3000:]}"
        return self.cases[name]

    def check_ids(self, outcome: str) -> set[str]:
        """Check ids (of this catalogue or others) with at least one test of this outcome."""
        return {_check_id(name) for name, case in self.cases.items() if case.outcome == outcome}


def _check_id(test_name: str) -> str:
    return re.sub(r"^test_", "", test_name.split("[", 1)[0]).replace("_", "-")


def audit(scenario: str, workdir: Path, *extra: str) -> Audit:
    """Start the scenario's lab, audit it with ``pytest checks/`` in a subprocess, stop the lab."""
    workdir.mkdir(parents=True, exist_ok=True)
    junit = workdir / "junit.xml"
    with Lab(SCENARIOS / f"{scenario}.yml") as lab:
        inventory = lab.write_inventory(workdir / "inventory.yml")
        addresses = {name: server.address for name, server in lab.servers.items()}
        run = run_checks("--inventory", str(inventory), f"--junitxml={junit}", *extra)
    assert junit.exists(), run.output[-3000:]
    return Audit(scenario, addresses, junit_cases(junit), run.output)


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Audit:
    return audit("healthy-pair", tmp_path_factory.mktemp("healthy"))


@pytest.fixture(scope="module")
def drifted_evidence(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Audit, Path]]:
    workdir = tmp_path_factory.mktemp("drifted")
    evidence = workdir / "evidence"
    yield audit("standby-drifted", workdir, "--evidence", str(evidence)), evidence


@pytest.fixture(scope="module")
def drifted(drifted_evidence: tuple[Audit, Path]) -> Audit:
    return drifted_evidence[0]


def test_healthy_pair_passes_every_check(healthy: Audit) -> None:
    not_passed = {name: c.outcome for name, c in healthy.cases.items() if c.outcome != "passed"}
    assert not_passed == {}, healthy.output[-4000:]
    # Every check of this catalogue ran, on the servers its scope names.
    for check_id, spec in load_all().items():
        if check_id not in BREAKS:
            continue  # other engineers' checks (staging-flag, cloud-*) are covered by their own tests
        if spec.scope == "pair":
            assert healthy.case(check_id, None).outcome == "passed"
        else:
            servers = ["aadc01", "aadc02"] if spec.scope == "host" else ["aadc02"]
            assert [healthy.case(check_id, s).outcome for s in servers] == ["passed"] * len(servers)


def test_standby_drifted_fails_eight_or_more_checks_none_erroring(drifted: Audit) -> None:
    failed = drifted.check_ids("failed")
    assert drifted.check_ids("error") == set(), drifted.output[-4000:]
    assert len(failed) >= 8, failed
    assert failed >= DRIFTED, DRIFTED - failed
    # The active is healthy: every host-scoped check passes on it.
    for check_id in BREAKS:
        if load_all()[check_id].scope == "host":
            assert drifted.case(check_id, "aadc01").outcome == "passed", check_id


def test_standby_drifted_failures_name_the_standby_and_its_values(drifted: Audit) -> None:
    standby = drifted.addresses["aadc02"]
    for check_id in DRIFTED - {"machine-identity"}:
        message = drifted.case(check_id, "aadc02").message
        assert f"{check_id}: " in message and " on aadc02\n" in message and "values: {" in message
        assert "remediation: " in message
        assert f"{standby}: " not in message.split("values:")[0], (check_id, message)  # host stated once
    assert "2.5.79.0 is older than the active" in drifted.case("version-parity", "aadc02").message
    assert "1200 pending deletes" in drifted.case("pending-exports", "aadc02").message


def test_evidence_replays_to_the_same_verdicts(drifted_evidence: tuple[Audit, Path], tmp_path: Path) -> None:
    live, evidence = drifted_evidence
    assert (evidence / "run.json").exists()
    junit = tmp_path / "replay.xml"
    run = run_checks("--replay", str(evidence), f"--junitxml={junit}")  # no lab running now
    replayed = junit_cases(junit)
    assert set(replayed) == set(live.cases), run.output[-3000:]
    for name, case in live.cases.items():
        if _check_id(name) in BREAKS:
            assert (replayed[name].outcome, replayed[name].message) == (case.outcome, case.message), name


@pytest.mark.slow
@pytest.mark.parametrize("check_id", sorted(BREAKS))
def test_break_scenario_fails_its_check(check_id: str, tmp_path: Path) -> None:
    scenario = f"break-{check_id}"
    assert (SCENARIOS / f"{scenario}.yml").exists()
    server, fragments = BREAKS[check_id]
    result = audit(scenario, tmp_path)
    spec = load_all()[check_id]
    case = result.case(check_id, None if spec.scope == "pair" else server)
    assert case.outcome == "failed", f"{check_id}: {case.outcome}\n{case.message}\n{result.output[-3000:]}"
    for fragment in fragments:
        assert fragment in case.message, f"{check_id}: {fragment!r} not in\n{case.message}"
    names = [server] if server else list(result.addresses)
    assert all(name in case.message for name in names), (names, case.message)
    # Host-scoped checks fail only where the fault is: the other server's verdict is a pass.
    if spec.scope == "host":
        other = "aadc02" if server == "aadc01" else "aadc01"
        assert result.case(check_id, other).outcome == "passed", result.case(check_id, other).message
