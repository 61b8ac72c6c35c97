"""The probe and action catalogue: the ``.ps1`` files shipped as package data, loaded by name.

The helper functions every script needs live once, in ``probes/helpers/common.ps1``; each script marks where
they go with an empty ``#region entra-standby common helpers`` block, and loading fills it in. So what is
sent is one standalone script, while the repository holds one copy of the helpers
(``entra-standby probe show NAME`` prints the complete script, e.g. to run it by hand on a server).

A probe travels in its wire form (``probes/wire.py``: comments, blank lines and indentation left out, its
first-line marker kept, by which the lab recognises it; actions travel as shipped) and receives its inputs
only as named parameters, never by formatting text into it. ``Script.parameters`` is
read from the script's own ``param()`` block, so the catalogue cannot disagree with the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Literal

from ..errors import EntraStandbyError

__all__ = [
    "ACTION_NAMES",
    "AUDIT_PARAMETERS",
    "CONTRACT_PARAMETERS",
    "DRILL_PROBES",
    "HELPERS_MARKER",
    "HELPERS_REGION_BEGIN",
    "HELPERS_REGION_END",
    "PROBE_NAMES",
    "Script",
    "UnknownScriptError",
    "helpers_script",
    "helpers_source",
    "load_action",
    "load_probe",
    "marker_line",
    "needs_helpers",
    "with_helpers",
    "without_helpers",
]

HELPERS_REGION_BEGIN = (
    "#region entra-standby common helpers (probes/helpers/common.ps1, inserted here when the script is"
    " loaded)"
)
HELPERS_REGION_END = "#endregion entra-standby common helpers"
HELPERS_MARKER = "# entra-standby-helpers: common"
"""First line of the helpers sent on their own: a batch defines them once, then runs each probe without its
copy (issue 13; see ``helpers_script``)."""

PROBE_NAMES: tuple[str, ...] = (
    "access",
    "scheduler",
    "service",
    "version",
    "tls",
    "os",
    "run-history",
    "connectors",
    "config",
    "pending-exports",
    "machine",
    "password-sync",
)
"""Every probe, in the order of docs/contracts.md section 1 (one per fact domain); ``access`` first, the
preflight that explains the others' access errors."""

DRILL_PROBES: tuple[str, ...] = ()
"""Probes the failover drill runs on their own (docs/contracts.md section 1), never in the audit batch.
(``password-sync`` was one; it joined the audit batch for the password-hash-sync and password-writeback
checks, and the drill still runs it on its own after a switch, with ``SinceUtc``.)"""

AUDIT_PARAMETERS: dict[str, dict[str, int]] = {"password-sync": {"MaxEvents": 5}}
"""Parameters of the audit batch's probes (``remoting.probe_calls`` default): the checks judge only the
newest heartbeat of each source, and every event read costs bytes per host."""

ACTION_NAMES: tuple[str, ...] = ("set-staging", "set-sync-cycle", "start-sync-cycle", "write-canary")
"""Every action (a script that changes a server), docs/contracts.md section 2."""

CONTRACT_PARAMETERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("probe", "access"): (),
    ("probe", "scheduler"): (),
    ("probe", "service"): ("ServiceName",),
    ("probe", "version"): (),
    ("probe", "tls"): (),
    ("probe", "os"): ("MaxUpdateHistory",),
    ("probe", "run-history"): ("NumberRequested",),
    ("probe", "connectors"): (),
    ("probe", "config"): (),
    ("probe", "pending-exports"): (),
    ("probe", "machine"): (),
    ("probe", "password-sync"): ("SinceUtc", "MaxEvents"),
    ("action", "set-staging"): ("Enabled",),
    ("action", "set-sync-cycle"): ("Enabled",),
    ("action", "start-sync-cycle"): ("PolicyType",),
    ("action", "write-canary"): ("UserPrincipalName", "Attribute", "Value"),
}
"""The parameter names the contract fixes per (kind, name); the lab recognises scripts by them."""

ScriptKind = Literal["probe", "action"]


class UnknownScriptError(EntraStandbyError, KeyError):
    """A probe or action name that the catalogue does not have."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


@dataclass(frozen=True)
class Script:
    """One probe or action: its name, kind, full text as shipped (a probe travels in its wire form) and
    ``param()`` names in order."""

    name: str
    kind: ScriptKind
    text: str
    parameters: tuple[str, ...]

    @property
    def marker(self) -> str:
        return marker_line(self.kind, self.name)


def marker_line(kind: ScriptKind, name: str) -> str:
    """The exact first line of a script: ``# entra-standby-probe: <name>`` or ``...-action: <name>``."""
    return f"# entra-standby-{kind}: {name}"


def load_probe(name: str) -> Script:
    """The probe ``name`` (one of ``PROBE_NAMES`` or ``DRILL_PROBES``); ``UnknownScriptError`` otherwise."""
    return _load("probe", name)


