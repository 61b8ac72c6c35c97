"""Scenario files: the healthy pair plus only what differs, validated with one clear error.

A scenario is YAML (or a dict) with ``name``, ``description``, ``lab``, ``tenant`` and ``servers``. Each
server block is deep-merged onto that server's healthy default (``state.default_server_spec``): mappings
merge key by key, name-keyed collections (connectors, rules, partitions, pending exports) merge per name and
a ``null`` entry removes one, lists are replaced. The schema is documented in docs/scenarios.md.
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..errors import ScenarioError
from ..probes import DRILL_PROBES, PROBE_NAMES  # the lab shares only the probe names with the harness
from ..yamlload import load_yaml_file
from .state import (
    ALL_RIGHTS,
    DEFAULT_GLOBAL_SETTINGS,
    DEFAULT_SERVERS,
    EXPORT_COUNTERS,
    RUN_PROFILES,
    TENANT_SCHEDULER_FIELDS,
    TLS_VALUES,
    default_server_spec,
)
from .timefmt import resolve_time, utc_now

# Bounds a hostile or mistyped file meets at load, never later while serving (issue 12, finding 12).
MAX_SERVERS = 200  # 100 pairs: twice the largest load bench (50 pairs); automatic addresses stop at .255
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # the harness refuses earlier host dates as implausible
LATEST_AHEAD = timedelta(days=3650)  # dates a lab serves stay well inside datetime's range after arithmetic
_INT_LIMIT = 2**63  # PowerShell's Int64: the widest integer a probe can report
_NUMBER_LIMIT = 1e12  # seconds or counts beyond this are a typo (3e4 years)
_SERVER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")

# --- a tiny schema language ------------------------------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Leaf:
    """A scalar: ``kind`` is str, int, float (any number), bool, or "time"; ``choices`` restrict it."""

    kind: Any
    nullable: bool = False
    choices: tuple[str, ...] = ()
    lo: float | None = None  # inclusive bounds of a number
    hi: float | None = None


@dataclass(frozen=True)
class Obj:
    fields: dict[str, Any]
    open: bool = False  # open: any key of ``value`` kind (e.g. features)
    value: Any = None


@dataclass(frozen=True)
class ListOf:
    item: Any
    nullable: bool = False


@dataclass(frozen=True)
class Named:
    """A name-keyed collection: merged per name; ``null`` removes; new names start from ``template``."""

    item: Any
    template: dict[str, Any] = field(default_factory=dict)


def _s(nullable: bool = False) -> Leaf:
    return Leaf(str, nullable)


def _i(nullable: bool = False) -> Leaf:
    return Leaf(int, nullable)


def _n(nullable: bool = False) -> Leaf:
    return Leaf(float, nullable)


def _b(nullable: bool = False) -> Leaf:
    return Leaf(bool, nullable)


def _t(nullable: bool = False) -> Leaf:
    return Leaf("time", nullable)


def _r(kind: Any, lo: float, hi: float, nullable: bool = False) -> Leaf:
    """A number within [lo, hi]: what the lab can serve without overflowing or sleeping for ever."""
    return Leaf(kind, nullable, lo=lo, hi=hi)


_YEAR_S = 366 * 86400


_ACCOUNT = Obj(
    {
        "found": _b(),
        "distinguished_name": _s(True),
        "sid": _s(True),
        "enabled": _b(True),
        "locked_out": _b(True),
        "password_expired": _b(True),
        "password_never_expires": _b(True),
        "password_last_set": _t(True),
    }
)
_PARTITION = Obj(
    {"selected": _b(), "inclusions": ListOf(_s()), "exclusions": ListOf(_s()), "object_classes": ListOf(_s())}
)
_CONNECTOR = Obj(
    {
        "type": Leaf(str, choices=("AD", "Extensible2")),
        "identifier": _s(),
        "forest": _s(True),
        "account_user": _s(True),
        "account_domain": _s(True),
        "account": Obj(_ACCOUNT.fields),
        "rights": ListOf(Leaf(str, choices=tuple(ALL_RIGHTS))),
        "revoked_rights": ListOf(Leaf(str, choices=tuple(ALL_RIGHTS))),
        "permissions_error": _s(True),
        "permissions_error_kind": Leaf(str, nullable=True, choices=("double-hop",)),
        "domain_root": _s(True),
        "partitions": Named(
            _PARTITION, {"selected": True, "inclusions": [], "exclusions": [], "object_classes": []}
        ),
        "attribute_inclusions_hash": _s(True),
    }
)
_RULE = Obj(
    {
        "connector": _s(),
        "direction": Leaf(str, choices=("Inbound", "Outbound")),
        "precedence": _i(),
        "disabled": _b(),
        "immutable_tag": _s(True),
        "is_standard": _b(),
        "source_object_type": _s(True),
        "target_object_type": _s(True),
        "link_type": _s(True),
        "scope_hash": _s(True),
        "join_hash": _s(True),
        "flows_hash": _s(True),
        "enable_password_sync": _b(True),
        "soft_delete_expiry_interval_s": _r(float, 0, 100 * _YEAR_S, True),
        "version_agnostic_tag": _s(True),
        "tag_version": _s(True),
    }
)
_RUN = Obj(
    {
        "connector": _s(),
        "profile": Leaf(str, choices=RUN_PROFILES),
        "result": _s(),
        "start": _t(),
        "end": _t(True),
        "duration_s": _r(float, 0, _YEAR_S),
        "complete": _b(),
        "run_history_id": _s(),
    }
)
WSMAN_ACTIONS = ("Create", "Receive", "Command", "Send", "Signal", "Delete", "Get", "Enumerate", "*")
_ACTION = Leaf(str, choices=WSMAN_ACTIONS)
_FAULTS = Obj(
    {
        "down": _b(),
        "stall": ListOf(_ACTION),
        "latency_ms": _r(int, 0, 60_000),  # the lab sleeps this long per request
        "http500": ListOf(_ACTION),
        "drop": ListOf(_ACTION),
        "auth_fail": _b(),
        "adsync_stopped": _b(),
        "malformed_output": ListOf(Leaf(str, choices=PROBE_NAMES + DRILL_PROBES)),
        "cycle_never_ends": _b(),
        "export_result": _s(True),
        "ad_unreachable": _b(),
        "password_services_down": _b(),
    }
)

SERVER_SCHEMA = Obj(
    {
        "role": Leaf(str, choices=("active", "standby")),
        "address": _s(),
        "computer_name": _s(),
        "utc_offset_minutes": _r(int, -14 * 60, 14 * 60),  # UTC-12..UTC+14, with room
        "domain": _s(True),
        "version": _s(),
        "display_version": _s(True),
        "install_path": _s(True),
        "staging": _b(),
        "server_configuration_version": _s(True),
        "scheduler": Obj(
            {
                "allowed_interval_s": _r(float, 0, _YEAR_S),
                "customized_interval_s": _r(float, 0, _YEAR_S, True),
                "next_policy_type": Leaf(str, choices=("Delta", "Initial")),
                "next_start": _t(True),
                "purge_interval_s": _r(float, 0, 10 * _YEAR_S),
                "sync_cycle_enabled": _b(),
                "maintenance_enabled": _b(),
                "scheduler_suspended": _b(),
            }
        ),  # the tenant-wide keys must agree on every server (better: set them under tenant.scheduler)
        "service": Obj(
            {
                "name": _s(),
                "exists": _b(),
                "status": _s(True),
                "start_mode": _s(True),
                "delayed_auto_start": _b(True),
                "account": _s(True),
            }
        ),
        "tls": Obj({key: _i(True) for key in TLS_VALUES}),
        "dotnet_release": _r(int, 0, 99_999_999, True),
        "os": Obj(
            {
                "caption": _s(),
                "build": _r(int, 0, 999_999),
                "ubr": _r(int, 0, 999_999),
                "display_version": _s(True),
                "installation_type": _s(True),
                "last_boot": _t(True),
                "updates": ListOf(
                    Obj(
                        {"date": _t(), "title": _s(), "operation": _i(), "result_code": _i(), "hresult": _i()}
                    )
                ),
                "update_history_error": _s(True),
                "hotfixes": ListOf(Obj({"id": _s(), "installed_on": _t(True)})),
                "reboot": Obj(
                    {
                        k: _b()
                        for k in (
                            "cbs_reboot_pending",
                            "cbs_reboot_in_progress",
                            "cbs_packages_pending",
                            "wu_reboot_required",
                            "pending_file_rename",
                            "computer_rename_pending",
                            "netlogon_pending",
                            "update_exe_volatile",
                        )
                    }
                ),
            }
        ),
        "connectors": Named(
            _CONNECTOR,
            {
                "forest": None,
                "account_user": None,
                "account_domain": None,
                "account": None,
                "rights": [],
                "permissions_error": None,
                "permissions_error_kind": None,
                "domain_root": None,
                "partitions": {},
                "attribute_inclusions_hash": None,
            },
        ),
        "rules": Named(
            _RULE,
            {
                "disabled": False,
                "immutable_tag": None,
                "is_standard": False,
                "source_object_type": "user",
                "target_object_type": "person",
                "link_type": "Join",
                "scope_hash": None,
                "join_hash": None,
                "flows_hash": None,
                "enable_password_sync": None,
                "soft_delete_expiry_interval_s": None,
                "version_agnostic_tag": None,
                "tag_version": None,
            },
        ),
        "features": Obj({}, open=True, value=_b(True)),  # null: the read failed (name it in feature_errors)
        "feature_errors": Obj({}, open=True, value=_s()),
        "company_features": Obj({"password_hash_sync": _b(True), "password_writeback": _b(True)}),
        "global_settings": Obj({name: _s(True) for name in DEFAULT_GLOBAL_SETTINGS}),
        "source_anchor": _s(True),
        "deletion_threshold": Obj(
            {"enabled": _b(True), "threshold": _r(int, 0, 10**9, True), "percentage": _r(int, 0, 100, True)}
        ),
        "pending_exports": Named(
            Obj({k: _r(int, 0, 10**9) for k in ("adds", "updates", "deletes")}),
            {"adds": 0, "updates": 0, "deletes": 0},
        ),
        "sync_machine_identifier": _s(True),
        "auto_upgrade_suspension_reason": _s(True),
        # Get-ADSyncEntraConnectorCredential as probes/connectors.ps1 reports it (null type: cmdlet fails)
        "entra_identity": Obj(
            {"identity_type": Leaf(str, True, choices=("Application", "ServiceAccount")),
             "application_id": _s(True), "certificate_thumbprint": _s(True),
             "certificate_not_after": _t(True)}
        ),
        # Get-ADSyncSchedulerConnectorOverride per connector name, as probes/scheduler.ps1 reports it
        "connector_overrides": Named(
            Obj({"full_import_required": _b(), "full_sync_required": _b()}),
            {"full_import_required": False, "full_sync_required": False},
        ),
        # PHS and writeback evidence at lab start as probes/password-sync.ps1 reports it (times; null = never)
        "password_evidence": Obj(
            {
                "phs_last_success": _t(True),
                "phs_last_status": _s(True),
                "phs_heartbeat": _t(True),
                "writeback_started": _t(True),
                "writeback_stopped": _t(True),
                "writeback_heartbeat": _t(True),
                "writeback_error": _t(True),
            }
        ),
        # the Connect Health sync agent's services as probes/machine.ps1 reports them
        "health_agent": ListOf(
            Obj({"name": _s(), "exists": _b(), "state": _s(True), "start_mode": _s(True),
                 "version": _s(True)})
        ),
        # ADSync\Parameters and the LocalDB data file as probes/version.ps1 reports them
        "database": Obj(
            {"server": _s(True), "sql_instance": _s(True), "db_name": _s(True), "data_file_bytes": _i(True)}
        ),
        # machine.config <defaultProxy> and the WinHTTP proxy as probes/machine.ps1 reports them
        "proxy": Obj(
            {
                "default_proxy_found": _b(),
                "default_proxy_enabled": _s(True),
                "proxy_address": _s(True),
                "use_system_default": _s(True),
                "bypass_on_local": _s(True),
                "bypass_list": ListOf(_s()),
                "winhttp_proxy": _s(True),
                "winhttp_bypass": _s(True),
            }
        ),
        "adsynctools_versions": ListOf(_s()),
        "audit_account": Obj(
            {
                "identity": _s(),
                "groups": ListOf(_s()),
                "elevated": _b(True),
                "language_mode": Leaf(str, choices=("FullLanguage", "ConstrainedLanguage")),
            }
        ),
        "run_history": Obj(
            {
                "last_cycle": _t(),
                "cycles": _r(int, 0, 1000),  # each cycle is generated as run-history rows
                "step_seconds": _r(float, 0, 86400),
                "runs": ListOf(_RUN, True),
                "results": Obj({}, open=True, value=_s()),
                "results_since": _t(True),
                # connector -> the step counters of its newest Export (MIIS <export-counters>)
                "export_counters": Obj({}, open=True, value=Obj({k: _i() for k in EXPORT_COUNTERS})),
            }
        ),
        "faults": _FAULTS,
        "ps51_unrolling": _b(True),  # null: the lab-wide setting
    }
)

LAB_SCHEMA = Obj(
    {
        "cycle_duration_s": _r(float, 0, 3600),
        "allow_basic_over_http": _b(),
        "username": _s(),
        "domain": _s(),
        "ps51_unrolling": _b(),
        "auto_cycle_interval_s": _r(float, 0.05, 86400, True),
    }
)
_TENANT_SCHEDULER = Obj(
    {
        "allowed_interval_s": _r(float, 0, _YEAR_S),
        "customized_interval_s": _r(float, 0, _YEAR_S, True),
        "next_policy_type": Leaf(str, choices=("Delta", "Initial")),
        "purge_interval_s": _r(float, 0, 10 * _YEAR_S),
        "sync_cycle_enabled": _b(),
        "maintenance_enabled": _b(),
    }
)
TENANT_SCHEMA = Obj(
    {
        "tenant_id": _s(),
        "domain": _s(),
        "display_name": _s(),
        "sync_enabled": _b(True),
        "last_sync": _t(True),
        "last_password_sync": _t(True),
        "canary_user": _s(True),
        "canary_attributes": Obj({}, open=True, value=_s(True)),
        "client_id": _s(),
        "scheduler": _TENANT_SCHEDULER,
    }
)
TOP_KEYS = ("name", "description", "lab", "tenant", "servers")

DEFAULT_FAULTS: dict[str, Any] = {
    "down": False,
    "stall": [],
    "latency_ms": 0,
    "http500": [],
    "drop": [],
    "auth_fail": False,
    "adsync_stopped": False,
    "malformed_output": [],
    "cycle_never_ends": False,
    "export_result": None,
    "ad_unreachable": False,
    "password_services_down": False,
}
DEFAULT_LAB: dict[str, Any] = {
    "cycle_duration_s": 2.0,
    "allow_basic_over_http": False,
    "username": "auditor",
    "domain": "LAB",
    "ps51_unrolling": False,
    "auto_cycle_interval_s": None,  # None: no automatic cycles (tests start them)
}
DEFAULT_TENANT: dict[str, Any] = {
    "tenant_id": "7d3f5a1e-2c4b-4e8f-9a6d-1b2c3d4e5f60",
    "domain": "contoso.onmicrosoft.com",
    "display_name": "Contoso Lab",
    "sync_enabled": True,
    "last_sync": "-10m",
    "last_password_sync": "-2m",
    "canary_user": "canary@contoso.com",
    "canary_attributes": {"extensionAttribute1": None},
    "client_id": "3f1c2b7a-8e9d-4c5b-a6f7-0e1d2c3b4a59",
    "scheduler": {},  # tenant-wide scheduler settings: {} = the healthy defaults of every server
}


def _did_you_mean(key: str, options: list[str]) -> str:
    close = difflib.get_close_matches(key, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(sorted(options))})"


def _type_name(kind: Any) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        "time": "a time (now, -25m, +10m, -3d or ISO 8601)",
    }[kind]


def _check_leaf(spec: Leaf, value: Any, key: str) -> Any:
    if value is None:
        if spec.nullable:
            return None
        raise _Invalid(key, f"must be {_type_name(spec.kind)}, not null")
    kind = spec.kind
    ok = (
        isinstance(value, bool)
        if kind is bool
        else isinstance(value, int) and not isinstance(value, bool)
        if kind is int
        else isinstance(value, int | float) and not isinstance(value, bool)
        if kind is float
        else isinstance(value, str | datetime)
        if kind == "time"
        else isinstance(value, str)
    )
    if not ok:
        raise _Invalid(key, f"must be {_type_name(kind)}, not {type(value).__name__} {_shown(value)}")
    if kind is int or kind is float:
        _check_number(spec, value, key)
    if kind == "time":
        _check_time(value, key)
    if spec.choices and value not in spec.choices:
        raise _Invalid(
            key,
            f"'{value}' is not one of {', '.join(spec.choices)}"
            + _did_you_mean(str(value), list(spec.choices)).replace(" (known keys:", " (choices:"),
        )
    return value


def _shown(value: Any) -> str:
    """A rejected value, short: never a whole hostile list, never a 5,000-digit integer."""
    try:
        text = repr(value)
    except ValueError:  # int -> str refuses more than 4,300 digits
        return "(an integer of thousands of digits)"
    return text if len(text) <= 80 else text[:77] + "..."


def _check_number(spec: Leaf, value: float, key: str) -> None:
    # An int is compared as an int: math.isfinite(10**400) raises OverflowError.
    if abs(value) >= _INT_LIMIT if isinstance(value, int) else not abs(value) < _NUMBER_LIMIT:
        raise _Invalid(key, f"{_shown(value)} is out of range")
    lo = -math.inf if spec.lo is None else spec.lo
    hi = math.inf if spec.hi is None else spec.hi
    if not lo <= value <= hi:
        raise _Invalid(key, f"{value!r} is out of range: give a number from {lo:g} to {hi:g}")


def _check_time(value: str | datetime, key: str) -> None:
    now = utc_now()
    try:
        when = resolve_time(value, now)
    except (ValueError, OverflowError) as error:
        detail = str(error) if isinstance(error, ValueError) else f"'{value}' is out of range"
        raise _Invalid(key, detail[:200]) from None
    if when is None or not EARLIEST <= when <= now + LATEST_AHEAD:
        raise _Invalid(key, f"'{value}' is out of range: give a time between {EARLIEST:%Y-%m-%d} and "
                            f"{LATEST_AHEAD.days // 365} years from now")


def merge(schema: Any, base: Any, override: Any, key: str) -> Any:
    """Validate ``override`` against ``schema`` and deep-merge it onto ``base`` (which is left untouched)."""
    if isinstance(schema, Leaf):
        return _check_leaf(schema, override, key)
    if isinstance(schema, ListOf):
        if override is None and schema.nullable:
            return None
        if not isinstance(override, list):
            raise _Invalid(key, f"must be a list, not {type(override).__name__}")
        return [
            merge(schema.item, {} if isinstance(schema.item, Obj) else None, item, f"{key}[{i}]")
            for i, item in enumerate(override)
        ]
    if not isinstance(override, dict):
        raise _Invalid(key, f"must be a mapping, not {type(override).__name__} {override!r}")
    result = copy.deepcopy(base) if isinstance(base, dict) else {}
    for name, value in override.items():
        sub = f"{key}.{name}" if key else str(name)
        if not isinstance(name, str):
            raise _Invalid(sub, "keys must be strings")
        if isinstance(schema, Named):
            if value is None:
                result.pop(name, None)
                continue
            start = result.get(name, schema.template)
            result[name] = merge(schema.item, start, value, sub)
        elif isinstance(schema, Obj):
            if name in schema.fields:
                result[name] = merge(schema.fields[name], result.get(name), value, sub)
            elif schema.open:
                result[name] = merge(schema.value, None, value, sub)
            else:
                raise _Invalid(sub, "unknown key" + _did_you_mean(name, list(schema.fields)))
    if isinstance(schema, Named):
        item = schema.item
        for name, value in result.items():
            missing = [f for f in item.fields if f not in value and f not in ("revoked_rights",)]
            if isinstance(item, Obj) and missing and not item.open:
                raise _Invalid(f"{key}.{name}", f"missing key(s): {', '.join(missing)}")
    return result


def _check_feature_errors(spec: dict[str, Any], key: str) -> None:
    """A feature the probe could not read is null *with* its error, and only then: the probe never says one
    without the other (config.ps1 records both together)."""
    features, errors = spec["features"], spec["feature_errors"]
    for name, value in features.items():
        if value is None and name not in errors:
            raise _Invalid(f"{key}.features.{name}", f"is null (the read failed): give the error text in "
                                                     f"{key}.feature_errors.{name}")
    for name in errors:
        if name != "company_features" and features.get(name) is not None:
            raise _Invalid(f"{key}.feature_errors.{name}",
                           f"features.{name} is {features.get(name)}, not null: a feature read either fails "
                           "or gives a value")


# --- the scenario ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: every server's full spec (defaults merged), lab and tenant settings."""

    name: str
    description: str
    source: str  # file path, or "<dict>"
    lab: dict[str, Any]
    tenant: dict[str, Any]
    servers: dict[str, dict[str, Any]]  # name -> full server spec incl. "faults"
    start: datetime


