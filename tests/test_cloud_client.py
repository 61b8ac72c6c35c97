"""The real msal + requests code path against the lab's identity/Graph stand-in (HTTPS, lab CA).

Every test builds a fresh ``CloudClient`` (a fresh msal app, so msal's replay memory never leaks between
tests) with retry waits recorded instead of slept.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cloudkit import CANARY, CLIENT_ID, SECRET, CloudKit
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from entra_standby.cloud import RetryPolicy, client_for, close_clients, gather_cloud
from entra_standby.errors import CloudError
from entra_standby.lab.pki import create_client_certificate, create_lab_pki


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudKit]:
    kit = CloudKit.start(tmp_path_factory.mktemp("cloud"))
    yield kit
    kit.stop()


@pytest.fixture(autouse=True)
def clean(kit: CloudKit) -> Iterator[None]:
    kit.stand_in.faults.clear()
    kit.stand_in.counters.reset()
    yield
    kit.stand_in.faults.clear()
    close_clients()


def assert_no_secret(text: str) -> None:
    assert SECRET not in text
    assert "Bearer" not in text


# --- happy paths -----------------------------------------------------------------------------------------


def test_secret_credential_reads_organization_and_canary(kit: CloudKit) -> None:
    client, _ = kit.client()
    facts = gather_cloud(client.config, client=client)
    assert facts.tenant_id == kit.tenant.tenant_id
    assert facts.sync_enabled is True
    assert facts.last_sync == kit.tenant.last_sync
    assert facts.last_password_sync == kit.tenant.last_password_sync  # from beta
    assert facts.canary is not None and facts.canary.found
    assert facts.canary.user == CANARY
    assert facts.canary.extension_attributes["extensionAttribute1"] == "nonce-1"
    assert facts.canary.extension_attributes["extensionAttribute15"] is None
    assert facts.collected_utc is not None


def test_token_is_reused_within_a_run(kit: CloudKit) -> None:
    client, _ = kit.client()
    for _ in range(3):
        gather_cloud(client.config, client=client)
    counters = kit.stand_in.counters
    assert counters.count("token", method="POST") == 1
    assert counters.count("discovery") == 1
    assert counters.count("organization") == 6  # v1.0 + beta per gather


def test_client_for_caches_one_client_per_config(kit: CloudKit) -> None:
    config = kit.config(canary_user=None)
    assert client_for(config) is client_for(config)
    gather_cloud(config)
    gather_cloud(config)
    assert kit.stand_in.counters.count("token", method="POST") == 1
    close_clients()
    gather_cloud(config)
    assert kit.stand_in.counters.count("token", method="POST") == 2


def test_pem_certificate_credential(kit: CloudKit) -> None:
    config = kit.config(secret=None, certificate_path=kit.pem_with_key(), canary_user=None)
    client, _ = kit.client(config)
    facts = gather_cloud(config, client=client)
    assert facts.sync_enabled is True
    assert kit.stand_in.counters.count("token", status=200) == 1


def test_pfx_certificate_credential_with_password(kit: CloudKit) -> None:
    key = serialization.load_pem_private_key(kit.key_path.read_bytes(), password=None)
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(kit.cert_path.read_bytes())
    pfx = kit.directory / "app.pfx"
    pfx.write_bytes(pkcs12.serialize_key_and_certificates(
        b"app", key, cert, None, serialization.BestAvailableEncryption(b"pfx-Pass-1")))  # type: ignore[arg-type]
    config = kit.config(secret=None, certificate_path=pfx, certificate_password="pfx-Pass-1",
                        canary_user=None)
    client, _ = kit.client(config)
    assert gather_cloud(config, client=client).sync_enabled is True
    assert "pfx-Pass-1" not in repr(config) + str(config) + repr(client)


def test_tenant_domain_authority_works(kit: CloudKit) -> None:
    client, _ = kit.client(kit.config(tenant_id=kit.tenant.domain, canary_user=None))
    assert client.organization()["id"] == kit.tenant.tenant_id


def test_a_lab_export_moves_the_cloud_clock(kit: CloudKit) -> None:
    client, _ = kit.client()
    before = gather_cloud(client.config, client=client).last_sync
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    kit.tenant.record_export("aadc01", moment, {CANARY: {"extensionAttribute1": "nonce-2"}})
    after = gather_cloud(client.config, client=client)
    assert before != moment and after.last_sync == moment
    assert after.canary is not None and after.canary.extension_attributes["extensionAttribute1"] == "nonce-2"
    assert after.canary.on_premises_last_sync == moment


def test_missing_canary_user_is_a_fact_not_an_error(kit: CloudKit) -> None:
    client, _ = kit.client(kit.config(canary_user="ghost@contoso.com"))
    facts = gather_cloud(client.config, client=client)
    assert facts.canary is not None
    assert facts.canary.found is False and facts.canary.user == "ghost@contoso.com"


# --- identity errors -------------------------------------------------------------------------------------


def test_wrong_secret_names_tenant_client_and_aadsts_code(kit: CloudKit) -> None:
    client, sleeps = kit.client(kit.config(secret="not-the-secret"))
    with pytest.raises(CloudError) as caught:
        gather_cloud(client.config, client=client)
    message = str(caught.value)
    assert "AADSTS7000215" in message
    assert kit.tenant.tenant_id in message and CLIENT_ID in message
    assert "Trace ID" not in message and "\n" not in message
    assert "not-the-secret" not in message
    assert caught.value.code == "AADSTS7000215"
    assert "Secret ID" in (caught.value.fix or "")
    assert sleeps == []  # a refusal is not retried
    assert kit.stand_in.counters.count("token") == 1


def test_invalid_client_fault_gives_the_aadsts_code(kit: CloudKit) -> None:
    kit.stand_in.faults.set("token", "invalid_client")
    client, _ = kit.client()
    with pytest.raises(CloudError, match="AADSTS7000215"):
        client.token()


def test_unknown_app_is_aadsts700016(kit: CloudKit) -> None:
    client, _ = kit.client(kit.config(client_id="00000000-1111-2222-3333-444444444444"))
    with pytest.raises(CloudError, match="AADSTS700016") as caught:
        client.token()
    assert "00000000-1111-2222-3333-444444444444" in str(caught.value)


def test_unknown_tenant_is_aadsts90002_from_the_constructor(kit: CloudKit) -> None:
    client, sleeps = kit.client(kit.config(tenant_id="nowhere.onmicrosoft.com"))
    with pytest.raises(CloudError, match="AADSTS90002") as caught:
        client.token()
    assert "tenant not found" in str(caught.value)
    assert sleeps == []
    assert kit.stand_in.counters.count("token") == 0


def test_unregistered_certificate_is_aadsts700027(kit: CloudKit) -> None:
    other_cert, other_key = create_client_certificate(kit.directory / "other-pki", "stranger")
    pem = kit.directory / "stranger.pem"
    pem.write_bytes(other_key.read_bytes() + other_cert.read_bytes())
    client, _ = kit.client(kit.config(secret=None, certificate_path=pem))
    with pytest.raises(CloudError, match="AADSTS700027"):
        client.token()


# --- Graph errors ----------------------------------------------------------------------------------------


def test_graph_403_names_organization_permission(kit: CloudKit) -> None:
    kit.stand_in.faults.set("organization", "forbidden")
    client, sleeps = kit.client()
    with pytest.raises(CloudError) as caught:
        gather_cloud(client.config, client=client)
    assert "Organization.Read.All" in str(caught.value)
    assert "Authorization_RequestDenied" in str(caught.value)
    assert sleeps == []


def test_graph_403_for_users_names_user_permission(kit: CloudKit) -> None:
    saved = kit.tenant.apps[CLIENT_ID]
    kit.tenant.apps[CLIENT_ID] = dataclasses.replace(saved, roles=("Organization.Read.All",))
    try:
        client, _ = kit.client()
        with pytest.raises(CloudError, match=r"User\.Read\.All"):
            gather_cloud(client.config, client=client)
    finally:
        kit.tenant.apps[CLIENT_ID] = saved


def test_graph_503_is_retried_then_succeeds(kit: CloudKit) -> None:
    kit.stand_in.faults.set("organization", "server_error", status=503, times=2)
    client, sleeps = kit.client()
    assert client.organization()["id"] == kit.tenant.tenant_id
    assert kit.stand_in.counters.count("organization") == 3
    assert sleeps == [0.5, 1.0]  # exponential backoff without Retry-After


def test_graph_5xx_persisting_gives_a_clear_error_after_the_attempts(kit: CloudKit) -> None:
    kit.stand_in.faults.set("organization", "server_error", status=502)
    client, sleeps = kit.client()
    with pytest.raises(CloudError) as caught:
        client.organization()
    message = str(caught.value)
    assert "HTTP 502" in message and "after 3 attempts" in message
    assert kit.tenant.tenant_id in message
    assert len(sleeps) == 2
    assert kit.stand_in.counters.count("organization") == 3


def test_graph_429_honours_retry_after_bounded(kit: CloudKit) -> None:
    kit.stand_in.faults.set("graph", "throttle", retry_after=7, times=1)
    client, sleeps = kit.client()
    client.organization()
    assert sleeps == [7.0]
    kit.stand_in.faults.set("graph", "throttle", retry_after=3600)
    capped, capped_sleeps = kit.client(retry=RetryPolicy(attempts=2, max_retry_after_s=9.0))
    with pytest.raises(CloudError, match="HTTP 429"):
        capped.organization()
    assert capped_sleeps == [9.0]


def test_token_503_retry_reaches_the_server_despite_msal_replay(kit: CloudKit) -> None:
    kit.stand_in.faults.set("token", "server_error", status=503, times=1)
    client, sleeps = kit.client()
    assert client.token()
    # Two POSTs reached the stand-in: msal's 5 s replay memory was cleared before the retry, and the
    # recorded wait is at least msal's replay window.
    assert kit.stand_in.counters.count("token", method="POST") == 2
    assert sleeps == [5.0]


def test_token_429_waits_retry_after(kit: CloudKit) -> None:
    kit.stand_in.faults.set("token", "throttle", retry_after=11, times=2)
    client, sleeps = kit.client()
    assert client.token()
    assert sleeps == [11.0, 11.0]
    assert kit.stand_in.counters.count("token", method="POST") == 3
    kit.stand_in.faults.set("token", "throttle", retry_after=1)
    throttled, _ = kit.client()
    with pytest.raises(CloudError, match=r"answered HTTP 429 \(temporarily_unavailable: AADSTS90055"):
        throttled.token()


def test_token_5xx_persisting_is_a_clear_error(kit: CloudKit) -> None:
    kit.stand_in.faults.set("token", "server_error", status=500)
    client, _ = kit.client()
    with pytest.raises(CloudError, match=r"token endpoint answered HTTP 500 after 3 attempts"):
        client.token()
    assert kit.stand_in.counters.count("token", method="POST") == 3


def test_discovery_503_in_the_constructor_is_retried(kit: CloudKit) -> None:
    kit.stand_in.faults.set("discovery", "server_error", status=503, times=1)
    client, sleeps = kit.client()
    assert client.token()
    assert kit.stand_in.counters.count("discovery") == 2
    assert len(sleeps) == 1


def test_graph_stall_times_out_in_bounded_time(kit: CloudKit) -> None:
    client, _ = kit.client(kit.config(timeout=0.5), retry=RetryPolicy(attempts=2, backoff_s=0.1))
    client.token()
    kit.stand_in.faults.set("organization", "stall", seconds=20)
    started = time.monotonic()
    with pytest.raises(CloudError, match=r"did not answer within 0\.5 s after 2 attempts"):
        client.organization()
    assert time.monotonic() - started < 5  # not 2 x 20 s


def test_token_stall_times_out_in_bounded_time(kit: CloudKit) -> None:
    kit.stand_in.faults.set("token", "stall", seconds=20)
    client, _ = kit.client(kit.config(timeout=0.5), retry=RetryPolicy(attempts=2, backoff_s=0.1))
    started = time.monotonic()
    with pytest.raises(CloudError, match="token endpoint"):
        client.token()
    assert time.monotonic() - started < 5


def test_connection_refused_is_a_clear_error(kit: CloudKit) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = f"https://127.0.0.1:{port}"
    client, sleeps = kit.client(kit.config(authority_host=dead, graph_url=dead))
    with pytest.raises(CloudError, match=r"cannot connect to the identity platform .* after 3 attempts"):
        client.token()
    assert len(sleeps) == 2


def test_tls_failure_is_not_retried_and_names_the_fix(kit: CloudKit, tmp_path: Path) -> None:
    other_ca = create_lab_pki(tmp_path / "other", ["127.0.0.1"]).ca_pem
    client, sleeps = kit.client(kit.config(ca_bundle=other_ca))
    with pytest.raises(CloudError) as caught:
        client.token()
    assert "TLS verification" in str(caught.value)
    assert "ca_bundle" in (caught.value.fix or "")
    assert sleeps == []


def test_graph_401_drops_the_cached_token(kit: CloudKit) -> None:
    client, _ = kit.client()
    client.organization()
    kit.stand_in.identity.expire_all()
    with pytest.raises(CloudError, match="rejected the access token"):
        client.organization()
    client.organization()  # a new token is fetched, not the refused one reused
    assert kit.stand_in.counters.count("token", method="POST") == 2


# --- secrets ---------------------------------------------------------------------------------------------


def test_secrets_never_in_reprs_messages_or_logs(kit: CloudKit, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = kit.config()
    good, _ = kit.client(config)
    gather_cloud(config, client=good)
    token = good.token()
    for text in (repr(config), str(config), repr(good)):
        assert SECRET not in text and token not in text
    kit.stand_in.faults.set("organization", "forbidden")
    failures = []
    for bad_config in (config, kit.config(secret=SECRET + "-wrong")):
        bad, _ = kit.client(bad_config)
        with pytest.raises(CloudError) as caught:
            gather_cloud(bad_config, client=bad)
        failures.append(caught.value)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for text in [*(str(f) for f in failures), *(repr(f) for f in failures), logged]:
        assert SECRET not in text
        assert token not in text
