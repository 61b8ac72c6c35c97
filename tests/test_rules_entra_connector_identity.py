"""entra-connector-identity (issue 16 point 9): one authentication method on every server, own application,
certificate not expiring."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factbuilders import NOW, change, healthy_pair, run

from entra_standby.errors import FactUnavailableError
from entra_standby.facts.model import EntraIdentityFacts
from entra_standby.rules import Severity


def _app(host: str, days: float = 300, **fields: object) -> EntraIdentityFacts:
    values: dict[str, object] = {"identity_type": "Application", "application_id": f"{host}-app",
                                 "certificate_thumbprint": f"{host.upper()}THUMB",
                                 "certificate_not_after": NOW + timedelta(days=days),
                                 "certificate_source": "Get-ADSyncEntraConnectorCredential", **fields}
    return EntraIdentityFacts(**values)  # type: ignore[arg-type]


def test_application_on_both_with_valid_certificates_passes() -> None:
    assert run("entra-connector-identity", healthy_pair()) == []


def test_service_account_on_both_passes() -> None:
    pair = healthy_pair()
    for host in ("aadc01", "aadc02"):
        pair = change(pair, host, "connectors", entra_identity=EntraIdentityFacts("ServiceAccount"))
    assert run("entra-connector-identity", pair) == []


def test_different_methods_are_high_and_name_each_server() -> None:
    pair = change(healthy_pair(), "aadc02", "connectors", entra_identity=EntraIdentityFacts("ServiceAccount"))
    [finding] = run("entra-connector-identity", pair)
    assert finding.severity is Severity.HIGH
    assert ("the servers authenticate to Entra ID differently (aadc01 (active): Application (application "
            "aadc01-aba-app-id), aadc02: ServiceAccount (account Sync_AADC02_1a2b3c@contoso.onmicrosoft.com))"
            in finding.message)
    assert "Configure application-based authentication" in finding.remediation


def test_certificate_within_the_warning_window_is_medium_expired_is_critical() -> None:
    pair = change(healthy_pair(), "aadc01", "connectors", entra_identity=_app("aadc01", days=12))
    pair = change(pair, "aadc02", "connectors", entra_identity=_app("aadc02", days=-3))
    found = {f.values["server"]: f for f in run("entra-connector-identity", pair)}
    assert found["aadc01"].severity is Severity.MEDIUM
    assert ("aadc01: the application certificate AADC01THUMB expires on "
            f"{(NOW + timedelta(days=12)).date().isoformat()}, in 12 days (warning from 30 days"
            in found["aadc01"].message)
    assert found["aadc01"].remediation.startswith("on aadc01: rotate the certificate now")
    assert found["aadc02"].severity is Severity.CRITICAL
    assert "aadc02: the application certificate AADC02THUMB expired on" in found["aadc02"].message
    assert "(3 days ago)" in found["aadc02"].message


def test_the_warning_window_is_a_threshold() -> None:
    pair = change(healthy_pair(thresholds={"aba_certificate_warn_days": 60}), "aadc02", "connectors",
                  entra_identity=_app("aadc02", days=45))
    [finding] = run("entra-connector-identity", pair)
    assert "in 45 days (warning from 60 days" in finding.message
    pair = change(healthy_pair(), "aadc02", "connectors", entra_identity=_app("aadc02", days=45))
    assert run("entra-connector-identity", pair) == []


def test_one_application_on_two_servers_is_high() -> None:
    pair = change(healthy_pair(), "aadc02", "connectors",
                  entra_identity=_app("aadc02", application_id="shared"))
    pair = change(pair, "aadc01", "connectors", entra_identity=_app("aadc01", application_id="shared"))
    [finding] = run("entra-connector-identity", pair)
    assert finding.severity is Severity.HIGH
    assert "aadc01 and aadc02 use the same application shared" in finding.message
    assert "event 906" in finding.message


@pytest.mark.parametrize(("identity", "why"), [
    (None, "no entra_identity block"),
    (EntraIdentityFacts(error="CommandNotFound: The term 'Get-ADSyncEntraConnectorCredential' is not"),
     "Entra connector identity unreadable: CommandNotFound"),
    (EntraIdentityFacts("Application", certificate_error="no certificate expiry in "
                        "Get-ADSyncEntraConnectorCredential (properties: ConnectorIdentityType)"),
     "application certificate expiry unreadable: no certificate expiry"),
])
def test_unreadable_is_no_verdict_never_a_pass(identity: EntraIdentityFacts | None, why: str) -> None:
    pair = change(healthy_pair(), "aadc02", "connectors", entra_identity=identity)
    with pytest.raises(FactUnavailableError, match=why):
        run("entra-connector-identity", pair)
