"""Probe JSON -> typed facts, and facts <-> plain data for evidence.

``parse_probe_output`` checks the envelope of docs/contracts.md section 1, then builds the domain's dataclass
from ``data`` with a builder compiled once per dataclass from its type hints (``_compile_dataclass``).
Anything that does not fit (wrong type, missing field, absurd value) raises ``ProbeError`` naming the host,
the probe and the field path (e.g. ``connectors[0].account.enabled``), so one misbehaving host yields one
clear line and nothing else.

Rules of the builder:

* every field must be present, except those whose default is ``None`` (omitting them can only mean
  "unknown"; a field defaulting to ``False`` or ``()`` would otherwise assert a value nobody reported);
  unknown keys are ignored, so a newer probe can add fields;
* ``bool`` is never an ``int``; an ``int`` is accepted where a ``float`` is expected;
* datetimes are ISO 8601 (up to seven fractional digits, ``Z`` or an offset; no offset = UTC) or
  PowerShell 5.1's ``/Date(ms)/``; they come back timezone-aware in UTC;
* GUID fields are normalised to lower case without braces;
* a list field also takes the two shapes Windows PowerShell 5.1 makes of an unrolled collection: a single
  element on its own (one-element list) and ``null`` (empty list); see ``_compile_tuple``;
* numbers are non-negative unless the field is signed by nature (HRESULTs, raw registry values);
  dates lie between 2000 and one day after ``now`` (a scheduler's next start: 31 days).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import threading
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
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
    "parse_probe_text",
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
    """Internal: a value that does not fit. ``steps`` is where it sits, innermost first (field names, list
    indices, mapping keys): each container adds its step as the error passes, so no path is built unless a
    value fails."""

    def __init__(self, message: str) -> None:
        self.steps: list[str | int] = []
        super().__init__(message)

    @property
    def path(self) -> str:
        path = ""
        for step in reversed(self.steps):
            path = f"{path}[{step}]" if isinstance(step, int) else _join(path, step)
        return path


# --- public API ------------------------------------------------------------------------------------------


def parse_probe_output(host: str, probe: str, raw: object, *, now: datetime | None = None) -> Any:
    """The typed fact (an instance of ``FACT_TYPES[probe]``) from one probe's raw output string.

    ``now`` is the reference time for "a date in the future" (default: the current time).
    """
    return _parse_probe(host, probe, raw, _NOT_DECODED, now)


def parse_probe_text(host: str, probe: str, raw: str, *, now: datetime | None = None) -> Any:
    """``parse_probe_output`` for the audit (``gather.parse_outputs``), where a key twice in one JSON object
    is an error too: ``json`` keeps the last silently, so ``staging_mode_enabled: true, false`` would read
    as false. The text is decoded once for both (issue 13: it was decoded twice per probe and host)."""
    return _parse_probe(host, probe, raw, _decode_checked(host, probe, raw), now)


def _parse_probe(host: str, probe: str, raw: object, doc: object, now: datetime | None) -> Any:
    # password-sync's fact lives in facts/password_sync.py (the drill reads it on its own); its parser there
    # is this same envelope and builder, so every probe takes the one path here.
    if probe not in FACT_TYPES:
        raise ProbeError(host, probe, f"unknown probe; expected one of {', '.join(FACT_TYPES)}")
    data = _open_envelope(host, "probe", probe, raw, doc)
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
    if value.tzinfo is UTC and value.year >= 1000:  # every parsed fact's date: isoformat is strftime's text
        return value.isoformat(timespec="microseconds")[:26] + "0Z"
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s*(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
_MS_DATE = re.compile(r"^\\?/Date\((-?\d+)([+-]\d{4})?\)\\?/$")
# What probes and the lab write (PowerShell's ToString('o') in UTC): ASCII digits, 'T', up to seven
# fractional digits, 'Z' or '+00:00'. datetime.fromisoformat reads exactly these as the full parser does
# (fractions truncated to microseconds; tests/test_parse_identity.py compares both).
_FAST_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,7})?(?:Z|[+-]\d\d:\d\d)", re.ASCII)


def parse_datetime(text: str) -> datetime:
    """ISO 8601 (up to 7 fractional digits, ``Z``/offset/none = UTC) or ``/Date(ms)/`` -> aware UTC datetime.

    Raises ``ValueError`` for anything else.
    """
    if _FAST_ISO.fullmatch(text):
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            pass  # a field out of range: the full parser words the error
        else:
            if value.tzinfo is UTC:
                return value
    return _parse_datetime_full(text)


def _parse_datetime_full(text: str) -> datetime:
    """Every form ``parse_datetime`` accepts, field by field (the fast path covers the usual ones)."""
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

_NOT_DECODED = object()  # _open_envelope decodes the raw text itself


class _DuplicateKeyError(Exception):
    """Internal: the fast decoder met a key twice; the exact two-pass reading then says which."""


def _pairs_without_duplicates(items: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(items)
    if len(value) != len(items):
        raise _DuplicateKeyError
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One C-scanner pass: the object hook (a call per JSON object, no per-key Python work) rejects a key twice
# and parse_constant rejects NaN/Infinity, as the parser does. Stateless, so threads share it.
_CHECKED_DECODER = json.JSONDecoder(object_pairs_hook=_pairs_without_duplicates,
                                    parse_constant=_reject_constant)


def _decode_checked(host: str, probe: str, raw: str) -> object:
    """The document of ``raw``, or ``_NOT_DECODED`` when it is not clean JSON (``_open_envelope`` then words
    the error); ``ProbeError`` when a key appears twice in one object.

    Anything the single pass refuses (a key twice, NaN, a syntax error, a BOM, nesting too deep) is read
    again the way it always was, so errors keep their exact words and precedence: the duplicate key of a
    document that is JSON apart from NaN, else the decoding error."""
    if isinstance(raw, str):
        try:
            return _CHECKED_DECODER.decode(raw)
        except (ValueError, _DuplicateKeyError, RecursionError):
            pass
    duplicate = _duplicate_json_key(raw)
    if duplicate is not None:
        raise ProbeError(host, probe, f"the JSON output has the key '{duplicate}' twice (which one is true?)")
    return _NOT_DECODED


def _duplicate_json_key(text: str | bytes) -> str | None:
    """The first key that appears twice in one JSON object of ``text``; None if none does or it is not
    JSON (the parser then says what is wrong with it)."""
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if not found and len(set(keys)) != len(keys):
            found.append(next(k for i, k in enumerate(keys) if k in keys[:i]))
        return dict(items)

    try:
        json.loads(text, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return None
    return " ".join(found[0].split())[:60] if found else None


def _open_envelope(host: str, kind: str, name: str, raw: object,
                   doc: object = _NOT_DECODED) -> Mapping[str, Any]:
    def bad(message: str, field: str | None = None) -> ProbeError:
        return ProbeError(host, name, message, field=field, fix=_MALFORMED_FIX)

    if not isinstance(raw, str):
        raise bad(f"expected one JSON string as output, got {_describe(raw)}")
    if doc is _NOT_DECODED:
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


# --- builder ---------------------------------------------------------------------------------------------
#
# One builder function per (type, owning field), compiled the first time the type is met: the type hints,
# the field's checks (GUID, sign, comma list, future allowance) and the shape of every field are worked out
# once, and plain values (str, bool, int, float, null) pass on a type test. Issue 13: the generic walker
# spent ~3 ms per host re-deciding all that for every value.

_Builder = Callable[[Any, "_Context"], Any]
_Owner = tuple[type, str]
_MISSING = object()


def _build_domain(host: str, domain: str, cls: type, data: Mapping[str, Any], now: datetime,
                  check_future: bool) -> Any:
    ctx = _Context(now=now, check_future=check_future)
    try:
        return _dataclass_builder(cls)(data, ctx)
    except _Invalid as exc:
        raise ProbeError(host, domain, str(exc), field=exc.path or None, fix=_MALFORMED_FIX) from None


@dataclasses.dataclass(frozen=True)
class _Context:
    now: datetime
    check_future: bool


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_COMPILE_LOCK = threading.RLock()
_DATACLASS_BUILDERS: dict[type, _Builder] = {}
_BUILDERS: dict[tuple[Any, _Owner], _Builder] = {}


_COMPILING: set[type] = set()


def _dataclass_builder(cls: type) -> _Builder:
    built = _DATACLASS_BUILDERS.get(cls)
    if built is None:
        with _COMPILE_LOCK:  # gather's host threads may meet a type first at the same time
            built = _DATACLASS_BUILDERS.get(cls)
            if built is None:
                if cls in _COMPILING:  # a class that contains itself: its builder is looked up per value
                    return lambda value, ctx: _DATACLASS_BUILDERS[cls](value, ctx)
                _COMPILING.add(cls)
                try:
                    built = _DATACLASS_BUILDERS[cls] = _compile_dataclass(cls)
                finally:
                    _COMPILING.discard(cls)
    return built


def _builder(tp: Any, owner: _Owner) -> _Builder:
    built = _BUILDERS.get((tp, owner))
    if built is None:
        with _COMPILE_LOCK:
            built = _BUILDERS.get((tp, owner))
            if built is None:
                built = _BUILDERS[(tp, owner)] = _compile(tp, owner)
    return built


def _compile_dataclass(cls: type) -> _Builder:
    """The builder of one dataclass: Python source written for its fields, like ``dataclasses`` writes
    ``__init__``, so each field costs a lookup and a type test when its value is plain.

    Per field: only a field whose default is None may be omitted; the value is built by its type's builder
    unless the type test (``_plain_test``) shows it is already what the builder would return; then the
    field's check (``_FIELD_CHECKS``). A failure adds the field's name to the error's path."""
    hints = typing.get_type_hints(cls)
    namespace: dict[str, Any] = {"_Invalid": _Invalid, "_describe": _describe, "Mapping": Mapping,
                                 "MISSING": _MISSING, "INF": math.inf, "cls": cls, "new": object.__new__}
    lines = ["def build(value, ctx):",
             "    if type(value) is not dict:",
             "        if value is None:",
             "            raise _Invalid('must not be null')",
             "        if not isinstance(value, Mapping):",
             "            raise _Invalid(f'expected an object, got {_describe(value)}')",
             "    get = value.get",
             "    name = ''",
             "    try:"]
    fields = dataclasses.fields(cls)
    for i, f in enumerate(fields):
        owner = (cls, f.name)
        var = f"v{i}"
        namespace[f"build{i}"] = _builder(hints[f.name], owner)
        plain, nullable = _plain_test(hints[f.name], owner, var)
        omissible = f.default is None
        lines.append(f"        name = {f.name!r}")
        if omissible and nullable:  # omitted reads as null, which this type takes: one lookup
            lines.append(f"        {var} = get({f.name!r})")
            lines.append(f"        if not ({plain}):")
            lines.append(f"            {var} = build{i}({var}, ctx)")
        else:
            lines.append(f"        {var} = get({f.name!r}, MISSING)")
            lines.append(f"        if not ({plain}):" if plain else "        if True:")
            lines.append(f"            if {var} is MISSING:")
            lines.append(f"                {var} = None" if omissible
                         else "                raise _Invalid('missing field')")
            lines.append("            else:")
            lines.append(f"                {var} = build{i}({var}, ctx)")
        check = _FIELD_CHECKS.get(owner)
        if check is not None:
            namespace[f"check{i}"] = check
            lines.append(f"        if {var} is not None:")
            lines.append(f"            problem = check{i}({var})")
            lines.append("            if problem:")
            lines.append("                raise _Invalid(problem)")
    lines += ["    except _Invalid as exc:",
              "        exc.steps.append(name)",
              "        raise"]
    values = ", ".join(f"{f.name!r}: v{i}" for i, f in enumerate(fields))
    if _plain_instances(cls):
        # What the generated (frozen) __init__ would do, without its object.__setattr__ per field: 2 µs of
        # the ~3 µs a fact object cost. Only for classes whose __init__ does nothing else.
        lines += ["    obj = new(cls)", f"    obj.__dict__.update({{{values}}})", "    return obj"]
    else:
        lines += [f"    return cls(**{{{values}}})"]
    exec(compile("\n".join(lines), f"<fact builder {cls.__qualname__}>", "exec"), namespace)
    build: _Builder = namespace["build"]
    return build


