"""Probe JSON -> typed facts, and facts <-> plain data for evidence.

``parse_probe_output`` checks the envelope of docs/contracts.md section 1, then builds the domain's dataclass
from ``data`` with one generic, type-hint-driven builder. Anything that does not fit (wrong type, missing
field, absurd value) raises ``ProbeError`` naming the host, the probe and the field path
(e.g. ``connectors[0].account.enabled``), so one misbehaving host yields one clear line and nothing else.

Rules of the builder:

* every field must be present, except those whose default is ``None`` (omitting them can only mean
  "unknown"; a field defaulting to ``False`` or ``()`` would otherwise assert a value nobody reported);
  unknown keys are ignored, so a newer probe can add fields;
* ``bool`` is never an ``int``; an ``int`` is accepted where a ``float`` is expected;
* datetimes are ISO 8601 (up to seven fractional digits, ``Z`` or an offset; no offset = UTC) or
  PowerShell 5.1's ``/Date(ms)/``; they come back timezone-aware in UTC;
* GUID fields are normalised to lower case without braces;
* a list field also takes the two shapes Windows PowerShell 5.1 makes of an unrolled collection: a single
  element on its own (one-element list) and ``null`` (empty list); see ``_build_tuple``;
* numbers are non-negative unless the field is signed by nature (HRESULTs, raw registry values);
  dates lie between 2000 and one day after ``now`` (a scheduler's next start: 31 days).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

from ..errors import ProbeError
from .model import (
    FACT_TYPES,
    Ace,
    CloudFacts,
    Connector,
    ConnectorConfig,
    EntraIdentityFacts,
    MachineFacts,
    OsFacts,
    RegistryValue,
    RunRecord,
    SchedulerFacts,
    UpdateEntry,
)

__all__ = [
    "DOMAIN_TYPES",
    "ProbeFailedError",
    "fact_from_data",
    "fact_to_data",
    "format_datetime",
    "parse_action_output",
    "parse_datetime",
    "parse_probe_output",
]

DOMAIN_TYPES: dict[str, type] = {**FACT_TYPES, "cloud": CloudFacts}
"""Every fact domain, host domains and ``cloud``, to its dataclass."""

ERROR_KINDS = ("CommandNotFound", "AccessDenied", "NotInstalled", "Failed", "ConstrainedLanguage",
               "Busy", "Suspended", "Conflict")  # the last three: actions only (docs/contracts.md section 2)

_FIXES = {
    "CommandNotFound": "run it on the Entra Connect server itself and check that the ADSync module (and, for "
                       "'connectors', RSAT ActiveDirectory) is installed",
    "AccessDenied": "make the remote account a member of ADSyncAdmins and of the local Administrators group "
                    "(the audit-access check names what this account lacks; docs/real-server.md)",
    "ConstrainedLanguage": "the remote endpoint runs PowerShell in ConstrainedLanguage (WDAC/AppLocker): "
                           "let the audit account use an endpoint in FullLanguage (docs/real-server.md)",
    "NotInstalled": "check that Entra Connect Sync is installed on this host, or fix the inventory",
    "Busy": "wait until no sync cycle runs (Get-ADSyncConnectorRunStatus is empty), then try again",
    "Suspended": "close the Entra Connect wizard (or let the upgrade finish) on this server, then try again",
    "Conflict": "someone else changed the global settings meanwhile: re-read both servers before going on",
}
_MALFORMED_FIX = "the probe answer does not follow docs/contracts.md; keep the evidence and report it"


class ProbeFailedError(ProbeError):
    """The probe ran and reported ``ok: false``.

    ``error_kind`` is the envelope's ``error.kind``; ``kind`` stays "probe" like every ``ProbeError``.
    """

    def __init__(self, host: str, probe: str, error_kind: str, message: str) -> None:
        self.error_kind = error_kind
        super().__init__(host, probe, f"{error_kind}: {message}", fix=_FIXES.get(error_kind))


class _Invalid(Exception):
    """Internal: a value that does not fit, with the path where it sits."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(message)


# --- public API ------------------------------------------------------------------------------------------


def parse_probe_output(host: str, probe: str, raw: object, *, now: datetime | None = None) -> Any:
    """The typed fact (an instance of ``FACT_TYPES[probe]``) from one probe's raw output string.

    ``now`` is the reference time for "a date in the future" (default: the current time).
    """
    if probe == "password-sync":  # its fact lives in facts/password_sync.py (the drill reads it on its own)
        from .password_sync import parse_password_sync_output

        return parse_password_sync_output(host, raw, now=now)
    if probe not in FACT_TYPES:
        raise ProbeError(host, probe, f"unknown probe; expected one of {', '.join(FACT_TYPES)}")
    data = _open_envelope(host, "probe", probe, raw)
    return _build_domain(host, probe, FACT_TYPES[probe], data, now or datetime.now(UTC), check_future=True)


