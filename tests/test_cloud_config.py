"""Parsing a pair's ``cloud:`` block: resolved credentials, one-line errors naming file, key and fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from entra_standby.cloud import CloudConfig, parse_cloud_block
from entra_standby.errors import InventoryError
from entra_standby.lab.pki import create_client_certificate

FILE = "inventory/prod.yml"
KEY = "pairs[0].cloud"
TENANT = "7d3f5a1e-2c4b-4e8f-9a6d-1b2c3d4e5f60"
APP = "3f1e2d4c-5b6a-4789-9abc-def012345678"
SECRET = "Prod-Secret~0123456789abcdef"


def parse(raw: Any, base_dir: Path) -> CloudConfig:
    return parse_cloud_block(raw, path=FILE, key=KEY, base_dir=base_dir)


def block(**extra: Any) -> dict[str, Any]:
    return {"tenant_id": TENANT, "client_id": APP, **extra}


def error_of(raw: Any, base_dir: Path) -> str:
    with pytest.raises(InventoryError) as caught:
        parse(raw, base_dir)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{FILE}: {KEY}")
    assert "(fix: " in message
    return message


@pytest.fixture
def cert_files(tmp_path: Path) -> tuple[Path, Path]:
    return create_client_certificate(tmp_path / "pki", "app")


def test_secret_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTRA_APP_SECRET", SECRET)
    config = parse(block(client_secret_env="ENTRA_APP_SECRET", canary_user="canary@contoso.com", timeout=12),
                   tmp_path)
    assert config.secret == SECRET
    assert config.tenant_id == TENANT and config.client_id == APP
    assert config.authority_host == "https://login.microsoftonline.com"
    assert config.graph_url == "https://graph.microsoft.com"
    assert config.authority == f"https://login.microsoftonline.com/{TENANT}"
    assert config.canary_user == "canary@contoso.com"
    assert config.timeout == 12.0
    assert config.credential_source == "env ENTRA_APP_SECRET"
    for text in (repr(config), str(config)):
        assert SECRET not in text


def test_missing_env_var_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENTRA_APP_SECRET", raising=False)
    message = error_of(block(client_secret_env="ENTRA_APP_SECRET"), tmp_path)
    assert f"{KEY}.client_secret_env" in message
    assert "ENTRA_APP_SECRET is not set" in message


def test_inline_secret_only_for_loopback(tmp_path: Path) -> None:
    message = error_of(block(client_secret=SECRET), tmp_path)
    assert f"{KEY}.client_secret" in message and "client_secret_env" in message
    assert SECRET not in message
    lab = parse(block(client_secret=SECRET, authority_host="https://127.0.0.1:8443",
                      graph_url="https://127.0.0.1:8443/"), tmp_path)
    assert lab.secret == SECRET and lab.is_loopback
    assert lab.graph_url == "https://127.0.0.1:8443"


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    message = error_of(block(client_secret_env="X", canary_usr="c@contoso.com"), tmp_path)
    assert f"{KEY}.canary_usr: unknown key" in message
    assert "did you mean canary_user?" in message


@pytest.mark.parametrize(("raw", "words"), [
    ({"tenant_id": 5, "client_id": APP, "client_secret_env": "X"},
     "tenant_id: expected a non-empty string, got int"),
    ({"client_id": APP, "client_secret_env": "X"}, "tenant_id: missing"),
    (block(client_secret_env="X", timeout="soon"), "timeout: expected a number of seconds"),
    (block(client_secret_env="X", authority_host="http://login.example"),
     "authority_host: 'http://login.example' is not an https URL"),
    (block(client_secret_env="X", graph_url="https://graph.microsoft.com/v1.0"), "graph_url: "),
    (block(), "no credential"),
    (block(client_secret_env="X", client_secret="Y"), "both client_secret_env and client_secret"),
    (["tenant_id"], "expected a mapping, got list"),
])
def test_shape_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: Any, words: str) -> None:
    monkeypatch.setenv("X", "value")
    assert words in error_of(raw, tmp_path)


def test_secret_and_certificate_exclude_each_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   cert_files: tuple[Path, Path]) -> None:
    monkeypatch.setenv("X", "value")
    message = error_of(block(client_secret_env="X", certificate_path=str(cert_files[0])), tmp_path)
    assert "both client_secret_env and certificate_path" in message


def test_missing_certificate_file(tmp_path: Path) -> None:
    message = error_of(block(certificate_path="certs/app.pem"), tmp_path)
    assert f"{KEY}.certificate_path" in message
    assert str(tmp_path / "certs" / "app.pem") in message


def test_certificate_pem_relative_to_inventory(tmp_path: Path, cert_files: tuple[Path, Path]) -> None:
    cert, key = cert_files
    (tmp_path / "app.pem").write_bytes(key.read_bytes() + cert.read_bytes())
    (tmp_path / "ca.pem").write_bytes(cert.read_bytes())
    config = parse(block(certificate_path="app.pem", ca_bundle="ca.pem"), tmp_path)
    assert config.certificate_path == tmp_path / "app.pem"
    assert config.ca_bundle == tmp_path / "ca.pem"
    assert config.secret is None


def test_certificate_without_key_is_refused(tmp_path: Path, cert_files: tuple[Path, Path]) -> None:
    message = error_of(block(certificate_path=str(cert_files[0])), tmp_path)
    assert "certificate_path" in message and "private key" in message


def test_encrypted_pfx_needs_the_right_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                cert_files: tuple[Path, Path]) -> None:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_files[0].read_bytes())
    key = serialization.load_pem_private_key(cert_files[1].read_bytes(), password=None)
    pfx = tmp_path / "app.pfx"
    pfx.write_bytes(pkcs12.serialize_key_and_certificates(
        b"app", key, cert, None, serialization.BestAvailableEncryption(b"Pfx-Pass-42")))  # type: ignore[arg-type]
    monkeypatch.setenv("PFX_PASS", "Pfx-Pass-42")
    config = parse(block(certificate_path="app.pfx", certificate_password_env="PFX_PASS"), tmp_path)
    assert config.certificate_password == "Pfx-Pass-42"
    assert "Pfx-Pass-42" not in repr(config) + str(config)
    monkeypatch.setenv("PFX_PASS", "wrong-pass-99")
    message = error_of(block(certificate_path="app.pfx", certificate_password_env="PFX_PASS"), tmp_path)
    assert "password is wrong" in message
    assert "wrong-pass-99" not in message
    monkeypatch.delenv("PFX_PASS")
    assert "PFX_PASS is not set" in error_of(
        block(certificate_path="app.pfx", certificate_password_env="PFX_PASS"), tmp_path)


def test_password_without_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X", "value")
    message = error_of(block(client_secret_env="X", certificate_password_env="X"), tmp_path)
    assert "certificate_password_env: set without certificate_path" in message


def test_config_needs_exactly_one_credential() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        CloudConfig(tenant_id=TENANT, client_id=APP)