def load_scenario(source: str | Path | dict[str, Any], *, start: datetime | None = None) -> Scenario:
    """Load a scenario file (or dict) and merge it onto the healthy pair. Raises ``ScenarioError``."""
    start = start or utc_now()
    if isinstance(source, dict):
        where, raw = "<dict>", source
        default_name = "lab"
    else:
        path = Path(source)
        where, default_name = str(path), path.stem
        if not path.exists() and not path.is_symlink():
            raise ScenarioError("file not found", path=where)
        raw = load_yaml_file(path, label=where, error=ScenarioError)
        if raw is None:
            raw = {}
    if not isinstance(raw, dict):
        raise ScenarioError(f"must be a mapping, not {type(raw).__name__}", path=where)
    try:
        return _build(raw, where, default_name, start)
    except _Invalid as invalid:
        raise ScenarioError(str(invalid), path=where, key=invalid.key) from None
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:
        # A value of a shape the schema did not foresee: still one line naming the file, never a traceback.
        detail = " ".join(str(exc).split())[:160]
        raise ScenarioError(f"a value has a shape the lab cannot use ({type(exc).__name__}: {detail})",
                            path=where, fix="compare the file with docs/scenarios.md") from None


def _build(raw: dict[str, Any], where: str, default_name: str, start: datetime) -> Scenario:
    for key in raw:
        if key not in TOP_KEYS:
            raise _Invalid(str(key), "unknown key" + _did_you_mean(str(key), list(TOP_KEYS)))
    name = _check_leaf(Leaf(str), raw.get("name", default_name), "name")
    description = _check_leaf(Leaf(str), raw.get("description", ""), "description")
    lab = merge(LAB_SCHEMA, DEFAULT_LAB, raw.get("lab") or {}, "lab")
    tenant = merge(TENANT_SCHEMA, DEFAULT_TENANT, raw.get("tenant") or {}, "tenant")
    servers_raw = raw.get("servers") or {}
    if not isinstance(servers_raw, dict):
        raise _Invalid(
            "servers", f"must be a mapping of server name -> settings, not {type(servers_raw).__name__}"
        )
    names = list(DEFAULT_SERVERS) + [n for n in servers_raw if n not in DEFAULT_SERVERS]
    if len(names) > MAX_SERVERS:
        raise _Invalid("servers", f"{len(names)} servers: the lab serves at most {MAX_SERVERS} "
                                  f"({MAX_SERVERS // 2} pairs) from one scenario; split it into several labs")
    for server in names:
        if not _SERVER_NAME.fullmatch(server):
            raise _Invalid(f"servers.{server[:40]!r}", "a server name is 1-63 letters, digits, '-', '_' "
                                                       "or '.', starting with a letter or digit")
    servers: dict[str, dict[str, Any]] = {}
    for index, server in enumerate(names):
        override = servers_raw.get(server) or {}  # a bare "aadc02:" keeps the healthy default
        if not isinstance(override, dict):
            raise _Invalid(f"servers.{server}", f"must be a mapping, not {type(override).__name__}")
        role, address = DEFAULT_SERVERS.get(
            server, (str(override.get("role", "standby")), f"127.0.0.{11 + index}")
        )
        base = default_server_spec(server, role, address, start)
        base["scheduler"].update(tenant["scheduler"])  # the tenant's settings are every server's base
        base["faults"] = copy.deepcopy(DEFAULT_FAULTS)
        base["ps51_unrolling"] = None
        servers[server] = merge(SERVER_SCHEMA, base, override, f"servers.{server}")
        _check_address(servers[server]["address"], f"servers.{server}.address")
        if servers[server]["ps51_unrolling"] is None:
            servers[server]["ps51_unrolling"] = bool(lab["ps51_unrolling"])
        _check_feature_errors(servers[server], f"servers.{server}")
        for connector in servers[server]["connectors"].values():
            revoked = connector.pop("revoked_rights", [])
            connector["rights"] = [r for r in connector.get("rights", []) if r not in revoked]
    _check_tenant_scheduler(servers_raw, servers)
    tenant["scheduler"] = {k: next(iter(servers.values()))["scheduler"][k] for k in TENANT_SCHEDULER_FIELDS}
    addresses = [s["address"] for s in servers.values()]
    duplicates = sorted({a for a in addresses if addresses.count(a) > 1})
    if duplicates:
        raise _Invalid("servers", f"two servers share address {duplicates[0]}; give each its own 127.0.0.x")
    return Scenario(
        name=name, description=description, source=where, lab=lab, tenant=tenant, servers=servers, start=start
    )