def load_action(name: str) -> Script:
    """The action ``name`` (one of ``ACTION_NAMES``); raises ``UnknownScriptError`` for anything else."""
    return _load("action", name)


@cache
def _load(kind: ScriptKind, name: str) -> Script:
    known = PROBE_NAMES + DRILL_PROBES if kind == "probe" else ACTION_NAMES
    if name not in known:
        raise UnknownScriptError(f"unknown {kind} '{name}'", fix=f"use one of: {', '.join(known)}")
    folder = "probes" if kind == "probe" else "actions"
    source = resources.files("entra_standby").joinpath(folder, f"{name}.ps1").read_text(encoding="utf-8-sig")
    text = with_helpers(source, _helpers(), where=f"{folder}/{name}.ps1")
    return Script(name=name, kind=kind, text=text, parameters=parameter_names(text))


@cache
def _helpers() -> str:
    return resources.files("entra_standby").joinpath("probes", "helpers", "common.ps1").read_text(
        encoding="utf-8-sig")


def with_helpers(source: str, helpers: str, *, where: str) -> str:
    """``source`` with its one empty helpers region filled with ``helpers``."""
    begin = HELPERS_REGION_BEGIN + "\n" + HELPERS_REGION_END
    if source.count(begin) != 1:
        raise EntraStandbyError(f"{where}: expected exactly one empty helpers region",
                                fix=f"put the two lines '{HELPERS_REGION_BEGIN}' and '{HELPERS_REGION_END}' "
                                    "after param(), with nothing between them")
    return source.replace(begin, HELPERS_REGION_BEGIN + "\n" + helpers + HELPERS_REGION_END, 1)


def helpers_script() -> str:
    """The shared helpers as one script of their own (marker line first, then ``common.ps1`` unchanged).

    Dot-sourced as the first statement of a batch it defines the helper functions once in the runspace's
    global scope, where every probe's own local scope finds them; it only defines functions, so it prints
    nothing and sets nothing else.
    """
    return HELPERS_MARKER + "\n" + _helpers()


def helpers_source() -> str:
    """``probes/helpers/common.ps1`` as shipped (what a client dot-sources before running the repository's
    scripts by hand, whose helpers regions are empty)."""
    return _helpers()


def without_helpers(text: str) -> str | None:
    """``text`` with its helpers region emptied again (as in the repository), if the region holds exactly
    the shipped helpers; None for any other text (it is then sent whole)."""
    filled = HELPERS_REGION_BEGIN + "\n" + _helpers() + HELPERS_REGION_END
    if text.count(filled) != 1:
        return None
    return text.replace(filled, HELPERS_REGION_BEGIN + "\n" + HELPERS_REGION_END, 1)


def needs_helpers(text: str) -> bool:
    """Whether ``text`` runs only where the helpers are already defined: it has an empty helpers region, or
    (its wire form, where the region's comment lines are left out: ``probes.wire``) it calls a shared
    helper that it does not define."""
    if (HELPERS_REGION_BEGIN + "\n" + HELPERS_REGION_END) in text:
        return True
    return _calls_undefined_helper(text)


_HELPER_NAME = re.compile(r"(?<![\w-])([A-Z][a-z]+-Es[A-Za-z]+)(?![\w-])")
_FUNCTION = re.compile(r"(?im)^[ \t]*function[ \t]+([\w-]+)")


@cache
def _helper_names() -> frozenset[str]:
    return frozenset(_FUNCTION.findall(_helpers()))


@lru_cache(maxsize=256)
def _calls_undefined_helper(text: str) -> bool:
    called = set(_HELPER_NAME.findall(text)) & _helper_names()
    return bool(called - set(_FUNCTION.findall(text)))


_PARAM_KEYWORD = re.compile(r"(?im)^\s*param\s*\(")
_VARIABLE = re.compile(r"\$(\w+)")


def parameter_names(text: str) -> tuple[str, ...]:
    """Names declared in the script-level ``param(...)`` block, in order (empty if there is none).

    Comments and quoted strings are skipped, so ``[ValidateSet('a','b')]`` and defaults never add names;
    inside a ``param()`` block every remaining ``$name`` is a parameter.
    """
    match = _PARAM_KEYWORD.search(_strip_comments(text))
    if match is None:
        return ()
    body = _balanced_body(_strip_comments(text), match.end())
    names: list[str] = []
    for found in _VARIABLE.finditer(_blank_strings(body)):
        if found.group(1) not in names:
            names.append(found.group(1))
    return tuple(names)


def _strip_comments(text: str) -> str:
    text = re.sub(r"<#.*?#>", "", text, flags=re.S)
    return "\n".join(_blank_line_comment(line) for line in text.splitlines())


def _blank_line_comment(line: str) -> str:
    quote: str | None = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def _blank_strings(text: str) -> str:
    return re.sub(r"'[^']*'|\"[^\"]*\"", "''", text)


def _balanced_body(text: str, start: int) -> str:
    depth = 1
    quote: str | None = None
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[start:i]
    return text[start:]
