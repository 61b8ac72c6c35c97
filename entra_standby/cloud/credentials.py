"""Turn a certificate file (PEM with key + certificate, or PFX) into msal's ``client_credential`` dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12


class CredentialError(ValueError):
    """The certificate file is unusable; ``str()`` never contains the password or key material."""

    def __init__(self, message: str, fix: str) -> None:
        self.fix = fix
        super().__init__(message)


def _is_pem(data: bytes) -> bool:
    return b"-----BEGIN " in data


def load_certificate_credential(path: Path, password: str | None) -> dict[str, Any]:
    """Read ``path`` and return ``{"private_key": PEM, "public_certificate": PEM}`` for msal.

    With no thumbprint msal signs the assertion with PS256 and sends ``x5t#S256`` + ``x5c``, which Entra
    accepts for any certificate uploaded to the app registration.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CredentialError(f"cannot read certificate file {path}: {exc.strerror}",
                              "check the path and its permissions") from None
    secret = password.encode() if password else None
    key: Any
    certificate: x509.Certificate | None
    try:
        if _is_pem(data):
            key = serialization.load_pem_private_key(data, password=secret)
            certificate = x509.load_pem_x509_certificate(data)
        else:
            key, certificate, _ = pkcs12.load_key_and_certificates(data, secret)
    except TypeError:
        # cryptography: "Password was not given but private key is encrypted" (or the reverse)
        raise CredentialError(f"certificate file {path}: the private key is encrypted and no password was "
                              "given, or a password was given for an unencrypted key",
                              "set certificate_password_env to the variable holding the password, "
                              "or remove it") from None
    except ValueError:
        raise CredentialError(f"certificate file {path}: not a PEM file with a private key and a "
                              "certificate, nor a PFX, or the password is wrong",
                              "export the app's certificate with its private key (PEM or PFX) and check "
                              "certificate_password_env") from None
    if key is None or certificate is None:
        raise CredentialError(f"certificate file {path} lacks the private key or the certificate",
                              "export the certificate together with its private key")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialError(f"certificate file {path}: the key is not RSA",
                              "use an RSA certificate (Entra client assertions are RS256/PS256)")
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    public_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    return {"private_key": private_pem, "public_certificate": public_pem}
