"""A pair's drill settings from the inventory: the switch method, the waits, the maintenance windows.

``parse_drill_block`` and ``parse_maintenance_windows`` validate the raw YAML (``drill:`` and
``maintenance_windows:``, in ``defaults:`` and per pair) and raise one-line ``InventoryError``s naming the
file, the key path and the fix; ``drill_settings`` builds the frozen ``DrillSettings`` the engine reads.
The switch method has no default on purpose: which unsupported or operator-driven way a server is
switched is the owner's decision, so without one every entry point refuses (``require_method``).
"""

from __future__ import annotations

import difflib
import math
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from functools import lru_cache
from typing import Any, NoReturn

from ..errors import DrillError, InventoryError

__all__ = [
    "CANARY_ATTRIBUTES",
    "DRILL_DEFAULTS",
    "DRILL_METHODS",
    "METHOD_SUPPORT",
    "WEEKDAYS",
    "DrillSettings",
    "MaintenanceWindow",
    "drill_settings",
    "method_choices",
    "parse_drill_block",
    "parse_maintenance_windows",
    "require_method",
]

DRILL_METHODS: tuple[str, ...] = ("wizard", "global-settings", "adsynctools")

# Source: ../shared/reference/entra-connect.md section 1.2 / 1.2a (Microsoft Learn pages cited there).
METHOD_SUPPORT: Mapping[str, str] = {
    "wizard": "the operator switches staging mode in the Entra Connect wizard (the only way Microsoft "
              "documents and supports); the tool does everything around it and waits for the change",
    "global-settings": "the tool sets Microsoft.Synchronize.StagingMode with Get-/Set-ADSyncGlobalSettings "
                       "(fully automatic; undocumented by Microsoft, used by community scripts)",
    "adsynctools": "the tool runs Enable-/Disable-ADSyncToolsStagingMode from the ADSyncTools module "
                   "(published by Microsoft as a workaround only for older builds that depend on MSOnline)",
}

DRILL_DEFAULTS: Mapping[str, Any] = {
    "method": None,  # no default: see require_method
    "hold": 300,  # seconds between the failover proof and the failback (drill only)
    "poll_interval": 5,  # seconds between reads while waiting
    "idle_timeout": 900,  # bound for running sync cycles to end
    "export_timeout": 1800,  # bound for a successful Export on the new active
    "cloud_timeout": 1800,  # bound for the tenant to show the export / canary
    "operator_timeout": 1800,  # wizard method: bound for the operator's switch
    "canary_attribute": "extensionAttribute15",
}
"""Every key of a ``drill:`` block with its default (``inventory/example.yml`` documents each one)."""

# key -> (lowest, highest, lowest allowed as well?): a day is the longest any wait may sensibly last.
_NUMBER_BOUNDS: Mapping[str, tuple[float, float, bool]] = {
    "hold": (0, 86400, True),
    "poll_interval": (0, 300, False),
    "idle_timeout": (0, 86400, False),
    "export_timeout": (0, 86400, False),
    "cloud_timeout": (0, 86400, False),
    "operator_timeout": (0, 86400, False),
}

CANARY_ATTRIBUTES: tuple[str, ...] = tuple(f"extensionAttribute{n}" for n in range(1, 16))

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WINDOW_KEYS = ("days", "start", "end", "timezone")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


@dataclass(frozen=True)
class MaintenanceWindow:
    """Weekly hours in one time zone when a drill may run.

    ``days`` are the days the window *opens* (0 = Monday). ``end`` at or before ``start`` means the
    window closes the next day (``fri 22:00-02:00`` is Friday night); equal times mean 24 hours.
    """

    days: tuple[int, ...]
    start: time
    end: time
    timezone: str

    def __post_init__(self) -> None:
        distinct = len(set(self.days)) == len(self.days)
        if not self.days or not distinct or any(d not in range(7) for d in self.days):
            raise ValueError(f"MaintenanceWindow.days must be distinct weekdays 0..6, got {self.days!r}")
        _zone(self.timezone)  # raises for an unknown zone, so a window in hand always resolves

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return _zone(self.timezone)

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def describe(self) -> str:
        """``sat,sun 02:00-06:00 Europe/Berlin``; a window closing the next day shows ``(+1 day)``."""
        days = ",".join(WEEKDAYS[d] for d in self.days)
        nxt = " (+1 day)" if self.crosses_midnight else ""
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M}{nxt} {self.timezone}"

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class DrillSettings:
    """How the drill treats one pair (inventory ``drill:`` + ``maintenance_windows:``, defaults applied)."""

    method: str | None = None
    hold_s: float = DRILL_DEFAULTS["hold"]
    poll_interval_s: float = DRILL_DEFAULTS["poll_interval"]
    idle_timeout_s: float = DRILL_DEFAULTS["idle_timeout"]
    export_timeout_s: float = DRILL_DEFAULTS["export_timeout"]
    cloud_timeout_s: float = DRILL_DEFAULTS["cloud_timeout"]
    operator_timeout_s: float = DRILL_DEFAULTS["operator_timeout"]
    canary_attribute: str = DRILL_DEFAULTS["canary_attribute"]
    maintenance_windows: tuple[MaintenanceWindow, ...] = ()


