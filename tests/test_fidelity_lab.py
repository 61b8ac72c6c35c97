"""Probe-fidelity review items (../shared/reference/probe-review.md) end to end: the lab serves what a real
Entra Connect server answers on each point, the harness gathers it over PSRP, and the checks judge it.

Each scenario is gathered once (module cache) in-process; verdicts come from ``results.evaluate_check``.
"""

from __future__ import annotations

from functools import cache

from spine_helpers import ROOT, SCENARIOS

from entra_standby.gather import RunFacts, gather
from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab
from entra_standby.results import CheckResult, Outcome, evaluate_check
from entra_standby.rules import load_all
from entra_standby.rules.base import Severity


@cache
def gathered(scenario: str) -> tuple[RunFacts, dict[str, str]]:
    """One real gathering of a lab scenario, and lab server name -> inventory host."""
    with Lab(SCENARIOS / f"{scenario}.yml") as lab:
        inventory = inventory_from_dict(lab.inventory_dict(), path=ROOT / "inventory" / "lab.yml")
        hosts = {name: server.address for name, server in lab.servers.items()}
        return gather(inventory, source="lab"), hosts


def verdict(scenario: str, check_id: str, server: str | None = None) -> CheckResult:
    run, hosts = gathered(scenario)
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