def _plain_instances(cls: type) -> bool:
    """Whether an instance is exactly its fields in ``__dict__``: the dataclass's own ``__init__`` taking
    every field, no ``__post_init__`` (so no InitVar either), no slots."""
    params = getattr(cls, "__dataclass_params__", None)
    return (params is not None and params.init and not hasattr(cls, "__post_init__")
            and "__slots__" not in vars(cls) and all(f.init for f in dataclasses.fields(cls)))


def _plain_test(tp: Any, owner: _Owner, var: str) -> tuple[str | None, bool]:
    """A Python test that ``var`` is already what ``tp``'s builder returns for it (None: no such test),
    and whether ``tp`` takes null."""
    nullable = False
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        nullable = len(options) < len(typing.get_args(tp))
        if len(options) != 1:
            return None, False  # unsupported: its builder says so
        tp = options[0]
    test = None
    signed = owner in _SIGNED_FIELDS
    if tp in (str, bool) and owner not in _GUID_FIELDS:
        test = f"type({var}) is {tp.__name__}"
    elif tp is int:
        test = f"type({var}) is int" + ("" if signed else f" and {var} >= 0")
    elif tp is float:
        test = f"type({var}) is float and " + (f"-INF < {var} < INF" if signed else f"0.0 <= {var} < INF")
    if nullable:
        test = f"{var} is None" + (f" or {test}" if test else "")
    return test, nullable


