"""The lab PKI: certificates that strict X.509 validation accepts, and a client certificate for MSAL."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from entra_standby.lab.pki import create_client_certificate, create_lab_pki


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


def test_leaf_and_ca_extensions(pki_dir: Path) -> None:
    material = create_lab_pki(pki_dir, ["127.0.0.11", "127.0.0.12"], ["localhost", "aadc01.lab"])
    ca = x509.load_pem_x509_certificate(material.ca_pem.read_bytes())
    leaf = x509.load_pem_x509_certificate(material.cert_pem.read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.11", "127.0.0.12"}
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "aadc01.lab"}
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca_ski
    assert leaf.signature_hash_algorithm is not None and leaf.signature_hash_algorithm.name == "sha256"
    assert oct(material.key_pem.stat().st_mode & 0o777) == "0o600"


def test_strict_tls_handshake_succeeds(pki_dir: Path) -> None:
    material = create_lab_pki(pki_dir, ["127.0.0.1"])
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(material.cert_pem, material.key_pem)
    client_ctx = ssl.create_default_context(cafile=str(material.ca_pem))
    client_ctx.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)  # Python 3.13's default
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")

        thread = threading.Thread(target=serve)
        thread.start()
        with socket.create_connection(("127.0.0.1", port)) as raw, client_ctx.wrap_socket(
                raw, server_hostname="127.0.0.1") as tls:
            assert tls.recv(2) == b"ok"
        thread.join(5)


def test_untrusted_name_is_rejected(pki_dir: Path) -> None:
    material = create_lab_pki(pki_dir, ["127.0.0.1"], ["localhost"])
    leaf = x509.load_pem_x509_certificate(material.cert_pem.read_bytes())
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "evil.example" not in san.get_values_for_type(x509.DNSName)


def test_client_certificate_is_rsa_client_auth_from_the_same_ca(pki_dir: Path) -> None:
    material = create_lab_pki(pki_dir, ["127.0.0.1"])
    cert_path, key_path = create_client_certificate(pki_dir, "entra-standby app")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    ca = x509.load_pem_x509_certificate(material.ca_pem.read_bytes())
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    assert isinstance(cert.public_key(), rsa.RSAPublicKey)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert b"PRIVATE KEY" in key_path.read_bytes()
