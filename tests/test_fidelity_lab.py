"""Probe-fidelity review items (../shared/reference/probe-review.md) end to end: the lab serves what a real
Entra Connect server answers on each point, the harness gathers it over PSRP, and the checks judge it.

Each scenario is gathered once (module cache) in-process; verdicts come from ``results.evaluate_check``.
"""

from __future__ import annotations

from functools import cache

from spine_helpers import ROOT, SCENARIOS

from entra_standby.facts.parse import parse_datetime
from entra_standby.gather import RunFacts, gather
from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab
from entra_standby.lab.probes import RUN_TIMES_AS_UTC, run_history_data, run_times_as_utc
from entra_standby.probes import load_probe
from entra_standby.results import CheckResult, Outcome, evaluate_check
from entra_standby.rules import load_all
from entra_standby.rules.base import Severity


@cache
def gathered(scenario: str, directory: str = "embedded") -> tuple[RunFacts, dict[str, str]]:
    """One real gathering of a lab scenario, and lab server name -> inventory host. ``directory="none"``:
    no ``directory:`` block, so connector-account judges the sync servers' own (in-session) AD reads."""
    with Lab(SCENARIOS / f"{scenario}.yml", directory=directory) as lab:
        inventory = inventory_from_dict(lab.inventory_dict(), path=ROOT / "inventory" / "lab.yml")
        hosts = {name: server.address for name, server in lab.servers.items()}
        return gather(inventory, source="lab"), hosts


def verdict(scenario: str, check_id: str, server: str | None = None,
            directory: str = "embedded") -> CheckResult:
    run, hosts = gathered(scenario, directory)
    (pair,) = run.pairs
    target = None if server is None else pair.server(hosts[server])
    return evaluate_check(load_all()[check_id], pair, target)


def messages(result: CheckResult) -> str:
    return "\n".join(f.line() for f in result.findings) + (result.reason or "")


# --- M1: SyncMachineIdentifier in the N form -------------------------------------------------------------


def test_machine_identity_in_n_form_shared_fails_not_errors() -> None:
    result = verdict("break-machine-identity-nform", "machine-identity")
    assert result.outcome is Outcome.FAILED, messages(result)
    assert "share SyncMachineIdentifier 0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b" in messages(result)


def test_healthy_pair_standby_serves_n_form_and_passes() -> None:
    run, hosts = gathered("healthy-pair")
    standby = run.pairs[0].server(hosts["aadc02"])
    raw = run.hosts[(run.pairs[0].name, hosts["aadc02"])].raw["machine"]
    identifier = standby.machine.sync_machine_identifier
    assert identifier is not None and identifier.replace("-", "") in raw  # the lab sent the N form
    assert "-" not in raw.split('"sync_machine_identifier":"')[1][:32]
    assert verdict("healthy-pair", "machine-identity").outcome is Outcome.PASSED
    assert verdict("healthy-pair", "adsynctools", "aadc02").outcome is Outcome.PASSED


# --- T1: TLS enforcement by build -------------------------------------------------------------------------


def test_tls12_missing_value_on_25_build_fails_at_low_severity() -> None:
    result = verdict("tls12-missing-on-exempt-build", "tls12", "aadc01")
    assert result.outcome is Outcome.FAILED, messages(result)
    [finding] = result.findings
    assert finding.severity is Severity.LOW and result.worst_severity is Severity.LOW
    assert "SchUseStrongCrypto is Not Found, recommended 1" in finding.message
    assert verdict("tls12-missing-on-exempt-build", "tls12", "aadc02").outcome is Outcome.PASSED


def test_tls12_disabling_value_on_25_build_stays_high() -> None:
    result = verdict("break-tls12", "tls12", "aadc01")
    by_name = {f.values["name"]: f for f in result.findings}
    assert by_name["Enabled"].severity is Severity.HIGH  # SCHANNEL TLS 1.2 server Enabled=0
    assert by_name["SystemDefaultTlsVersions"].severity is Severity.LOW  # missing on a 2.5 build


# --- C3: ACE scope ---------------------------------------------------------------------------------------


def test_misscoped_aces_fail_connector_account() -> None:
    result = verdict("connector-account-misscoped-aces", "connector-account", "aadc02")
    assert result.outcome is Outcome.FAILED, messages(result)
    text = messages(result)
    assert "lacks ExtendedRight Replicating Directory Changes" in text and "on DC=contoso,DC=com" in text
    assert "lacks ExtendedRight Reset Password" in text and "inherited to users" in text
    assert (
        verdict("connector-account-misscoped-aces", "connector-account", "aadc01").outcome is Outcome.PASSED
    )