def parse_action_output(host: str, action: str, raw: object, *,
                        now: datetime | None = None) -> SchedulerFacts:
    """The scheduler state an action returns (docs/contracts.md section 2); errors name the action."""
    data = _open_envelope(host, "action", action, raw)
    fact: SchedulerFacts = _build_domain(host, action, SchedulerFacts, data, now or datetime.now(UTC),
                                         check_future=True)
    return fact


def fact_to_data(fact: object) -> dict[str, Any]:
    """Plain JSON-ready data of a fact (the probe's ``data`` shape); ``fact_from_data`` inverts it."""
    if not dataclasses.is_dataclass(fact) or isinstance(fact, type):
        raise TypeError(f"not a fact: {type(fact).__name__}")
    result = _to_data(fact)
    assert isinstance(result, dict)
    return result


def fact_from_data(domain: str, data: object, *, host: str = "evidence", now: datetime | None = None) -> Any:
    """The fact of ``domain`` (a probe name or ``cloud``) from plain data, e.g. a saved evidence file.

    Dates are checked against ``now`` only when it is given: replayed evidence is old by design.
    """
    if domain not in DOMAIN_TYPES:
        raise ProbeError(host, domain, f"unknown fact domain; expected one of {', '.join(DOMAIN_TYPES)}")
    if not isinstance(data, Mapping):
        raise ProbeError(host, domain, f"expected an object, got {_describe(data)}", fix=_MALFORMED_FIX)
    return _build_domain(host, domain, DOMAIN_TYPES[domain], data, now or datetime.now(UTC),
                         check_future=now is not None)


def format_datetime(value: datetime) -> str:
    """PowerShell's ``ToUniversalTime().ToString('o')``: seven fractional digits and ``Z``."""
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s*(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
_MS_DATE = re.compile(r"^\\?/Date\((-?\d+)([+-]\d{4})?\)\\?/$")


def parse_datetime(text: str) -> datetime:
    """ISO 8601 (up to 7 fractional digits, ``Z``/offset/none = UTC) or ``/Date(ms)/`` -> aware UTC datetime.

    Raises ``ValueError`` for anything else.
    """
    value = text.strip()
    ms = _MS_DATE.match(value)
    if ms:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(ms.group(1)))
    m = _ISO.match(value)
    if not m:
        raise ValueError(f"not an ISO 8601 date: {value[:40]!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    zone = m.group(8)
    tz: timezone = UTC
    if zone and zone.upper() != "Z":
        digits = zone.replace(":", "")
        offset = timedelta(hours=int(digits[1:3]), minutes=int(digits[3:5]))
        tz = timezone(-offset if digits[0] == "-" else offset)
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz).astimezone(UTC)


# --- envelope --------------------------------------------------------------------------------------------


def _open_envelope(host: str, kind: str, name: str, raw: object) -> Mapping[str, Any]:
    def bad(message: str, field: str | None = None) -> ProbeError:
        return ProbeError(host, name, message, field=field, fix=_MALFORMED_FIX)

    if not isinstance(raw, str):
        raise bad(f"expected one JSON string as output, got {_describe(raw)}")
    try:
        doc = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:
        raise bad(f"output is not JSON ({exc}): {raw.strip()[:60]!r}") from None
    if not isinstance(doc, dict):
        raise bad(f"expected a JSON object, got {_describe(doc)}")
    if doc.get(kind) != name:
        raise bad(f"envelope names {kind} {doc.get(kind)!r}, expected {name!r}", kind)
    if doc.get("schema") != 1 or isinstance(doc.get("schema"), bool):
        raise bad(f"unsupported schema {doc.get('schema')!r}, expected 1", "schema")
    ok = doc.get("ok")
    if not isinstance(ok, bool):
        raise bad(f"'ok' must be true or false, got {_describe(ok)}", "ok")
    if not ok:
        error = doc.get("error")
        if not isinstance(error, dict):
            raise bad(f"ok is false but 'error' is {_describe(error)}", "error")
        error_kind = error.get("kind")
        message = error.get("message")
        if error_kind not in ERROR_KINDS:
            raise bad(f"unknown error kind {error_kind!r}; expected one of {', '.join(ERROR_KINDS)}",
                      "error.kind")
        text = message.strip() if isinstance(message, str) and message.strip() else "(no message)"
        raise ProbeFailedError(host, name, str(error_kind), text)
    data = doc.get("data")
    if not isinstance(data, dict):
        raise bad(f"ok is true but 'data' is {_describe(data)}", "data")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# --- builder ---------------------------------------------------------------------------------------------


