"""The lab's PKI: one throw-away CA, a TLS leaf for the lab's listeners and client certificates.

Certificates satisfy strict X.509 validation (Python 3.13's ``VERIFY_X509_STRICT``): the CA has a critical
BasicConstraints(ca=True), KeyUsage and a SubjectKeyIdentifier; leaves carry SAN, EKU, SKI and an
AuthorityKeyIdentifier. Everything is signed with SHA-256, so the WinRM channel binding
(``tls-server-end-point``) is the SHA-256 of the leaf.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=30)
_BACKDATE = datetime.timedelta(hours=1)  # tolerate small clock skew between processes


@dataclass(frozen=True)
class TlsMaterial:
    """PEM files of the lab CA and of the listeners' leaf certificate and key (key unencrypted)."""

    ca_pem: Path
    cert_pem: Path
    key_pem: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "entra-standby lab"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError("the lab CA key must be an EC key")
    return cert, key


def _create_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = _name("entra-standby lab CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE).not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(directory / "ca.key", key)
    _write_cert(directory / "ca.pem", cert)
    return cert, key


def _issue(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
           public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey, common_name: str,
           eku: x509.ObjectIdentifier, san: Sequence[x509.GeneralName]) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    digital_signature_only = x509.KeyUsage(
        digital_signature=True, content_commitment=False,
        key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE).not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(digital_signature_only, critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    if (directory / "ca.pem").is_file() and (directory / "ca.key").is_file():
        return _load_ca(directory)
    return _create_ca(directory)


def create_lab_pki(directory: Path, ip_addresses: Sequence[str],
                   dns_names: Sequence[str] = ("localhost",)) -> TlsMaterial:
    """Create (or reuse) the lab CA in ``directory`` and issue a serverAuth leaf for these names.

    Writes ``ca.pem``/``ca.key`` (kept if already there, so several leaves share one CA) and
    ``server.pem``/``server.key``. Addresses must be IP literals; names are DNS names.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ca(directory)
    san: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    san += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    key = ec.generate_private_key(ec.SECP256R1())
    common_name = next(iter(dns_names), None) or next(iter(ip_addresses), "lab")
    cert = _issue(ca_cert, ca_key, key.public_key(), common_name, ExtendedKeyUsageOID.SERVER_AUTH, san)
    _write_key(directory / "server.key", key)
    _write_cert(directory / "server.pem", cert)
    return TlsMaterial(ca_pem=directory / "ca.pem", cert_pem=directory / "server.pem",
                       key_pem=directory / "server.key")


def create_client_certificate(directory: Path, common_name: str) -> tuple[Path, Path]:
    """Issue a clientAuth certificate (RSA 2048, as MSAL's certificate credential needs) from the lab CA.

    The CA is created in ``directory`` if it is not there yet. Returns ``(cert_pem, key_pem)``; the file
    names are derived from ``common_name``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ca(directory)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _issue(ca_cert, ca_key, key.public_key(), common_name, ExtendedKeyUsageOID.CLIENT_AUTH, ())
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in common_name) or "client"
    cert_path, key_path = directory / f"{stem}.client.pem", directory / f"{stem}.client.key"
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    return cert_path, key_path
