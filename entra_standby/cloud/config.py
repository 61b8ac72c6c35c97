"""The ``cloud:`` block of a pair in the inventory: which tenant, which app, which credential.

Secrets are resolved here (from the environment, or inline for the lab only) and kept out of every
``repr``/``str``: ``CloudConfig`` is printed in logs and error messages, its secret fields never are.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import InventoryError, env_name_for_message, env_problem, is_env_name
from .credentials import CredentialError, load_certificate_credential

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com"
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 600.0  # per request; beyond this a stalled Graph just looks hung

KNOWN_KEYS: tuple[str, ...] = (
    "tenant_id", "client_id", "client_secret_env", "client_secret", "certificate_path",
    "certificate_password_env", "authority_host", "graph_url", "ca_bundle", "canary_user", "timeout",
)


@dataclass(frozen=True)
class CloudConfig:
    """One tenant + app registration to read the cloud's view with (client credentials).

    Exactly one of ``secret`` and ``certificate_path`` is set. ``credential_source`` says where the
    credential came from (``env CLOUD_SECRET``, ``inline``, ``certificate /path``) for messages.
    """

    tenant_id: str
    client_id: str
    secret: str | None = field(default=None, repr=False)
    certificate_path: Path | None = None
    certificate_password: str | None = field(default=None, repr=False)
    authority_host: str = DEFAULT_AUTHORITY_HOST
    graph_url: str = DEFAULT_GRAPH_URL
    ca_bundle: Path | None = None
    canary_user: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    credential_source: str = ""

    def __post_init__(self) -> None:
        if (self.secret is None) == (self.certificate_path is None):
            raise ValueError("CloudConfig needs exactly one of secret and certificate_path")

    def __str__(self) -> str:
        return f"tenant {self.tenant_id}, client {self.client_id} via {self.authority_host}"

    @property
    def authority(self) -> str:
        """What msal's ``authority=`` wants: host and tenant, no trailing slash, no ``/v2.0``."""
        return f"{self.authority_host.rstrip('/')}/{self.tenant_id}"

    @property
    def is_loopback(self) -> bool:
        return is_loopback_url(self.authority_host) and is_loopback_url(self.graph_url)


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Block:
    """Reads one raw ``cloud:`` mapping and raises one-line ``InventoryError``s naming file and key."""

    def __init__(self, raw: dict[str, object], path: str, key: str, base_dir: Path) -> None:
        self.raw = raw
        self.path = path
        self.key = key
        self.base_dir = base_dir

    def error(self, name: str | None, message: str, fix: str) -> InventoryError:
        where = f"{self.key}.{name}" if name else self.key
        return InventoryError(message, path=self.path, key=where, fix=fix)

    def string(self, name: str, *, required: bool = False) -> str | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise self.error(name, "missing", f"add {name} to the cloud block")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(name, f"expected a non-empty string, got {type(value).__name__}",
                             f"write {name} as a quoted string")
        return value.strip()

    def https_url(self, name: str, default: str) -> str:
        value = self.string(name) or default
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise self.error(name, f"'{value}' is not an https URL",
                             f"use an https URL such as {default} (msal refuses http)")
        if parts.path.strip("/") or parts.query:
            raise self.error(name, f"'{value}' must be a bare host URL without a path",
                             f"use {parts.scheme}://{parts.netloc}")
        return value.rstrip("/")

    def env(self, name: str) -> str:
        raw = self.raw.get(name)
        if not isinstance(raw, str) or not raw.strip():  # never echo it: it may be the secret itself
            raise self.error(name, "expected the name of an environment variable",
                             f"write {name}: NAME_OF_THE_VARIABLE")
        variable = raw.strip()
        shown = env_name_for_message(variable)
        value = os.environ.get(variable) if is_env_name(variable) else None
        if not value:
            raise self.error(name, env_problem(variable),
                             f"export {shown or 'the variable'} before the run, or point {name} at another "
                             "variable")
        return value

    def file(self, name: str, what: str) -> Path | None:
        value = self.string(name)
        if value is None:
            return None
        candidate = Path(value).expanduser()
        resolved = candidate if candidate.is_absolute() else self.base_dir / candidate
        if not resolved.is_file():
            raise self.error(name, f"{what} {resolved} does not exist",
                             f"fix the path (relative paths are resolved from {self.base_dir})")
        return resolved

    def timeout(self) -> float:
        value = self.raw.get("timeout", DEFAULT_TIMEOUT_S)
        if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
                or value <= 0 or value > MAX_TIMEOUT_S):
            shown = repr(value) if isinstance(value, int | float) else type(value).__name__
            raise self.error("timeout",
                             f"expected a number of seconds > 0 and <= {MAX_TIMEOUT_S:g}, got {shown}",
                             f"set timeout to e.g. {DEFAULT_TIMEOUT_S:g} or remove it")
        return float(value)