def _compile(tp: Any, owner: _Owner) -> _Builder:
    """The builder of one field type; unsupported types fail when a value meets them, as they always did."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        options = tuple(a for a in args if a is not type(None))
        return _compile_union(tp, options, len(options) < len(args), owner)
    if origin is tuple:
        return _compile_tuple(tp, owner)
    if origin is dict:
        return _compile_dict(tp, owner)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass_builder(tp)  # it refuses null itself
    leaf = _compile_leaf(tp, owner)
    if leaf is not None:
        return leaf

    def unsupported(value: Any, ctx: _Context) -> Any:
        if value is None:
            raise _Invalid("must not be null")
        raise _Invalid(f"unsupported field type {tp}")
    return unsupported


def _compile_union(tp: Any, options: tuple[Any, ...], nullable: bool, owner: _Owner) -> _Builder:
    if len(options) != 1:  # the model has none
        def unsupported(value: Any, ctx: _Context) -> Any:
            if value is None:
                if nullable:
                    return None
                raise _Invalid("must not be null")
            raise _Invalid(f"unsupported union type {tp}")
        return unsupported
    inner = _builder(options[0], owner)
    if not nullable:  # typing folds X | X into X: unreachable, kept for the generic rule
        return inner
    plain = options[0] if options[0] in (str, bool, int) and owner not in _GUID_FIELDS else None
    if plain is int:  # a negative one goes on to the sign check
        def optional_int(value: Any, ctx: _Context) -> Any:
            if value is None or (type(value) is int and value >= 0):
                return value
            return inner(value, ctx)
        return optional_int
    if plain is not None:  # str | None, bool | None
        def optional_plain(value: Any, ctx: _Context) -> Any:
            if value is None or type(value) is plain:
                return value
            return inner(value, ctx)
        return optional_plain

    def optional(value: Any, ctx: _Context) -> Any:
        return None if value is None else inner(value, ctx)
    return optional


def _compile_tuple(tp: Any, owner: _Owner) -> _Builder:
    args = typing.get_args(tp)
    if len(args) != 2 or args[1] is not Ellipsis:
        def unsupported(value: Any, ctx: _Context) -> Any:
            raise _Invalid(f"unsupported tuple type {tp}")
        return unsupported
    item_builder = _builder(args[0], owner)
    comma = owner in _COMMA_LISTS
    plain_strings = args[0] is str and owner not in _GUID_FIELDS

    # Windows PowerShell 5.1 unrolls collections: a function that returns an empty array returns $null and one
    # that returns a one-element array returns the element; so do pipelines and `if` expressions assigned to a
    # variable. A probe that misses one `@(...)` then writes `null` or the bare element where the contract has
    # a JSON array. Both shapes mean the same facts, so they are read as () and (element,); the element is
    # still checked like any list item (path `field[0]`), so wrong types and missing fields keep failing.
    def build_tuple(value: Any, ctx: _Context) -> tuple[Any, ...]:
        if value is None:
            return ()
        if comma and isinstance(value, str):
            # ActiveDirectoryRights.ToString() is "ReadProperty, WriteProperty": accept the flag text as well.
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            value = [value]  # PS 5.1: a one-element array unrolled to its element
        if plain_strings:
            for item in value:
                if type(item) is not str:
                    break
            else:
                return tuple(value)
        try:
            return tuple([item_builder(item, ctx) for item in value])
        except _Invalid:
            pass
        for index, item in enumerate(value):  # again, one by one, to name the element (builders are pure)
            try:
                item_builder(item, ctx)
            except _Invalid as exc:
                exc.steps.append(index)
                raise
        raise AssertionError("unreachable: an element failed once")

    return build_tuple


def _compile_dict(tp: Any, owner: _Owner) -> _Builder:
    key_type, item_type = typing.get_args(tp)
    item_builder = _builder(item_type, owner)

    def build_dict(value: Any, ctx: _Context) -> dict[str, Any]:
        if value is None:
            raise _Invalid("must not be null")
        if key_type is not str:
            raise _Invalid(f"unsupported mapping type {tp}")
        if not isinstance(value, Mapping):
            raise _Invalid(f"expected an object, got {_describe(value)}")
        try:
            return {str(key): item_builder(item, ctx) for key, item in value.items()}
        except _Invalid:
            pass
        for key, item in value.items():  # again, one by one, to name the key (builders are pure)
            try:
                item_builder(item, ctx)
            except _Invalid as exc:
                exc.steps.append(str(key))
                raise
        raise AssertionError("unreachable: an item failed once")

    return build_dict


def _compile_leaf(tp: Any, owner: _Owner) -> _Builder | None:
    """str, bool, int, float and datetime fields: the usual value passes on one type test."""
    signed = owner in _SIGNED_FIELDS
    if tp is bool:
        def build_bool(value: Any, ctx: _Context) -> bool:
            if type(value) is bool:
                return value
            if value is None:
                raise _Invalid("must not be null")
            raise _Invalid(f"expected true or false, got {_describe(value)}")
        return build_bool
    if tp is int:
        def build_int(value: Any, ctx: _Context) -> int:
            if type(value) is not int:
                if value is None:
                    raise _Invalid("must not be null")
                if isinstance(value, bool) or not isinstance(value, int):
                    raise _Invalid(f"expected an integer, got {_describe(value)}")
            if value < 0 and not signed:
                raise _Invalid(f"must not be negative, got {value:g}")
            return value
        return build_int
    if tp is float:
        def build_float(value: Any, ctx: _Context) -> float:
            if value is None:
                raise _Invalid("must not be null")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _Invalid(f"expected a number, got {_describe(value)}")
            number = float(value)
            if not math.isfinite(number):
                raise _Invalid(f"expected a finite number, got {value!r}")
            if number < 0 and not signed:
                raise _Invalid(f"must not be negative, got {number:g}")
            return number
        return build_float
    if tp is str:
        guid = owner in _GUID_FIELDS
        strict = owner != (CloudFacts, "tenant_id")

        def build_str(value: Any, ctx: _Context) -> str:
            if type(value) is not str:
                if value is None:
                    raise _Invalid("must not be null")
                if not isinstance(value, str):
                    raise _Invalid(f"expected a string, got {_describe(value)}")
            return _guid(value, strict=strict) if guid else value
        return build_str
    if tp is datetime:
        allowance = _FUTURE_ALLOWANCE.get(owner, timedelta(days=1))

        def build_datetime(value: Any, ctx: _Context) -> datetime:
            if value is None:
                raise _Invalid("must not be null")
            if not isinstance(value, str):
                raise _Invalid(f"expected an ISO 8601 date string, got {_describe(value)}")
            try:
                parsed = parse_datetime(value)
            except (ValueError, OverflowError) as exc:
                raise _Invalid(str(exc)) from None
            if parsed.year < 2000:
                raise _Invalid(f"implausible date {value!r} (before 2000)")
            if ctx.check_future and parsed > ctx.now + allowance:
                raise _Invalid(f"implausible date {value!r} "
                               f"(more than {allowance.days} day(s) in the future)")
            return parsed
        return build_datetime
    return None


_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_GUID_N = re.compile(r"^[0-9a-f]{32}$")


def _guid(value: str, *, strict: bool) -> str:
    if _GUID.fullmatch(value):  # already the normal form (what the probes write)
        return value
    normal = value.strip().strip("{}").lower()
    if _GUID.match(normal):
        return normal
    if _GUID_N.match(normal):
        # The 'N' form (32 hex digits): Microsoft's own SyncMachineIdentifier fix writes
        # [Guid]::NewGuid().ToString("N"); read as the 'D' form so both servers compare alike.
        n = normal
        return f"{n[:8]}-{n[8:12]}-{n[12:16]}-{n[16:20]}-{n[20:]}"
    if strict:
        raise _Invalid(f"expected a GUID, got {value[:40]!r}")
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


_PLAIN_DATA = frozenset({str, int, float, bool, type(None)})
_DATA_FIELDS: dict[type, tuple[str, ...]] = {}  # a fact class -> its field names, looked up once


def _to_data(value: object) -> Any:
    kind = type(value)
    if kind in _PLAIN_DATA:
        return value
    names = _DATA_FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _DATA_FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: _to_data(getattr(value, name)) for name in names}
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