# --- C1: double hop --------------------------------------------------------------------------------------


def test_double_hop_is_named() -> None:
    result = verdict("connector-account-double-hop", "connector-account", "aadc02", directory="none")
    assert result.outcome is Outcome.FAILED, messages(result)
    [finding] = result.findings
    assert "double hop" in finding.message and "Unable to contact the server" in finding.message
    assert "CredSSP" in finding.remediation and "tool host" in finding.remediation


def test_a_directory_block_is_the_remedy_for_the_double_hop() -> None:
    # The same servers with the lab's directory: the accounts and rights are read over LDAP from this host.
    result = verdict("connector-account-double-hop", "connector-account", "aadc02")
    assert result.outcome is Outcome.PASSED, messages(result)


# --- CF1 / CF4 / P1: the deletion threshold and pending deletes ------------------------------------------


def test_percentage_threshold_is_served_and_not_read_as_zero() -> None:
    run, hosts = gathered("deletion-threshold-percentage")
    guard = run.pairs[0].server(hosts["aadc02"]).config.deletion_threshold
    assert (guard.enabled, guard.mode, guard.percentage, guard.threshold) == (True, "percentage", 10, 0)
    result = verdict("deletion-threshold-percentage", "pending-exports", "aadc02")
    [finding] = result.findings
    assert finding.severity is Severity.HIGH and "20 pending deletes (limit 10)" in finding.message
    assert verdict("deletion-threshold-percentage", "config-drift", "aadc02").outcome is Outcome.PASSED


def test_unset_threshold_keeps_the_config_fact() -> None:
    run, hosts = gathered("deletion-threshold-unset")
    guard = run.pairs[0].server(hosts["aadc02"]).config.deletion_threshold
    assert guard.enabled is None and guard.error is not None and "ExportDeletionThreshold" in guard.error
    drift = verdict("deletion-threshold-unset", "config-drift", "aadc02")
    assert (
        drift.outcome is Outcome.FAILED
        and "enabled at 500 on active, unknown (global setting" in messages(drift)
    )
    for check_id in ("connector-account", "pending-exports"):
        assert verdict("deletion-threshold-unset", check_id, "aadc02").outcome is Outcome.PASSED, check_id


def test_pending_ad_deletes_claim_no_safety_net() -> None:
    result = verdict("pending-exports-ad-deletes", "pending-exports", "aadc02")
    [finding] = result.findings
    assert finding.severity is Severity.CRITICAL
    assert "no deletion threshold guards exports to AD" in finding.message
    assert "export deletion threshold" not in finding.message.split("no deletion threshold")[0]


# --- CF2: feature reads that fail -------------------------------------------------------------------------


def test_phs_read_error_is_unknown_not_off() -> None:
    run, hosts = gathered("phs-read-error")
    config = run.pairs[0].server(hosts["aadc02"]).config
    assert config.features["password_hash_sync"] is None
    assert "sync database" in (config.feature_errors or {})["password_hash_sync"]
    drift = verdict("phs-read-error", "config-drift", "aadc02")
    assert drift.outcome is Outcome.FAILED and drift.worst_severity is Severity.MEDIUM
    assert "cannot compare" in messages(drift) and "off here" not in messages(drift)
    # The rights PHS needs are still required (and present): no false pass, no false fail.
    assert verdict("phs-read-error", "connector-account", "aadc02").outcome is Outcome.PASSED


# --- CF3: global settings ---------------------------------------------------------------------------------


def test_global_settings_drift_is_reported() -> None:
    result = verdict("global-settings-drift", "config-drift", "aadc02")
    text = messages(result)
    assert result.outcome is Outcome.FAILED, text
    assert "Microsoft.SynchronizationOption.UPNAttribute: 'userPrincipalName' on active, 'mail' here" in text
    assert (
        "Microsoft.UserSignIn.SignOnMethod: 'PasswordHashSync' on active, 'PassThroughAuthentication'" in text
    )
    assert "DirectoryExtensionAttributes" in text


# --- Least privilege: the audit account's rights, reported once (issue 10 point 3) ------------------------

ADSYNC_CHECKS = ("sync-scheduler", "recent-imports", "config-drift", "pending-exports", "deletion-threshold")