def parse_cloud_block(raw: object, *, path: str, key: str, base_dir: Path) -> CloudConfig:
    """Validate one pair's ``cloud:`` mapping and resolve its credential.

    :param raw: the YAML value of the block.
    :param path: the inventory file (for messages).
    :param key: the block's key path, e.g. ``pairs[0].cloud`` (for messages).
    :param base_dir: the directory relative file paths are resolved from (the inventory's).
    :raises InventoryError: one line naming the file, the key and the fix.
    """
    if not isinstance(raw, dict):
        raise InventoryError(f"expected a mapping, got {type(raw).__name__}", path=path, key=key,
                             fix="write the cloud block as 'cloud: {tenant_id: ..., client_id: ..., ...}'")
    block = _Block({str(k): v for k, v in raw.items()}, path, key, base_dir)
    for name in block.raw:
        if name not in KNOWN_KEYS:
            close = difflib.get_close_matches(name, KNOWN_KEYS, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(KNOWN_KEYS)}"
            raise block.error(name, "unknown key", hint)

    tenant_id = block.string("tenant_id", required=True)
    client_id = block.string("client_id", required=True)
    assert tenant_id is not None and client_id is not None
    authority_host = block.https_url("authority_host", DEFAULT_AUTHORITY_HOST)
    graph_url = block.https_url("graph_url", DEFAULT_GRAPH_URL)

    secret_keys = [k for k in ("client_secret_env", "client_secret") if k in block.raw]
    if len(secret_keys) == 2:
        raise block.error(None, "both client_secret_env and client_secret are set",
                          "keep client_secret_env only")
    has_certificate = "certificate_path" in block.raw
    if secret_keys and has_certificate:
        raise block.error(None, f"both {secret_keys[0]} and certificate_path are set",
                          "choose one credential: a client secret or a certificate")
    if not secret_keys and not has_certificate:
        raise block.error(None, "no credential", "add client_secret_env or certificate_path")
    if "certificate_password_env" in block.raw and not has_certificate:
        raise block.error("certificate_password_env", "set without certificate_path",
                          "add certificate_path or remove certificate_password_env")

    secret: str | None = None
    certificate_path: Path | None = None
    certificate_password: str | None = None
    if secret_keys == ["client_secret"]:
        if not is_loopback_url(authority_host):
            raise block.error("client_secret", "an inline secret is accepted only for a loopback (lab) "
                              "authority_host", "store the secret in an environment variable and name it "
                              "with client_secret_env")
        if not is_loopback_url(graph_url):  # a lab token must never travel to a real Graph endpoint
            raise block.error("graph_url", "an inline (lab) secret with a loopback authority_host, but "
                              f"graph_url {graph_url} is not loopback",
                              "point graph_url at the lab too, or use client_secret_env for a real tenant")
        secret = block.string("client_secret", required=True)
        source = "inline"
    elif secret_keys == ["client_secret_env"]:
        secret = block.env("client_secret_env")
        source = f"env {env_name_for_message(block.raw['client_secret_env']) or '(name not shown)'}"
    else:
        certificate_path = block.file("certificate_path", "certificate file")
        if "certificate_password_env" in block.raw:
            certificate_password = block.env("certificate_password_env")
        assert certificate_path is not None
        try:
            load_certificate_credential(certificate_path, certificate_password)
        except CredentialError as exc:
            raise block.error("certificate_path", str(exc), exc.fix) from None
        source = f"certificate {certificate_path}"

    return CloudConfig(
        tenant_id=tenant_id,
        client_id=client_id,
        secret=secret,
        certificate_path=certificate_path,
        certificate_password=certificate_password,
        authority_host=authority_host,
        graph_url=graph_url,
        ca_bundle=block.file("ca_bundle", "CA bundle"),
        canary_user=block.string("canary_user"),
        timeout=block.timeout(),
        credential_source=source,
    )
