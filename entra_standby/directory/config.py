"""The optional ``directory:`` block of a pair: how the tool host reads the connector accounts over LDAP.

Validated with the rest of the inventory, before anything connects; every mistake is one line naming the
file, the key and the fix. Secrets come from ``password_env`` / ``password_file`` (inline ``password`` only
for loopback DCs) and never print.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from ..errors import InventoryError, env_name_for_message, env_problem, is_env_name
from ..yamlload import read_text_file

TRANSPORTS = ("ldap", "ldaps")
AUTHS = ("kerberos", "ntlm", "simple")
DEFAULT_TIMEOUT_S = 10.0
DIRECTORY_DEFAULTS: dict[str, Any] = {
    "servers": None,  # the domain name: its DNS name resolves to the DCs
    "transport": "ldap",  # 389 signed and sealed; ldaps = 636 over TLS
    "port": None,  # 389 for ldap, 636 for ldaps
    "auth": "kerberos",
    "username": None,
    "ca_bundle": None,
    "tls_server_name": None,
    "spn_host": None,
    "krb5_config": None,
    "timeout": DEFAULT_TIMEOUT_S,
}
KNOWN_KEYS: tuple[str, ...] = ("domain", *DIRECTORY_DEFAULTS, "password_env", "password_file", "password")


_MAX_SECRET_FILE_BYTES = 64 * 1024  # one line; anything larger is the wrong file


@dataclass(frozen=True)
class DirectoryConfig:
    """One forest's domain to read from: its DCs, transport, authentication and the reader's secret."""

    domain: str  # DNS name, e.g. contoso.com
    servers: tuple[str, ...]
    transport: str = "ldap"
    port: int = 389
    auth: str = "kerberos"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_bundle: Path | None = None
    tls_server_name: str | None = None
    spn_host: str | None = None
    krb5_config: Path | None = None
    timeout: float = DEFAULT_TIMEOUT_S

    def __str__(self) -> str:
        return f"{self.domain} via {', '.join(self.servers)} ({self.transport}:{self.port}, {self.auth})"

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={label}" for label in self.domain.split("."))

    @property
    def netbios_guess(self) -> str:
        """The domain's first label: the NetBIOS name unless the admins chose another at creation."""
        return self.domain.split(".")[0]


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_directory_block(raw: Any, *, path: str, key: str, base_dir: Path) -> DirectoryConfig:
    def fail(sub: str | None, message: str, fix: str) -> NoReturn:
        raise InventoryError(message, path=path, key=f"{key}.{sub}" if sub else key, fix=fix)

    if not isinstance(raw, dict):
        fail(None, "expected a mapping (key: value)", "see the directory example in inventory/example.yml")
    for name in raw:
        if name not in KNOWN_KEYS:
            close = difflib.get_close_matches(str(name), KNOWN_KEYS, n=1, cutoff=0.6)
            fail(str(name), f"unknown key '{name}'",
                 f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(KNOWN_KEYS)}")

    def text(name: str) -> str | None:
        value = raw.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            fail(name, "expected a non-empty string", "quote the value if needed")
        return value.strip()

    def file(name: str, what: str) -> Path | None:
        value = text(name)
        if value is None:
            return None
        found = Path(os.path.expanduser(value))
        found = found if found.is_absolute() else base_dir / found
        if not found.is_file():
            fail(name, f"'{value}' not found (looked for {found})", f"give the path of {what}")
        return found.resolve()

    domain = text("domain")
    if domain is None:
        fail("domain", "missing required key", "add 'domain:' with the AD DNS domain, e.g. contoso.com")
    if any(not label or not label.replace("-", "").isalnum() for label in domain.split(".")):
        fail("domain", f"'{domain}' is not a DNS domain name", "write the AD DNS domain, e.g. contoso.com")
    servers_raw = raw.get("servers")
    if servers_raw is None:
        servers: tuple[str, ...] = (domain.lower(),)
    elif isinstance(servers_raw, list) and servers_raw and all(isinstance(s, str) and s.strip()
                                                                for s in servers_raw):
        servers = tuple(s.strip() for s in servers_raw)
    else:
        fail("servers", "expected a non-empty list of DC host names or addresses",
             "write e.g. servers: [dc01.contoso.com, dc02.contoso.com]")
    transport = text("transport") or DIRECTORY_DEFAULTS["transport"]
    if transport not in TRANSPORTS:
        fail("transport", f"'{transport}' is not one of {', '.join(TRANSPORTS)}",
             "ldap (port 389, signed and sealed) or ldaps (port 636, TLS)")
    auth = text("auth") or DIRECTORY_DEFAULTS["auth"]
    if auth not in AUTHS:
        fail("auth", f"'{auth}' is not one of {', '.join(AUTHS)}",
             "kerberos, ntlm (through SASL, signed and sealed) or simple (ldaps only)")
    if auth == "simple" and transport != "ldaps":
        fail("auth", "a simple bind on port 389 would send the password in clear",
             "use transport: ldaps, or auth: kerberos / ntlm")
    if auth == "ntlm" and transport == "ldaps":
        # Over TLS the DC refuses a signing NTLM layer, and NTLM without signing fails its message integrity
        # check against Samba 4.17 (measured): not offered until proven against a DC.
        fail("auth", "NTLM over ldaps is not supported yet", "use transport: ldap (NTLM signed and sealed on "
             "389), or auth: kerberos / simple over ldaps")
    port_raw = raw.get("port")
    if port_raw is None:
        port = 636 if transport == "ldaps" else 389
    elif isinstance(port_raw, bool) or not isinstance(port_raw, int) or not 1 <= port_raw <= 65535:
        fail("port", "expected a port number between 1 and 65535", "write a number without quotes")
    else:
        port = port_raw
    timeout_raw = raw.get("timeout", DEFAULT_TIMEOUT_S)
    if (isinstance(timeout_raw, bool) or not isinstance(timeout_raw, int | float)
            or not 0 < timeout_raw <= 300):
        fail("timeout", "expected a number of seconds above 0 and at most 300", "write e.g. timeout: 10")
    username = text("username")
    given = [k for k in ("password_env", "password_file", "password") if k in raw]
    if len(given) > 1:
        fail(given[1], f"both {given[0]} and {given[1]} are set",
             "keep exactly one of password_env, password_file, password")
    password: str | None = None
    if given:
        source = given[0]
        if source == "password_env":
            var = text("password_env") or ""
            # Only a name is looked up, and only an UPPER_CASE one is ever shown: a value typed here may be
            # the password itself (the rule of every *_env key, errors.env_problem).
            password = (os.environ.get(var) or None) if is_env_name(var) else None
            if password is None and _secrets_optional():
                password = ""
            if password is None:
                fail(source, env_problem(var),
                     f"export {env_name_for_message(var) or 'the variable'} before running, "
                     "or use password_file")
        elif source == "password_file":
            secret_file = file("password_file", "a file whose first line is the password")
            assert secret_file is not None
            try:  # bounded, never a FIFO or device, its bytes never quoted (like the connection's)
                content = read_text_file(secret_file, label=str(secret_file), error=InventoryError,
                                         max_bytes=_MAX_SECRET_FILE_BYTES, what="the password file",
                                         secret=True)
            except InventoryError as exc:
                fail(source, f"the password file cannot be read: {exc.reason}",
                     exc.fix or "create the file (readable only by you) or fix the path")
            lines = content.splitlines()
            password = lines[0] if lines and lines[0].strip() else None
            if password is None:
                fail(source, "the password file has no password on its first line",
                     "write the password on its first line")
        else:
            value = raw.get("password")
            if not isinstance(value, str) or not value:
                fail(source, "expected a non-empty string", "quote the value")  # never echo a secret
            if not all(_loopback(s) for s in servers):
                fail(source, "an inline password is only accepted for loopback DCs",
                     "use password_env or password_file")
            password = value
    if auth != "kerberos" and (username is None or password is None):
        missing = "username" if username is None else "password_env"
        fail(missing, f"auth {auth} needs a username and a password source",
             "set username and one of password_env / password_file")
    if password is not None and username is None:
        fail("username", "a password without a username", "set username (e.g. CONTOSO\\svc-audit)")
    ca_bundle = file("ca_bundle", "the PEM file of the CA that issued the DCs' LDAPS certificates")
    if ca_bundle is not None and transport != "ldaps":
        fail("ca_bundle", "a CA bundle only applies to ldaps", "remove it, or set transport: ldaps")
    return DirectoryConfig(
        domain=domain.lower(), servers=servers, transport=transport, port=port, auth=auth, username=username,
        password=password, ca_bundle=ca_bundle, tls_server_name=text("tls_server_name"),
        spn_host=text("spn_host"), krb5_config=file("krb5_config", "a krb5.conf for the realm"),
        timeout=float(timeout_raw))


def _secrets_optional() -> bool:
    from ..inventory import secrets_optional  # inventory imports this module: look it up at call time

    return secrets_optional()
