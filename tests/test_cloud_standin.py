"""The lab's identity + Graph stand-in speaks what msal and Graph clients expect (raw HTTP and bare msal)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import msal
import pytest
import requests
from cloudkit import CANARY, CLIENT_ID, SECRET, CloudKit
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from entra_standby.errors import LabError
from entra_standby.lab.cloud import CloudFaults, CloudStandIn


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudKit]:
    kit = CloudKit.start(tmp_path_factory.mktemp("standin"))
    yield kit
    kit.stop()


@pytest.fixture(autouse=True)
def clean(kit: CloudKit) -> None:
    kit.stand_in.faults.clear()
    kit.stand_in.counters.reset()


def get(kit: CloudKit, path: str, **kwargs: Any) -> requests.Response:
    # verify per request: REQUESTS_CA_BUNDLE would override a session-level setting
    return requests.get(f"{kit.base_url}{path}", verify=str(kit.tls.ca_pem), timeout=5, **kwargs)


def token(kit: CloudKit, **form: str) -> requests.Response:
    body = {"client_id": CLIENT_ID, "grant_type": "client_credentials", "client_secret": SECRET,
            "scope": "https://graph.microsoft.com/.default", **form}
    return requests.post(f"{kit.base_url}/{kit.tenant.tenant_id}/oauth2/v2.0/token", data=body,
                         verify=str(kit.tls.ca_pem), timeout=5)


def bearer(kit: CloudKit) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(kit).json()['access_token']}"}


def msal_app(kit: CloudKit, credential: Any, authority: str | None = None) -> Any:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace session.verify
    session.verify = str(kit.tls.ca_pem)
    return msal.ConfidentialClientApplication(
        CLIENT_ID, client_credential=credential,
        authority=authority or f"{kit.base_url}/{kit.tenant.tenant_id}", instance_discovery=False,
        azure_region=False, http_client=session)


# --- identity --------------------------------------------------------------------------------------------


def test_discovery_by_id_and_domain_and_double_slash(kit: CloudKit) -> None:
    tid = kit.tenant.tenant_id
    for path in (f"/{tid}/v2.0/.well-known/openid-configuration",
                 f"/{kit.tenant.domain.upper()}/v2.0/.well-known/openid-configuration",
                 f"/{tid}//v2.0/.well-known/openid-configuration"):
        document = get(kit, path).json()
        assert document["token_endpoint"] == f"{kit.base_url}/{tid}/oauth2/v2.0/token"
        assert document["issuer"] == f"{kit.base_url}/{tid}/v2.0"


def test_unknown_tenant_has_entra_error_envelope(kit: CloudKit) -> None:
    response = get(kit, "/nope.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_tenant"
    assert body["error_codes"] == [90002]
    assert body["error_description"].startswith("AADSTS90002: Tenant 'nope.onmicrosoft.com' not found")
    assert "\r\nTrace ID: " in body["error_description"]
    assert {"trace_id", "correlation_id", "timestamp", "error_uri"} <= set(body)


def test_token_response_shape(kit: CloudKit) -> None:
    body = token(kit).json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
    assert "scope" not in body
    assert body["access_token"]


@pytest.mark.parametrize(("form", "status", "code"), [
    ({"client_secret": "wrong"}, 401, 7000215),
    ({"client_id": "unknown-app"}, 400, 700016),
    ({"scope": "https://graph.microsoft.com/User.Read.All"}, 400, 1002012),
    ({"client_secret": "", "client_assertion": "not-a-jwt",
      "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, 401, 7000215),
])
def test_token_errors_carry_aadsts_codes(kit: CloudKit, form: dict[str, str], status: int, code: int) -> None:
    response = token(kit, **form)
    assert response.status_code == status
    assert response.json()["error_codes"] == [code]


def test_bad_assertion_is_700027(kit: CloudKit) -> None:
    response = requests.post(f"{kit.base_url}/{kit.tenant.tenant_id}/oauth2/v2.0/token", data={
        "client_id": CLIENT_ID, "grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": "eyJhbGciOiJQUzI1NiJ9.e30.c2ln"}, verify=str(kit.tls.ca_pem), timeout=5)
    assert response.status_code == 401
    assert response.json()["error_codes"] == [700027]


def test_msal_thumbprint_rs256_assertion_with_padded_x5t(kit: CloudKit) -> None:
    cert = x509.load_pem_x509_certificate(kit.cert_path.read_bytes())
    thumbprint = hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest()
    app = msal_app(kit, {"private_key": kit.key_path.read_text(), "thumbprint": thumbprint},
                   authority=f"{kit.base_url}/{kit.tenant.tenant_id}/")  # trailing '/' -> '//v2.0' discovery
    result = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "access_token" in result, result.get("error_description")
    again = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert again["token_source"] == "cache"
    assert kit.stand_in.counters.count("token", method="POST") == 1


def test_msal_pem_certificate_ps256_and_wrong_key_refused(kit: CloudKit) -> None:
    public = kit.cert_path.read_text()
    good = msal_app(kit, {"private_key": kit.key_path.read_text(), "public_certificate": public})
    assert "access_token" in good.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    other = kit.directory / "pki-other"
    from entra_standby.lab.pki import create_client_certificate

    _, wrong_key = create_client_certificate(other, "wrong")
    bad = msal_app(kit, {"private_key": wrong_key.read_text(), "public_certificate": public})
    result = bad.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert result["error_codes"] == [700027]


# --- Graph -----------------------------------------------------------------------------------------------


def test_graph_without_token_is_401(kit: CloudKit) -> None:
    response = get(kit, "/v1.0/organization")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "WWW-Authenticate" in response.headers


def test_organization_v1_and_beta(kit: CloudKit) -> None:
    headers = bearer(kit)
    org = get(kit, "/v1.0/organization", headers=headers).json()
    [entity] = org["value"]
    assert entity["id"] == kit.tenant.tenant_id
    assert entity["onPremisesSyncEnabled"] is True
    assert entity["onPremisesLastSyncDateTime"].endswith("Z")
    assert "onPremisesLastPasswordSyncDateTime" not in entity
    selected = get(kit, "/v1.0/organization", headers=headers,
                   params={"$select": "id,onPremisesSyncEnabled"}).json()
    assert selected["value"] == [{"id": kit.tenant.tenant_id, "onPremisesSyncEnabled": True}]
    assert selected["@odata.context"].endswith("#organization(id,onPremisesSyncEnabled)")
    v1_password = get(kit, "/v1.0/organization", headers=headers,
                      params={"$select": "onPremisesLastPasswordSyncDateTime"})
    assert v1_password.status_code == 400
    beta = get(kit, "/beta/organization", headers=headers,
               params={"$select": "onPremisesLastPasswordSyncDateTime"}).json()
    assert set(beta["value"][0]) == {"onPremisesLastPasswordSyncDateTime"}
    by_id = get(kit, f"/v1.0/organization/{kit.tenant.tenant_id}", headers=headers).json()
    assert by_id["id"] == kit.tenant.tenant_id and "value" not in by_id


def test_user_select_semantics(kit: CloudKit) -> None:
    headers = bearer(kit)
    plain = get(kit, f"/v1.0/users/{CANARY}", headers=headers).json()
    assert plain["userPrincipalName"] == CANARY
    assert "onPremisesExtensionAttributes" not in plain and "onPremisesLastSyncDateTime" not in plain
    chosen = get(kit, f"/v1.0/users/{CANARY}", headers=headers,
                 params={"$select": "id,onPremisesExtensionAttributes"}).json()
    assert set(chosen) == {"@odata.context", "id", "onPremisesExtensionAttributes"}
    assert len(chosen["onPremisesExtensionAttributes"]) == 15
    by_id = get(kit, f"/v1.0/users/{plain['id']}", headers=headers).json()
    assert by_id["userPrincipalName"] == CANARY
    quoted = get(kit, f"/v1.0/users('{CANARY}')", headers=headers).json()
    assert quoted["id"] == plain["id"]
    missing = get(kit, "/v1.0/users/ghost@contoso.com", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "Request_ResourceNotFound"


def test_app_without_roles_gets_403(kit: CloudKit) -> None:
    import dataclasses

    saved = kit.tenant.apps[CLIENT_ID]
    kit.tenant.apps[CLIENT_ID] = dataclasses.replace(saved, roles=())
    try:
        response = get(kit, "/v1.0/organization", headers=bearer(kit))
    finally:
        kit.tenant.apps[CLIENT_ID] = saved
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "Authorization_RequestDenied"


def test_unknown_segment_is_bad_request(kit: CloudKit) -> None:
    response = get(kit, "/v1.0/frobnicate", headers=bearer(kit))
    assert response.status_code == 400
    assert "frobnicate" in response.json()["error"]["message"]


# --- faults and the request log --------------------------------------------------------------------------


def test_fault_times_and_request_log(kit: CloudKit) -> None:
    headers = bearer(kit)
    kit.stand_in.faults.set("graph", "throttle", retry_after=4, times=1)
    first = get(kit, "/v1.0/organization", headers=headers)
    assert first.status_code == 429 and first.headers["Retry-After"] == "4"
    assert get(kit, "/v1.0/organization", headers=headers).status_code == 200
    records = kit.stand_in.counters.records
    assert [(r.method, r.path_class, r.status) for r in records] == [
        ("POST", "token", 200), ("GET", "organization", 429), ("GET", "organization", 200)]
    assert all(r.client_id == CLIENT_ID for r in records)


def test_fault_validation() -> None:
    faults = CloudFaults()
    with pytest.raises(ValueError, match="path class"):
        faults.set("nowhere", "stall")
    with pytest.raises(ValueError, match="token path class only"):
        faults.set("graph", "invalid_client")
    with pytest.raises(ValueError, match="Graph path classes only"):
        faults.set("token", "forbidden")
    faults.set("users", "server_error", status=500, times=1)
    taken = faults.take("users")
    assert taken is not None and taken.status == 500
    assert faults.take("users") is None


def test_refuses_non_loopback_bind(kit: CloudKit) -> None:
    with pytest.raises(LabError, match="not a loopback address"):
        CloudStandIn(kit.tenant, tls=kit.tls, bind_address="0.0.0.0")