def _build_domain(host: str, domain: str, cls: type, data: Mapping[str, Any], now: datetime,
                  check_future: bool) -> Any:
    ctx = _Context(now=now, check_future=check_future)
    try:
        return _build_dataclass(cls, data, "", ctx)
    except _Invalid as exc:
        raise ProbeError(host, domain, str(exc), field=exc.path or None, fix=_MALFORMED_FIX) from None


@dataclasses.dataclass(frozen=True)
class _Context:
    now: datetime
    check_future: bool


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _build_dataclass(cls: type, value: object, path: str, ctx: _Context) -> Any:
    if not isinstance(value, Mapping):
        raise _Invalid(path, f"expected an object, got {_describe(value)}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in _fields(cls):
        where = _join(path, f.name)
        if f.name not in value:
            if f.default is None:
                kwargs[f.name] = None
                continue
            raise _Invalid(where, "missing field")
        built = _build(hints[f.name], value[f.name], where, ctx, (cls, f.name))
        check = _FIELD_CHECKS.get((cls, f.name))
        if check is not None and built is not None:
            problem = check(built)
            if problem:
                raise _Invalid(where, problem)
        kwargs[f.name] = built
    return cls(**kwargs)


@cache
def _shape(tp: Any) -> tuple[str, tuple[Any, ...]]:
    """What ``_build`` needs to know about a field type, worked out once per type: the model's few dozen
    types are met about a thousand times per host, and ``typing``'s introspection was a third of the
    client's CPU per host (issue 13)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        options = tuple(a for a in args if a is not type(None))
        return "union", (options, len(options) < len(args))
    if origin is tuple:
        return "tuple", args
    if origin is dict:
        return "dict", args
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return "dataclass", ()
    return "plain", ()


@cache
def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(cls)


def _build(tp: Any, value: object, path: str, ctx: _Context, owner: tuple[type, str]) -> Any:
    kind, args = _shape(tp)
    if kind == "union":
        options, nullable = args
        if value is None:
            if nullable:
                return None
            raise _Invalid(path, "must not be null")
        if len(options) != 1:
            raise _Invalid(path, f"unsupported union type {tp}")  # the model has none
        return _build(options[0], value, path, ctx, owner)
    if kind == "tuple":
        return _build_tuple(tp, value, path, ctx, owner)  # before the null check: null is an empty list
    if value is None:
        raise _Invalid(path, "must not be null")
    if kind == "dict":
        key_type, item_type = args
        if key_type is not str:
            raise _Invalid(path, f"unsupported mapping type {tp}")
        if not isinstance(value, Mapping):
            raise _Invalid(path, f"expected an object, got {_describe(value)}")
        return {str(k): _build(item_type, v, _join(path, str(k)), ctx, owner) for k, v in value.items()}
    if kind == "dataclass":
        return _build_dataclass(tp, value, path, ctx)
    if tp is bool:
        if not isinstance(value, bool):
            raise _Invalid(path, f"expected true or false, got {_describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(path, f"expected an integer, got {_describe(value)}")
        _check_sign(value, path, owner)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid(path, f"expected a number, got {_describe(value)}")
        number = float(value)
        if not math.isfinite(number):
            raise _Invalid(path, f"expected a finite number, got {value!r}")
        _check_sign(number, path, owner)
        return number
    if tp is str:
        if not isinstance(value, str):
            raise _Invalid(path, f"expected a string, got {_describe(value)}")
        if owner in _GUID_FIELDS:
            return _guid(value, path, strict=owner != (CloudFacts, "tenant_id"))
        return value
    if tp is datetime:
        return _build_datetime(value, path, ctx, owner)
    raise _Invalid(path, f"unsupported field type {tp}")


def _build_tuple(tp: Any, value: object, path: str, ctx: _Context,
                 owner: tuple[type, str]) -> tuple[Any, ...]:
    args = _shape(tp)[1]
    if len(args) != 2 or args[1] is not Ellipsis:
        raise _Invalid(path, f"unsupported tuple type {tp}")
    # Windows PowerShell 5.1 unrolls collections: a function that returns an empty array returns $null and one
    # that returns a one-element array returns the element; so do pipelines and `if` expressions assigned to a
    # variable. A probe that misses one `@(...)` then writes `null` or the bare element where the contract has
    # a JSON array. Both shapes mean the same facts, so they are read as () and (element,); the element is
    # still checked like any list item (path `field[0]`), so wrong types and missing fields keep failing.
    if value is None:
        return ()
    if isinstance(value, str) and owner in _COMMA_LISTS:
        # ActiveDirectoryRights.ToString() is "ReadProperty, WriteProperty": accept the flag text as well.
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        value = [value]  # PS 5.1: a one-element array unrolled to its element
    return tuple(_build(args[0], item, f"{path}[{i}]", ctx, owner) for i, item in enumerate(value))


def _build_datetime(value: object, path: str, ctx: _Context, owner: tuple[type, str]) -> datetime:
    if not isinstance(value, str):
        raise _Invalid(path, f"expected an ISO 8601 date string, got {_describe(value)}")
    try:
        parsed = parse_datetime(value)
    except (ValueError, OverflowError) as exc:
        raise _Invalid(path, str(exc)) from None
    if parsed.year < 2000:
        raise _Invalid(path, f"implausible date {value!r} (before 2000)")
    if ctx.check_future:
        allowance = _FUTURE_ALLOWANCE.get(owner, timedelta(days=1))
        if parsed > ctx.now + allowance:
            raise _Invalid(path, f"implausible date {value!r} "
                                 f"(more than {allowance.days} day(s) in the future)")
    return parsed


def _check_sign(number: float, path: str, owner: tuple[type, str]) -> None:
    if number < 0 and owner not in _SIGNED_FIELDS:
        raise _Invalid(path, f"must not be negative, got {number:g}")


_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_GUID_N = re.compile(r"^[0-9a-f]{32}$")


def _guid(value: str, path: str, *, strict: bool) -> str:
    normal = value.strip().strip("{}").lower()
    if _GUID.match(normal):
        return normal
    if _GUID_N.match(normal):
        # The 'N' form (32 hex digits): Microsoft's own SyncMachineIdentifier fix writes
        # [Guid]::NewGuid().ToString("N"); read as the 'D' form so both servers compare alike.
        n = normal
        return f"{n[:8]}-{n[8:12]}-{n[12:16]}-{n[16:20]}-{n[20:]}"
    if strict:
        raise _Invalid(path, f"expected a GUID, got {value[:40]!r}")
    return value


# --- per-field knowledge ---------------------------------------------------------------------------------

_GUID_FIELDS: frozenset[tuple[type, str]] = frozenset({
    (RunRecord, "run_history_id"),
    (Connector, "identifier"),
    (ConnectorConfig, "identifier"),
    (Ace, "object_type"),
    (Ace, "inherited_object_type"),
    (MachineFacts, "sync_machine_identifier"),
    (CloudFacts, "tenant_id"),  # normalised when it is a GUID, kept otherwise
})

_SIGNED_FIELDS: frozenset[tuple[type, str]] = frozenset({
    (UpdateEntry, "hresult"),  # HRESULTs are negative on failure
    (RegistryValue, "value"),  # a DWORD 0xffffffff reads as -1
})

_COMMA_LISTS: frozenset[tuple[type, str]] = frozenset({(Ace, "rights")})

_FUTURE_ALLOWANCE: dict[tuple[type, str], timedelta] = {
    (SchedulerFacts, "next_start_utc"): timedelta(days=31),  # a customised interval can be long
    # A certificate's expiry lies ahead by nature (BYOC certificates may be valid for years).
    (EntraIdentityFacts, "certificate_not_after"): timedelta(days=100 * 366),
}


def _at_least(minimum: int, what: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return f"implausible {what} {value} (expected at least {minimum})" if value < minimum else None
    return check


def _one_of(allowed: frozenset[int], what: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return f"unknown {what} {value} (expected one of {sorted(allowed)})" if value not in allowed else None
    return check


def _non_empty(value: Any) -> str | None:
    return "must not be empty" if not str(value).strip() else None


_FIELD_CHECKS: dict[tuple[type, str], Callable[[Any], str | None]] = {
    (OsFacts, "build"): _at_least(6000, "Windows build"),
    (UpdateEntry, "operation"): _one_of(frozenset({1, 2}), "update operation"),
    (UpdateEntry, "result_code"): _one_of(frozenset({0, 1, 2, 3, 4, 5}), "update result code"),
    (MachineFacts, "computer_name"): _non_empty,
    (Connector, "name"): _non_empty,
    (RunRecord, "connector"): _non_empty,
}


# --- to data ---------------------------------------------------------------------------------------------


def _to_data(value: object) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, tuple | list):
        return [_to_data(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_data(v) for k, v in value.items()}
    return value


# --- small helpers ---------------------------------------------------------------------------------------


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {value[:40]!r}"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


_parse_datetime_full = parse_datetime