def _check_address(value: str, key: str) -> None:
    """The lab binds each server to its own loopback address: a literal in 127.0.0.0/8, never a name (a name
    would be resolved, and could leave the machine)."""
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise _Invalid(key, f"{value[:60]!r} is not an IPv4 address: give a literal 127.0.0.x "
                            "(names such as localhost are not resolved)") from None
    if not address.is_loopback:
        raise _Invalid(key, f"{value} is not a loopback address: the lab never listens on a network "
                            "(give an address in 127.0.0.0/8)")


def _check_tenant_scheduler(raw: dict[str, Any], servers: dict[str, dict[str, Any]]) -> None:
    """Scheduler settings are stored in the tenant and shared by the pair ([SCHED]: "any change on the
    primary server also affects the staging server (except IsStagingModeEnabled)"): they cannot differ."""
    for key in TENANT_SCHEDULER_FIELDS:
        values = {name: spec["scheduler"][key] for name, spec in servers.items()}
        if len(set(values.values())) <= 1:
            continue
        named = next((n for n, o in raw.items() if isinstance(o, dict)
                      and key in (o.get("scheduler") or {})), next(iter(servers)))
        shown = ", ".join(f"{name}: {json.dumps(v)}" for name, v in values.items())
        raise _Invalid(f"servers.{named}.scheduler.{key}",
                       f"is a tenant-wide scheduler setting shared by the pair, but differs ({shown}); set "
                       f"it once under tenant.scheduler.{key}, or the same on every server")