def method_choices() -> str:
    """One line listing every method with its support status (for refusals and ``--help``)."""
    return "; ".join(f"{name}: {METHOD_SUPPORT[name]}" for name in DRILL_METHODS)


def require_method(settings: DrillSettings, pair: str) -> str:
    """The pair's switch method, or a ``DrillError`` that explains the choices (there is no default)."""
    if settings.method is None:
        raise DrillError(
            f"pair '{pair}' has no switch method, and there is no default: choose one of {method_choices()}",
            fix=f"set 'drill: {{method: NAME}}' for pair '{pair}' (or in defaults) in the inventory")
    return settings.method


# --- parsing (inventory) ---------------------------------------------------------------------------------


def parse_drill_block(raw: Any, *, path: str, key: str) -> dict[str, Any]:
    """Validate one ``drill:`` mapping; returns only the keys it sets (merge: defaults < pair, key by key)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        _fail(path, key, f"expected a mapping (key: value), got {_kind(raw)}",
              "write it as 'key: value' lines, e.g. 'method: global-settings'")
    out: dict[str, Any] = {}
    for name, value in raw.items():
        here = f"{key}.{name}"
        if not isinstance(name, str) or name not in DRILL_DEFAULTS:
            hint = _suggest(str(name), list(DRILL_DEFAULTS))
            _fail(path, here, f"unknown key '{name}'",
                  hint or f"allowed keys here: {', '.join(DRILL_DEFAULTS)}")
        if name == "method":
            out[name] = _method(value, path, here)
        elif name == "canary_attribute":
            out[name] = _canary_attribute(value, path, here)
        else:
            out[name] = _number(name, value, path, here)
    return out


def parse_maintenance_windows(raw: Any, *, path: str, key: str) -> tuple[MaintenanceWindow, ...]:
    """Validate a ``maintenance_windows:`` list (empty or null: no window, so drills are refused)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        _fail(path, key, f"expected a list, got {_kind(raw)}",
              "write each window on a '- ' line, e.g. - {days: [sat], start: \"02:00\", end: \"06:00\", "
              "timezone: Europe/Berlin}")
    return tuple(_window(item, path, f"{key}[{i}]") for i, item in enumerate(raw))


def drill_settings(block: Mapping[str, Any], windows: tuple[MaintenanceWindow, ...]) -> DrillSettings:
    """Settings from an already validated (merged) ``drill:`` block and windows; missing keys get defaults."""
    values = {**DRILL_DEFAULTS, **block}
    return DrillSettings(
        method=values["method"],
        hold_s=float(values["hold"]),
        poll_interval_s=float(values["poll_interval"]),
        idle_timeout_s=float(values["idle_timeout"]),
        export_timeout_s=float(values["export_timeout"]),
        cloud_timeout_s=float(values["cloud_timeout"]),
        operator_timeout_s=float(values["operator_timeout"]),
        canary_attribute=values["canary_attribute"],
        maintenance_windows=windows,
    )


def _method(value: Any, path: str, key: str) -> str | None:
    if value is None:
        return None  # an explicit null in a pair clears a method set in defaults
    if not isinstance(value, str) or value not in DRILL_METHODS:
        hint = _suggest(str(value), list(DRILL_METHODS))
        _fail(path, key, f"'{value}' is not a switch method",
              f"{hint} (choices: {', '.join(DRILL_METHODS)})" if hint else f"use one of: {method_choices()}")
    return value


def _canary_attribute(value: Any, path: str, key: str) -> str:
    if isinstance(value, str):
        for name in CANARY_ATTRIBUTES:
            if value.strip().lower() == name.lower():
                return name
    _fail(path, key, f"{_kind(value)} is not an on-premises extension attribute",
          "use extensionAttribute1 .. extensionAttribute15 (default extensionAttribute15)")