def test_audit_account_outside_the_adsync_groups_is_named_once_with_the_group() -> None:
    result = verdict("audit-account-rights", "audit-access", "aadc02")
    assert result.outcome is Outcome.FAILED, messages(result)
    [finding] = result.findings  # one line, not one per probe
    assert finding.severity is Severity.HIGH
    assert "CONTOSO\\svc-entra-audit is in neither ADSyncAdmins nor ADSyncOperators" in finding.message
    assert finding.values["group"] == "ADSyncAdmins"
    assert "net localgroup ADSyncAdmins CONTOSO\\svc-entra-audit /add" in finding.remediation
    # The sync service answers as if it were down, yet it runs: only audit-access tells the two apart.
    assert verdict("audit-account-rights", "adsync-service", "aadc02").outcome is Outcome.PASSED
    for check_id in ADSYNC_CHECKS:
        other = verdict("audit-account-rights", check_id, "aadc02" if check_id != "config-drift" else None)
        assert other.outcome is Outcome.ERROR, (check_id, messages(other))
        assert "Unable to connect to the Synchronization Service" in (other.reason or ""), check_id
        assert not other.findings


def test_audit_account_that_is_not_local_admin_loses_only_what_needs_admin() -> None:
    result = verdict("audit-account-rights", "audit-access", "aadc01")
    assert result.outcome is Outcome.FAILED, messages(result)
    [finding] = result.findings
    assert finding.severity is Severity.MEDIUM and finding.values["group"] == "Administrators"
    assert "is not a local administrator" in finding.message
    run, hosts = gathered("audit-account-rights")
    active = run.pairs[0].server(hosts["aadc01"])
    assert active.os.update_history_error and "E_ACCESSDENIED" in active.os.update_history_error
    reboot = verdict("audit-account-rights", "pending-reboot", "aadc01")
    assert reboot.outcome is Outcome.ERROR and "reboot markers could not be read" in (reboot.reason or "")
    assert verdict("audit-account-rights", "sync-scheduler", "aadc01").outcome is Outcome.PASSED


def test_healthy_pair_audit_account_passes() -> None:
    for server in ("aadc01", "aadc02"):
        assert verdict("healthy-pair", "audit-access", server).outcome is Outcome.PASSED


# --- X3: ConstrainedLanguage endpoints ---------------------------------------------------------------------


def test_constrained_language_is_one_clear_finding_and_one_error_kind() -> None:
    result = verdict("constrained-language", "audit-access", "aadc02")
    assert result.outcome is Outcome.FAILED, messages(result)
    [finding] = result.findings
    assert "ConstrainedLanguage session" in finding.message and "FullLanguage" in finding.remediation
    run, hosts = gathered("constrained-language")
    host = run.pairs[0].server(hosts["aadc02"])
    assert set(host.values) == {"access"}, sorted(host.values)
    assert all("ConstrainedLanguage:" in e.message for e in host.errors.values()), host.errors
    assert verdict("constrained-language", "audit-access", "aadc01").outcome is Outcome.PASSED


# --- R1: run times of Unspecified kind on a server whose clock is not UTC ---------------------------------


def test_fresh_runs_on_a_utc_plus_10_server_pass_recent_imports() -> None:
    result = verdict("run-times-utc-plus-10", "recent-imports", "aadc02")
    assert result.outcome is Outcome.PASSED, messages(result)
    run, hosts = gathered("run-times-utc-plus-10")
    standby = run.pairs[0].server(hosts["aadc02"])
    newest = max(r.end for r in standby.run_history.runs if r.end is not None)
    assert standby.collected_utc is not None
    assert (standby.collected_utc - newest).total_seconds() < 3600  # not ten hours ago


def test_the_lab_shifts_run_times_a_probe_reads_as_local() -> None:
    script = load_probe("run-history").text
    assert run_times_as_utc(script) == {"start": True, "end": True}
    unfixed = script.replace(" -AssumeUtc", "")
    assert run_times_as_utc(unfixed) == {"start": False, "end": False}
    with Lab(SCENARIOS / "run-times-utc-plus-10.yml") as lab:
        state = lab.servers["aadc02"].state
        with state.lock:
            right = run_history_data(state, {RUN_TIMES_AS_UTC: run_times_as_utc(script)})
            wrong = run_history_data(state, {RUN_TIMES_AS_UTC: run_times_as_utc(unfixed)})
    first_right, first_wrong = right["runs"][0], wrong["runs"][0]
    shift = parse_datetime(first_right["end"]) - parse_datetime(first_wrong["end"])
    assert shift.total_seconds() == 600 * 60
