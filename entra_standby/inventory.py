"""The inventory: which HA pairs to audit, how to reach their servers, and with which secrets.

``load_inventory(path)`` reads the YAML file (schema in docs/contracts.md section 4, documented in
``inventory/example.yml``) and validates all of it before any connection is made. Every problem is one
``InventoryError`` line naming the file, the key path (``pairs[0].servers[1].connection.port``) and the
fix, with "did you mean ..." for near-miss keys. Secrets are resolved here (``password_env``,
``password_file``; inline ``password`` only for loopback hosts) into ``Secret`` objects that never print.
The ``drill:`` and ``maintenance_windows:`` keys are parsed by ``drill.settings`` into ``PairEntry.drill``.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import warnings
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from .cloud.config import CloudConfig, parse_cloud_block
from .directory.config import DirectoryConfig, parse_directory_block
from .drill.settings import (
    DrillSettings,
    MaintenanceWindow,
    drill_settings,
    parse_drill_block,
    parse_maintenance_windows,
)
from .errors import FileKeyError, InventoryError, env_name_for_message, env_problem, is_env_name
from .rules.thresholds import DEFAULT_THRESHOLDS
from .rules.versions import parse_version
from .yamlload import load_yaml_file, read_text_file

__all__ = [
    "AUTH_METHODS",
    "CONNECTION_DEFAULTS",
    "ConnectionSettings",
    "InsecureSettingWarning",
    "Inventory",
    "PairEntry",
    "Secret",
    "ServerEntry",
    "inventory_from_dict",
    "is_loopback",
    "load_inventory",
    "with_lab_pairs",
]

AUTH_METHODS = ("negotiate", "ntlm", "kerberos", "basic", "credssp")
ROLES = ("active", "standby")
ENCRYPTION_MODES = ("auto", "always", "never")

CONNECTION_DEFAULTS: dict[str, Any] = {
    "port": None,  # 5986 with ssl, 5985 without
    "ssl": True,
    "auth": "negotiate",
    "cert_validation": True,  # true | false | path to a CA bundle (PEM)
    "username": None,
    "read_timeout": 6,  # seconds per HTTP request; bounds how long a stalled host can hold the run
    "operation_timeout": 4,  # WS-Man long-poll; must be below read_timeout
    "connect_timeout": 3,
    # total seconds for one host in an audit (connect + every request + every probe): a host that trickles
    # bytes errors after this, and never delays another host's verdict beyond it.
    "host_timeout": 60,
    # seconds one probe may run without printing before it is stopped alone (the others keep their facts)
    "probe_timeout": 30,
    "message_encryption": "auto",
    "negotiate_send_cbt": True,
    "retries": 2,  # extra attempts on transient connection errors (refused, reset, 503)
    # Kerberos (auth kerberos, or negotiate preferring it; the 'kerberos' extra): docs/directory.md
    "realm": None,  # qualifies a bare username: svc-audit -> svc-audit@REALM (Kerberos principals are UPNs)
    "krb5_config": None,  # path of a krb5.conf (KRB5_CONFIG); one per inventory, it is process-wide
    "keytab": None,  # path of a client keytab holding the username's keys: a ticket without a password
    "spn_host": None,  # the server's name in its SPN, when addressed by IP (negotiate_hostname_override)
    "spn_service": None,  # service part of the SPN (pypsrp's negotiate_service; it asks for host/ unless set)
}
"""Connection settings used when neither ``defaults.connection``, the pair nor the server sets one."""

_SECRET_KEYS = ("password_env", "password_file", "password")
MAX_SECRET_FILE_BYTES = 64 * 1024  # a password file holds one line; anything larger is the wrong file
MAX_REQUEST_TIMEOUT_S = 600.0  # read/connect timeouts: beyond this a stalled host just looks hung
MAX_HOST_TIMEOUT_S = 3600.0  # one host's total deadline and one probe's budget


class InsecureSettingWarning(UserWarning):
    """An inventory setting that works but weakens security (e.g. ``cert_validation: false``)."""


class _SecretFileError(FileKeyError):
    """Internal: a password file problem, re-raised as an ``InventoryError`` at its key."""


_SECRETS_OPTIONAL: ContextVar[bool] = ContextVar("entra_standby_secrets_optional", default=False)


def secrets_optional() -> bool:
    """True while ``load_inventory(..., resolve_secrets=False)`` runs: an unset secret is no error then."""
    return _SECRETS_OPTIONAL.get()


class Secret:
    """A secret string that never shows itself in ``str``/``repr``/f-strings; ``reveal()`` to use it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach one server over WinRM/PSRP (merged: defaults < pair < server)."""

    port: int | None = None
    ssl: bool = True
    auth: str = "negotiate"
    cert_validation: bool | str = True
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)
    read_timeout: float = 6
    operation_timeout: int = 4
    connect_timeout: float = 3
    host_timeout: float = 60
    probe_timeout: float = 30
    message_encryption: str = "auto"
    negotiate_send_cbt: bool = True
    retries: int = 2
    realm: str | None = None
    krb5_config: str | None = None
    keytab: str | None = None
    spn_host: str | None = None
    spn_service: str | None = None

    @property
    def principal(self) -> str | None:
        """The username as Kerberos wants it: a bare name gets ``@realm`` (DOMAIN\\user: refused at load)."""
        if self.username and self.realm and "@" not in self.username and "\\" not in self.username:
            return f"{self.username}@{self.realm}"
        return self.username

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 5986 if self.ssl else 5985


@dataclass(frozen=True)
class ServerEntry:
    host: str
    role: str  # active | standby
    connection: ConnectionSettings
    name: str | None = None  # display name in test ids and reports (default: host); the lab's aadc01

    @property
    def display(self) -> str:
        return self.name or self.host


@dataclass(frozen=True)
class PairEntry:
    name: str
    servers: tuple[ServerEntry, ...]
    thresholds: dict[str, Any] = field(default_factory=dict)
    cloud: CloudConfig | None = None  # the pair's ``cloud:`` block, if any
    drill: DrillSettings = field(default_factory=DrillSettings)  # ``drill:`` + ``maintenance_windows:``
    directory: DirectoryConfig | None = None  # the pair's ``directory:`` block (AD reads over LDAP), if any

    @property
    def cloud_configured(self) -> bool:
        return self.cloud is not None


@dataclass(frozen=True)
class Inventory:
    path: Path
    pairs: tuple[PairEntry, ...]
    lab_scenario: Path | None = None
    raw_defaults: dict[str, Any] = field(default_factory=dict, repr=False)  # to apply over a lab's pairs
    raw_waivers: Any = field(default=None, repr=False)  # ``waivers:``, validated by entra_standby.waivers
    warnings: tuple[str, ...] = ()  # insecure but accepted settings, one line each (also Python warnings)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_lab(self) -> bool:
        return self.lab_scenario is not None

    def select(self, names: list[str] | tuple[str, ...] | None) -> Inventory:
        """Only the named pairs (``--pair``), in inventory order; an unknown name is an InventoryError."""
        if not names:
            return self
        known = [p.name for p in self.pairs]
        for name in names:
            if name not in known:
                raise InventoryError(f"no pair named '{name}'", path=str(self.path), key="pairs",
                                     fix=_suggest(name, known) or f"use one of: {', '.join(known)}")
        return replace(self, pairs=tuple(p for p in self.pairs if p.name in names))


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (no DNS lookup: validation never touches the net)."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- loading ---------------------------------------------------------------------------------------------


def load_inventory(path: str | os.PathLike[str], *, resolve_secrets: bool = True) -> Inventory:
    """Read and validate an inventory file. Raises ``InventoryError`` (one line) on any problem.

    ``resolve_secrets=False`` (listing checks with ``--collect-only``, nothing connects) validates every key
    but leaves an unset ``*_env`` variable or unreadable password file as an empty secret instead of an error.

    A file with ``lab:`` validates its scenario path here; its pairs come later from the running lab
    (``inventory_from_dict(lab.inventory_dict(), ...)``) because the lab picks its ports at start-up.
    """
    file = Path(path)
    label = str(path)
    if not file.exists() and not file.is_symlink():
        raise InventoryError("file not found", path=label,
                             fix="pass an existing file to --inventory (try inventory/lab.yml)")
    raw = load_yaml_file(file, label=label, error=InventoryError)
    token = _SECRETS_OPTIONAL.set(not resolve_secrets)
    try:
        return inventory_from_dict(raw, path=file, label=label)
    finally:
        _SECRETS_OPTIONAL.reset(token)


def with_lab_pairs(inventory: Inventory, lab_inventory: Mapping[str, Any]) -> Inventory:
    """The inventory of a running lab (``lab.inventory_dict()``), with this file's ``defaults`` over it."""
    lab_defaults = lab_inventory.get("defaults") or {}
    defaults: dict[str, Any] = {}
    for section in ("connection", "thresholds", "drill"):
        merged = {**(lab_defaults.get(section) or {}), **(inventory.raw_defaults.get(section) or {})}
        if merged:
            defaults[section] = merged
    for section in ("maintenance_windows",):  # a list: this file's replaces the lab's
        if section in inventory.raw_defaults:
            defaults[section] = inventory.raw_defaults[section]
        elif section in lab_defaults:
            defaults[section] = lab_defaults[section]
    raw = {"defaults": defaults, "pairs": lab_inventory.get("pairs")}
    label = f"{inventory.path} (lab {inventory.lab_scenario.name if inventory.lab_scenario else ''})"
    loaded = inventory_from_dict(raw, path=inventory.path, label=label)
    return replace(loaded, lab_scenario=inventory.lab_scenario, raw_defaults=inventory.raw_defaults,
                   raw_waivers=inventory.raw_waivers)


