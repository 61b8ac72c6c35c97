"""Waivers: a known finding accepted for a while, with a reason, by name (InSpec's semantics).

A waiver lives in the inventory's ``waivers:`` list or in a file given with ``--waivers FILE`` (a YAML list,
or a mapping with a ``waivers:`` list)::

    - check: adsynctools               # required: a check id
      pair: contoso-prod                # optional: only this pair
      host: aadc02                      # optional: only this server (its name or its address)
      justification: CHG-1234 module install scheduled with the next patch window   # required
      expires: 2027-01-31               # required: the last day the waiver holds (UTC)
      granted: 2026-12-01               # optional: when it was written
      run: true                         # optional (default true): run and report, but do not fail;
                                        #   false: do not run the check at all

Everything is validated before anything connects; each problem is one line naming file, entry and fix: a
malformed file, an unknown check id, pair or host, a host on a pair-scoped check, or a waiver that was
already expired when written (``expires`` before ``granted``). A waiver whose date has passed is *expired*:
the check is evaluated normally and its result says the waiver expired, so nothing stays silently accepted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import FileKeyError
from .yamlload import load_yaml_file

__all__ = ["Waiver", "WaiverError", "find_waiver", "load_waiver_file", "parse_waivers"]

_KEYS = ("check", "pair", "host", "justification", "expires", "granted", "run")


class WaiverError(FileKeyError):
    """A waiver that cannot be used: the run stops before any connection."""


@dataclass(frozen=True)
class Waiver:
    check: str
    justification: str
    expires: dt.date
    source: str  # "inventory/prod.yml: waivers[2]": where to edit it
    pair: str | None = None
    host: str | None = None
    run: bool = True
    granted: dt.date | None = None

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def scope_text(self) -> str:
        where = "/".join(part for part in (self.pair, self.host) if part) or "every pair"
        return f"{self.check} on {where}"

    def describe(self, today: dt.date) -> str:
        state = f"EXPIRED on {self.expires}" if self.expired(today) else f"until {self.expires}"
        action = "" if self.run else ", not run"
        return f"waived {state}{action} ({self.source}): {self.justification}"

    def as_dict(self, today: dt.date) -> dict[str, Any]:
        return {"check": self.check, "pair": self.pair, "host": self.host,
                "justification": self.justification, "expires": self.expires.isoformat(),
                "granted": self.granted.isoformat() if self.granted else None, "run": self.run,
                "expired": self.expired(today), "source": self.source}


def load_waiver_file(path: str) -> Any:
    """The raw waiver list of ``--waivers FILE`` (validated by ``parse_waivers``)."""
    # The strict loader (duplicate keys, alias bombs, encodings, FIFOs) reads every user YAML file.
    if not Path(path).exists():
        raise WaiverError("file not found", path=path, fix="pass an existing YAML file to --waivers")
    raw = load_yaml_file(path, error=WaiverError)
    if isinstance(raw, Mapping) and set(raw) == {"waivers"}:
        return raw["waivers"]
    return raw


def parse_waivers(raw: Any, *, label: str, key: str, checks: Mapping[str, str],
                  layout: Mapping[str, Sequence[str]] | None = None,
                  today: dt.date | None = None) -> list[Waiver]:
    """Validate a raw waiver list. ``checks`` maps check id -> scope; ``layout`` maps pair -> the names and
    addresses of its servers (``None``: pairs not known yet, e.g. a lab not started)."""
    del today  # an expired waiver is valid input: it is reported as expired, not refused
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise WaiverError(f"expected a list of waivers, got {type(raw).__name__}", path=label,
                          key=key or None, fix="write each waiver as a '- check: ...' entry")
    waivers = []
    for index, entry in enumerate(raw):
        here = f"{key}[{index}]" if key else f"[{index}]"
        waivers.append(_parse_one(entry, label, here, checks, layout))
    return waivers


def _parse_one(entry: Any, label: str, here: str, checks: Mapping[str, str],
               layout: Mapping[str, Sequence[str]] | None) -> Waiver:
    def fail(message: str, fix: str, sub: str | None = None) -> WaiverError:
        return WaiverError(message, path=label, key=f"{here}.{sub}" if sub else here, fix=fix)

    if not isinstance(entry, Mapping):
        raise fail("expected a mapping (check, justification, expires, ...)", "see docs/results.md, Waivers")
    for name in entry:
        if name not in _KEYS:
            raise fail(f"unknown key '{_shown(name)}'", f"allowed keys: {', '.join(_KEYS)}", _shown(name))
    for required in ("check", "justification", "expires"):
        if entry.get(required) in (None, ""):
            raise fail("missing required key", f"add '{required}:' (every waiver needs check, justification "
                       "and expires)", required)
    check_id = entry["check"]
    if not isinstance(check_id, str) or check_id not in checks:
        near = _near(check_id, list(checks)) if isinstance(check_id, str) else None
        raise fail(f"unknown check id '{_shown(check_id)}'", near or "use an id from docs/checks.md", "check")
    justification = entry["justification"]
    if not isinstance(justification, str) or not justification.strip():
        raise fail("expected a non-empty justification", "say why the finding is accepted (a ticket helps)",
                   "justification")
    expires = _date(entry["expires"], fail, "expires")
    granted = _date(entry["granted"], fail, "granted") if entry.get("granted") is not None else None
    if granted is not None and expires < granted:
        raise fail(f"already expired when written (expires {expires}, granted {granted})",
                   "set expires to a later date, or remove the waiver", "expires")
    run = entry.get("run", True)
    if not isinstance(run, bool):
        raise fail(f"expected true or false, got {_shown(run, quote=True)}",
                   "write true (run, do not fail) or false (skip)",
                   "run")
    pair, host = _optional_text(entry, "pair", fail), _optional_text(entry, "host", fail)
    if host is not None and checks[check_id] == "pair":
        raise fail(f"check {check_id} is evaluated per pair, not per server", "remove 'host:'", "host")
    if layout is not None:
        if pair is not None and pair not in layout:
            raise fail(f"no pair named '{_shown(pair)}' in the inventory",
                       _near(pair, list(layout)) or f"use one of: {', '.join(layout)}", "pair")
        servers = list(layout[pair]) if pair is not None else [s for names in layout.values() for s in names]
        if host is not None and host.lower() not in {s.lower() for s in servers}:
            raise fail(f"no server '{_shown(host)}' in {'pair ' + pair if pair else 'the inventory'}",
                       _near(host, servers) or f"use one of: {', '.join(servers)}", "host")
    return Waiver(check=check_id, justification=justification.strip(), expires=expires,
                  source=f"{label}: {here}", pair=pair, host=host, run=run, granted=granted)


def _date(value: Any, fail: Any, key: str) -> dt.date:
    if isinstance(value, dt.datetime):  # an unquoted timestamp: its UTC day (expires is a UTC date)
        return (value.astimezone(dt.UTC) if value.tzinfo else value).date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise fail(f"expected a date (YYYY-MM-DD), got {_shown(value, quote=True)}", "write e.g. 2027-01-31", key)


def _optional_text(entry: Mapping[str, Any], name: str, fail: Any) -> str | None:
    value = entry.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise fail("expected a non-empty string", f"write the {name}'s name, or remove '{name}:'", name)
    return value.strip()


def _shown(value: Any, *, quote: bool = False) -> str:
    """A rejected value, short and safe to print: never a 100 KB string or list pasted back, never a
    5,000-digit integer (``repr`` refuses those with a ValueError)."""
    try:
        text = repr(value) if quote or not isinstance(value, str) else value
    except ValueError:
        return "(an integer of thousands of digits)"
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _near(word: str, options: list[str]) -> str | None:
    import difflib

    if len(word) > 100:  # no check, pair or host name is this long; difflib would only spend time on it
        return None

    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def find_waiver(waivers: Sequence[Waiver], check_id: str, pair: str,
                host_names: Sequence[str] = ()) -> Waiver | None:
    """The most specific waiver for a target (host over pair over everywhere); ``host_names`` are the
    server's name and address (empty for a pair-scoped check)."""
    names = {n.lower() for n in host_names}
    best: tuple[int, Waiver] | None = None
    for waiver in waivers:
        if waiver.check != check_id or (waiver.pair is not None and waiver.pair != pair):
            continue
        if waiver.host is not None and waiver.host.lower() not in names:
            continue
        rank = (waiver.host is not None) * 2 + (waiver.pair is not None)
        if best is None or rank > best[0]:
            best = (rank, waiver)
    return best[1] if best else None