def _number(name: str, value: Any, path: str, key: str) -> float:
    low, high, low_allowed = _NUMBER_BOUNDS[name]
    default = DRILL_DEFAULTS[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(path, key, f"expected a number of seconds, got {_kind(value)}",
              f"write a number without quotes (default {default})")
    if not math.isfinite(value):
        _fail(path, key, f"{value} is not a finite number", f"write a number of seconds (default {default})")
    if value < low or (value == low and not low_allowed) or value > high:
        lowest = f"at least {low:g}" if low_allowed else f"greater than {low:g}"
        _fail(path, key, f"{value:g} is out of range",
              f"use a number of seconds {lowest} and at most {high:g}")
    return float(value)


def _window(raw: Any, path: str, key: str) -> MaintenanceWindow:
    if not isinstance(raw, Mapping):
        _fail(path, key, f"expected a window (days, start, end, timezone), got {_kind(raw)}",
              "write - {days: [sat, sun], start: \"02:00\", end: \"06:00\", timezone: Europe/Berlin}")
    for name in raw:
        if not isinstance(name, str) or name not in _WINDOW_KEYS:
            hint = _suggest(str(name), list(_WINDOW_KEYS))
            _fail(path, f"{key}.{name}", f"unknown key '{name}'",
                  hint or f"allowed keys here: {', '.join(_WINDOW_KEYS)}")
    for name in _WINDOW_KEYS:
        if raw.get(name) is None:
            _fail(path, f"{key}.{name}", "missing required key",
                  f"add '{name}:' (every window needs days, start, end and timezone)")
    return MaintenanceWindow(
        days=_days(raw["days"], path, f"{key}.days"),
        start=_clock(raw["start"], path, f"{key}.start", end=False),
        end=_clock(raw["end"], path, f"{key}.end", end=True),
        timezone=_timezone(raw["timezone"], path, f"{key}.timezone"),
    )


def _days(value: Any, path: str, key: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        _fail(path, key, f"expected a list of weekdays, got {_kind(value)}",
              "write e.g. days: [sat, sun] (mon, tue, wed, thu, fri, sat, sun)")
    if not value:
        _fail(path, key, "the list of days is empty", "name at least one day, e.g. days: [sat]")
    days: list[int] = []
    for i, item in enumerate(value):
        word = item.strip().lower() if isinstance(item, str) else None
        if word in WEEKDAYS:
            day = WEEKDAYS.index(word)
        elif word in _FULL_DAY_NAMES:
            day = _FULL_DAY_NAMES.index(word)
        else:
            hint = _suggest(str(item).lower(), [*WEEKDAYS, *_FULL_DAY_NAMES])
            _fail(path, f"{key}[{i}]", f"{_kind(item)} is not a weekday",
                  hint or "use mon, tue, wed, thu, fri, sat, sun (or the full English names)")
        if day in days:
            _fail(path, f"{key}[{i}]", f"'{item}' is listed twice", "name each day once")
        days.append(day)
    return tuple(days)


def _clock(value: Any, path: str, key: str, *, end: bool) -> time:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 22:00 as the base-60 number 1320 (02:00 stays text): say so.
        limit = 24 * 60 + (1 if end else 0)  # "24:00" (1440) is a valid end
        seen = f"\"{value // 60:02d}:{value % 60:02d}\"" if 0 <= value < limit else "\"HH:MM\""
        _fail(path, key,
              f"got the number {value}: YAML reads an unquoted time like 22:00 as a base-60 number",
              f"quote the time: {key.rsplit('.', 1)[-1]}: {seen}")
    if isinstance(value, str):
        text = value.strip()
        if end and text == "24:00":
            return time(0, 0)  # end of the day: the window closes at the next midnight
        match = _HHMM.match(text)
        if match:
            return time(int(match.group(1)), int(match.group(2)))
    extra = " (or \"24:00\" for midnight)" if end else ""
    _fail(path, key, f"{_kind(value)} is not a time of day",
          f"write 24-hour \"HH:MM\" in quotes, e.g. \"02:00\"{extra}")


def _timezone(value: Any, path: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(path, key, f"expected a time zone name, got {_kind(value)}",
              "write an IANA name such as Europe/Berlin or UTC")
    name = value.strip()
    if name.lower() in ("localtime", "posixrules"):
        _fail(path, key, f"'{name}' means a different zone on every machine",
              "write the IANA name of the servers' zone, e.g. Europe/Berlin")
    try:
        _zone(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        hint = _suggest(name, sorted(zoneinfo.available_timezones()))
        _fail(path, key, f"unknown time zone '{name}'",
              hint or "write an IANA name such as Europe/Berlin, America/New_York or UTC")
    return name


@lru_cache(maxsize=64)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def _fail(path: str, key: str, message: str, fix: str) -> NoReturn:
    raise InventoryError(message, path=path, key=key, fix=fix)


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