def inventory_from_dict(raw: Any, *, path: str | os.PathLike[str], label: str | None = None) -> Inventory:
    """Validate an already-parsed inventory (``path`` anchors relative paths in it)."""
    file = Path(path)
    v = _Validator(label or str(path), file.parent)
    top = v.mapping(raw, "", {"defaults", "pairs", "lab", "waivers"}, what="the inventory")
    lab_scenario: Path | None = None
    if "lab" in top:
        lab_value = v.string(top["lab"], "lab")
        lab_scenario = (file.parent / lab_value).resolve()
        if not lab_scenario.is_file():
            v.fail("lab", f"lab scenario '{lab_value}' not found (looked for {lab_scenario})",
                   "give a path relative to the inventory, e.g. ../fixtures/scenarios/healthy-pair.yml")
        if "pairs" in top:
            v.fail("pairs", "an inventory with 'lab:' takes its pairs from the lab",
                   "remove 'pairs' (or remove 'lab' to audit real servers)")
    defaults = v.mapping(top.get("defaults", {}), "defaults",
                         {"connection", "thresholds", "drill", "maintenance_windows"})
    default_conn = v.connection_block(defaults.get("connection", {}), "defaults.connection")
    default_thresholds = v.thresholds(defaults.get("thresholds", {}), "defaults.thresholds")
    default_drill = parse_drill_block(defaults.get("drill"), path=v.label, key="defaults.drill")
    default_windows = parse_maintenance_windows(defaults.get("maintenance_windows"), path=v.label,
                                                key="defaults.maintenance_windows")

    if lab_scenario is not None:
        return Inventory(path=file, pairs=(), lab_scenario=lab_scenario, raw_defaults=dict(defaults),
                         raw_waivers=top.get("waivers"))
    if "pairs" not in top:
        v.fail("pairs", "no pairs defined", "add a 'pairs:' list (see inventory/example.yml)")
    pairs_list = v.sequence(top["pairs"], "pairs")
    if not pairs_list:
        v.fail("pairs", "the list of pairs is empty", "add at least one pair (see inventory/example.yml)")

    pairs: list[PairEntry] = []
    seen_pairs: dict[str, str] = {}
    seen_hosts: dict[str, str] = {}
    seen_names: dict[str, str] = {}  # names and hosts share one namespace: test ids and waivers use both
    for i, pair_raw in enumerate(pairs_list):
        key = f"pairs[{i}]"
        pair = v.mapping(pair_raw, key, {"name", "servers", "connection", "thresholds", "cloud", "drill",
                                         "maintenance_windows", "directory"}, what="a pair")
        name = v.string(v.required(pair, "name", key), f"{key}.name")
        if name in seen_pairs:
            v.fail(f"{key}.name", f"duplicate pair name '{name}' (also {seen_pairs[name]})",
                   "give every pair a unique name")
        seen_pairs[name] = key
        pair_conn = {**default_conn, **v.connection_block(pair.get("connection", {}), f"{key}.connection")}
        thresholds = {**default_thresholds, **v.thresholds(pair.get("thresholds", {}), f"{key}.thresholds")}
        servers_list = v.sequence(v.required(pair, "servers", key), f"{key}.servers")
        servers: list[ServerEntry] = []
        for j, server_raw in enumerate(servers_list):
            skey = f"{key}.servers[{j}]"
            server = v.mapping(server_raw, skey, {"host", "role", "connection", "name"}, what="a server")
            host = v.string(v.required(server, "host", skey), f"{skey}.host")
            if host.lower() in seen_hosts:
                v.fail(f"{skey}.host", f"duplicate host '{host}' (also {seen_hosts[host.lower()]})",
                       "list every server once, in one pair")
            seen_hosts[host.lower()] = f"{skey}.host"
            display = v.string(server["name"], f"{skey}.name") if server.get("name") is not None else None
            for label_, where in ((host, "host"), (display, "name")):
                if label_ is not None and seen_names.get(label_.lower(), skey) != skey:
                    v.fail(f"{skey}.{where}", f"'{label_}' is already the name or host of "
                           f"{seen_names[label_.lower()]}", "give every server a unique name")
                if label_ is not None:
                    seen_names[label_.lower()] = skey
            role = v.choice(v.required(server, "role", skey), f"{skey}.role", ROLES)
            merged = {**pair_conn, **v.connection_block(server.get("connection", {}), f"{skey}.connection")}
            servers.append(ServerEntry(host=host, role=role, connection=v.settings(merged, host, skey),
                                       name=display))
        roles = [s.role for s in servers]
        if roles.count("active") != 1:
            v.fail(f"{key}.servers", f"pair '{name}' has {roles.count('active')} servers with role active",
                   "mark exactly one server 'role: active' (the one that exports) and the others 'standby'")
        if "standby" not in roles:
            v.fail(f"{key}.servers", f"pair '{name}' has no standby server",
                   "add the staging server as 'role: standby'")
        pairs.append(PairEntry(name=name, servers=tuple(servers), thresholds=thresholds,
                               cloud=v.cloud(pair, key),
                               drill=v.drill(pair, key, default_drill, default_windows),
                               directory=v.directory(pair, key)))
    return Inventory(path=file, pairs=tuple(pairs), raw_defaults=dict(defaults),
                     raw_waivers=top.get("waivers"), warnings=tuple(v.warnings))


# --- validation ------------------------------------------------------------------------------------------

_THRESHOLD_MAX = 1e9
# What each threshold accepts (rules/thresholds.py reads them; keys not listed are whole numbers >= 0).
_THRESHOLD_KINDS = {
    "min_version": "version",
    "allow_standby_newer_version": "bool",
    "reboot_counts_file_rename": "bool",
    "max_run_age_minutes": "minutes-or-null",
    "cloud_sync_max_age_minutes": "minutes-or-null",
}


class _Validator:
    def __init__(self, label: str, base_dir: Path) -> None:
        self.label = label
        self.base_dir = base_dir
        self.krb5_configs: dict[str, str] = {}  # krb5.conf path -> the first key naming it
        self.warnings: list[str] = []

    def fail(self, key: str, message: str, fix: str | None = None) -> NoReturn:
        raise InventoryError(message, path=self.label, key=key or None, fix=fix)

    def warn(self, key: str, message: str, fix: str) -> None:
        """An accepted but insecure setting: one line, in ``Inventory.warnings`` and as a Python warning."""
        line = str(InventoryError(message, path=self.label, key=key or None, fix=fix))
        if line not in self.warnings:
            self.warnings.append(line)
            warnings.warn(InsecureSettingWarning(line), stacklevel=4)

    # generic shapes

    def mapping(self, value: Any, key: str, allowed: set[str], *, what: str = "a mapping") -> dict[str, Any]:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            self.fail(key, f"expected {what} (key: value), got {_kind(value)}",
                      "write it as 'key: value' lines")
        for k in value:
            if not isinstance(k, str) or k not in allowed:
                here = f"{key}.{k}" if key else str(k)
                hint = _suggest(str(k), sorted(allowed))
                self.fail(here, f"unknown key '{k}'",
                          hint or f"allowed keys here: {', '.join(sorted(allowed))}")
        return dict(value)

    def sequence(self, value: Any, key: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(key, f"expected a list, got {_kind(value)}", "write each entry on a '- ' line")
        return list(value)

    def required(self, mapping: dict[str, Any], name: str, key: str) -> Any:
        if name not in mapping or mapping[name] is None:
            self.fail(f"{key}.{name}", "missing required key", f"add '{name}:' (see inventory/example.yml)")
        return mapping[name]

    def string(self, value: Any, key: str, *, secret: bool = False) -> str:
        if not isinstance(value, str) or not value.strip():
            got = "another type or an empty value" if secret else _kind(value)  # never echo a secret
            self.fail(key, f"expected a non-empty string, got {got}", "quote the value if needed")
        return str(value)

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {_kind(value)}", "write true or false (no quotes)")
        return bool(value)

    def integer(self, value: Any, key: str, *, low: int, high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected a whole number, got {_kind(value)}", "write a number without quotes")
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.fail(key, f"{value} is out of range", f"use a number {bound}")
        return int(value)

    def number(self, value: Any, key: str, *, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, f"expected a number of seconds, got {_kind(value)}",
                      "write a number without quotes")
        if not math.isfinite(value) or value <= 0 or value > high:
            self.fail(key, f"{_kind(value)} is out of range",
                      f"use a number of seconds greater than 0 and at most {high:g}")
        return float(value)

    def choice(self, value: Any, key: str, choices: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in choices:
            hint = _suggest(str(value), list(choices))
            self.fail(key, f"'{value}' is not one of {', '.join(choices)}",
                      hint or f"use one of: {', '.join(choices)}")
        return str(value)

    # blocks

    def connection_block(self, value: Any, key: str) -> dict[str, Any]:
        """Type-check one ``connection:`` block; secrets are resolved here (so errors name this key)."""
        block = self.mapping(value, key, set(CONNECTION_DEFAULTS) | set(_SECRET_KEYS),
                             what="a connection block")
        given = [k for k in _SECRET_KEYS if k in block]
        if len(given) > 1:
            self.fail(f"{key}.{given[1]}", f"both {given[0]} and {given[1]} are set",
                      "keep exactly one of password_env, password_file, password")
        out: dict[str, Any] = {}
        for name, item in block.items():
            here = f"{key}.{name}"
            if name == "port":
                out[name] = self.integer(item, here, low=1, high=65535)
            elif name in ("ssl", "negotiate_send_cbt"):
                out[name] = self.boolean(item, here)
            elif name == "auth":
                out[name] = self.choice(item, here, AUTH_METHODS)
            elif name == "message_encryption":
                out[name] = self.choice(item, here, ENCRYPTION_MODES)
            elif name == "cert_validation":
                out[name] = self.cert_validation(item, here)
            elif name == "username":
                out[name] = self.string(item, here)
            elif name in ("read_timeout", "connect_timeout"):
                out[name] = self.number(item, here, high=MAX_REQUEST_TIMEOUT_S)
            elif name in ("host_timeout", "probe_timeout"):
                out[name] = self.number(item, here, high=MAX_HOST_TIMEOUT_S)
            elif name == "operation_timeout":
                out[name] = self.integer(item, here, low=1, high=int(MAX_REQUEST_TIMEOUT_S) - 1)
            elif name == "retries":
                out[name] = self.integer(item, here, low=0, high=10)
            elif name in ("krb5_config", "keytab"):
                what = ("a krb5.conf for the realm" if name == "krb5_config"
                        else "a keytab with the username's keys (ktutil, ktpass, samba-tool exportkeytab)")
                out[name] = self.existing_file(item, here, what)
            elif name == "realm":
                out[name] = self.realm(item, here)
            elif name in ("spn_host", "spn_service"):
                out[name] = self.spn_part(item, here)
            else:  # a secret source
                out["password"] = self.secret(name, item, here)
                out["_password_key"] = here
        return out

    def existing_file(self, value: Any, key: str, what: str) -> str:
        path = Path(os.path.expanduser(self.string(value, key)))
        path = path if path.is_absolute() else self.base_dir / path
        if not path.is_file():
            self.fail(key, f"'{value}' not found (looked for {path})", f"give the path of {what}")
        return str(path.resolve())

    def realm(self, value: Any, key: str) -> str:
        realm = self.string(value, key)
        if not all(part and part.replace("-", "").isalnum() for part in realm.split(".")):
            self.fail(key, f"'{realm}' is not a Kerberos realm", "write the AD DNS domain, e.g. CONTOSO.COM")
        return realm.upper()  # AD realms are the DNS domain in upper case; MIT compares case-sensitively

    def spn_part(self, value: Any, key: str) -> str:
        text = self.string(value, key)
        if "/" in text or "@" in text or any(c.isspace() for c in text):
            self.fail(key, f"'{text}' is not one part of an SPN",
                      "spn_host: the server's name as in its SPN (aadc01.contoso.com); spn_service: HTTP or "
                      "WSMAN")
        return text

    def cert_validation(self, value: Any, key: str) -> bool | str:
        if isinstance(value, bool):
            return value
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected true, false or a CA bundle path, got {_kind(value)}",
                      "write true, false or the path of a PEM CA file")
        ca = Path(os.path.expanduser(value))
        if not ca.is_absolute():
            ca = self.base_dir / ca
        if not ca.is_file():
            self.fail(key, f"CA bundle '{value}' not found (looked for {ca})",
                      "give the path of the PEM file of the CA that issued the WinRM certificates")
        return str(ca.resolve())

    def secret(self, name: str, value: Any, key: str) -> Secret:
        if name == "password_env":
            var = self.string(value, key, secret=True)
            secret = os.environ.get(var) if is_env_name(var) else None
            if (secret is None or secret == "") and secrets_optional():
                return Secret("")
            if secret is None or secret == "":
                shown = env_name_for_message(var) or "the variable"
                self.fail(key, env_problem(var),
                          f"export {shown} before running (e.g. from the CI secret store), "
                          "or use password_file")
            return Secret(str(secret))
        if name == "password_file":
            raw_path = Path(os.path.expanduser(self.string(value, key)))
            secret_path = raw_path if raw_path.is_absolute() else self.base_dir / raw_path
            if secrets_optional() and not secret_path.is_file():
                return Secret("")
            return Secret(self.password_file(secret_path, str(value), key))
        # inline: checked against the host once the connection is merged (see settings()).
        return Secret(self.string(value, key, secret=True))

    def password_file(self, path: Path, shown: str, key: str) -> str:
        """The first line of a password file, read with a bound; the secret itself is never quoted."""
        try:
            text = read_text_file(path, label="", error=_SecretFileError, max_bytes=MAX_SECRET_FILE_BYTES,
                                  what="the file", secret=True)
        except _SecretFileError as exc:
            self.fail(key, f"password file '{shown}' cannot be read: {exc.reason} (looked for {path})",
                      exc.fix or "create the file (readable only by you) or fix the path")
        lines = text.splitlines()
        first = lines[0] if lines else ""
        if not first.strip():
            self.fail(key, f"password file '{shown}' has no password on its first line"
                           + (" (only spaces)" if first else ""),
                      "write the password on the file's first line")
        return first

    def settings(self, merged: dict[str, Any], host: str, key: str) -> ConnectionSettings:
        values = {**CONNECTION_DEFAULTS, **merged}
        password_key = values.pop("_password_key", None)
        if password_key and password_key.endswith(".password") and not is_loopback(host):
            self.fail(password_key, f"inline password is only accepted for loopback hosts, not '{host}'",
                      "use password_env (an environment variable) or password_file instead")
        auth = values["auth"]
        if auth != "kerberos":
            if values.get("username") is None:
                self.fail(f"{key}.connection.username", f"no username for host '{host}' (auth {auth})",
                          "set connection.username (e.g. CONTOSO\\svc-audit) in defaults, pair or server")
            if values.get("password") is None:
                self.fail(f"{key}.connection.password_env",
                          f"no password source for host '{host}' (auth {auth})",
                          "set connection.password_env or connection.password_file")
        self.kerberos(values, host, key)
        if values["operation_timeout"] >= values["read_timeout"]:
            self.fail(f"{key}.connection.operation_timeout",
                      f"operation_timeout ({values['operation_timeout']}) must be below read_timeout "
                      f"({values['read_timeout']})", "lower operation_timeout or raise read_timeout")
        remote = not is_loopback(host)
        if remote and auth == "basic" and values["ssl"] and values["cert_validation"] is False:
            self.fail(f"{key}.connection.cert_validation",
                      f"basic auth with cert_validation: false would hand the password for '{host}' to any "
                      "server that answers (the certificate is not checked)",
                      "set cert_validation to the PEM CA bundle of the WinRM certificate, or use auth: "
                      "negotiate")
        if remote and not values["ssl"] and values["message_encryption"] == "never":
            self.fail(f"{key}.connection.message_encryption",
                      f"message_encryption: never over plain HTTP to '{host}' sends every probe's output "
                      "(and with basic auth the password) across the network in clear",
                      "use message_encryption: auto (or ssl: true)")
        if remote and values["ssl"] and values["cert_validation"] is False:
            self.warn(f"{key}.connection.cert_validation",
                      f"cert_validation: false for '{host}': the TLS certificate is not checked, so a "
                      "machine in the middle could pose as this server",
                      "set cert_validation to the PEM CA bundle that issued the WinRM certificate")
        if auth == "basic" and not values["ssl"]:
            self.fail(f"{key}.connection.auth", "basic auth over plain HTTP would send the password in clear",
                      "use ssl: true, or auth: negotiate")
        return ConnectionSettings(**values)

    def kerberos(self, values: dict[str, Any], host: str, key: str) -> None:
        """The Kerberos keys: only where Kerberos can be used, a principal it can use, one krb5.conf."""
        auth, user = values["auth"], values.get("username") or ""
        given = [k for k in ("realm", "krb5_config", "keytab", "spn_host", "spn_service") if values.get(k)]
        if given and auth not in ("kerberos", "negotiate"):
            self.fail(f"{key}.connection.{given[0]}", f"{given[0]} is a Kerberos setting but auth is {auth}",
                      "use auth: kerberos (or negotiate), or remove the key")
        if values.get("keytab"):
            if auth != "kerberos":
                self.fail(f"{key}.connection.keytab", "a keytab is used by auth: kerberos only",
                          "set auth: kerberos")
            if values.get("password") is not None:
                self.fail(f"{key}.connection.keytab", f"both a keytab and a password source for '{host}'",
                          "keep one: the keytab or password_env/password_file")
            if not user:
                self.fail(f"{key}.connection.username", "a keytab needs the principal to take from it",
                          "set connection.username (svc-audit@CONTOSO.COM, or svc-audit with realm)")
        if auth == "kerberos" and "\\" in user:
            self.fail(f"{key}.connection.username",
                      f"'{user}' is a DOMAIN\\user name; Kerberos needs a principal",
                      "write user@REALM (e.g. svc-audit@CONTOSO.COM), or the bare name with connection.realm")
        if auth == "kerberos" and values.get("password") is not None and not user:
            self.fail(f"{key}.connection.username", f"a password for '{host}' but no username to get a "
                      "ticket for", "set connection.username (user@REALM)")
        conf = values.get("krb5_config")
        if conf:
            first = self.krb5_configs.setdefault(conf, key)
            if len(self.krb5_configs) > 1:
                self.fail(f"{key}.connection.krb5_config", f"a second krb5_config (the first is at {first}"
                          "): MIT Kerberos reads one per process", "use one krb5.conf with every realm in it")

    def thresholds(self, value: Any, key: str) -> dict[str, Any]:
        """Every threshold typed and ranged here, at load, so a bad value is one line naming its key instead
        of a check's error later (see ``_THRESHOLD_KINDS`` for what each key accepts)."""
        block = self.mapping(value, key, set(DEFAULT_THRESHOLDS), what="a mapping of threshold: value")
        for name, item in block.items():
            here, default = f"{key}.{name}", DEFAULT_THRESHOLDS[name]
            kind = _THRESHOLD_KINDS.get(name, "whole")
            if kind == "bool":
                if not isinstance(item, bool):
                    self.fail(here, f"expected true or false, got {_kind(item)}",
                              f"write true or false (default {str(default).lower()})")
            elif kind == "version":
                if not isinstance(item, str) or parse_version(item) is None:
                    self.fail(here, f"expected a version such as 2.5.79.0, got {_kind(item)}",
                              f"write four dotted numbers in quotes (default '{default}')")
            elif item is None and kind == "minutes-or-null":
                continue
            elif isinstance(item, bool) or not isinstance(item, int | float):
                self.fail(here, f"expected a number, got {_kind(item)}",
                          f"write a number (default {default})")
            elif not math.isfinite(item) or item > _THRESHOLD_MAX:
                self.fail(here, f"{_kind(item)} is out of range",
                          f"use a finite number up to {_THRESHOLD_MAX:g} (default {default})")
            elif kind == "whole" and (item < 0 or int(item) != item):
                self.fail(here, f"expected a whole number >= 0, got {_kind(item)}",
                          f"write a whole number (default {default})")
            elif kind != "whole" and item <= 0:
                nullable = " or null (computed by the check)" if kind == "minutes-or-null" else ""
                self.fail(here, f"expected a number > 0, got {_kind(item)}",
                          f"write a positive number{nullable} (default {default})")
        return dict(block)

    def drill(self, pair: dict[str, Any], key: str, default_block: dict[str, Any],
              default_windows: tuple[MaintenanceWindow, ...]) -> DrillSettings:
        """Merged drill settings: defaults < pair, key by key; a pair's window list replaces the default."""
        block = {**default_block, **parse_drill_block(pair.get("drill"), path=self.label, key=f"{key}.drill")}
        windows = default_windows
        if "maintenance_windows" in pair:
            windows = parse_maintenance_windows(pair["maintenance_windows"], path=self.label,
                                                key=f"{key}.maintenance_windows")
        return drill_settings(block, windows)

    def cloud(self, pair: dict[str, Any], key: str) -> CloudConfig | None:
        if "cloud" not in pair or pair["cloud"] is None:
            return None
        raw = pair["cloud"]
        if not isinstance(raw, Mapping):
            self.fail(f"{key}.cloud", f"expected a mapping, got {_kind(raw)}", "see inventory/example.yml")
        return parse_cloud_block(dict(raw), path=self.label, key=f"{key}.cloud", base_dir=self.base_dir)

    def directory(self, pair: dict[str, Any], key: str) -> DirectoryConfig | None:
        if pair.get("directory") is None:
            return None
        return parse_directory_block(pair["directory"], path=self.label, key=f"{key}.directory",
                                     base_dir=self.base_dir)


def _suggest(word: str, options: list[str]) -> str | None:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"text ('{value}')" if len(value) < 40 else "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__
