"""How the staging flag is changed: the switch methods an inventory may name, and their support status.

There is deliberately no default (reference §1.2, §1.2a): the only method Microsoft documents is the
wizard; scripting the flag through global settings is community-proven but undocumented; the ADSyncTools
cmdlets work only on builds that still depend on MSOnline. The operator chooses, in writing, per pair.
Whatever the method, the engine proves the effect by re-reading ``Get-ADSyncScheduler`` afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..errors import DrillError
from ..rules.versions import parse_version, require_version
from .hostops import ServerOps

__all__ = [
    "METHODS",
    "Operator",
    "SwitchMethod",
    "choices_text",
    "method_for",
    "wizard_instruction",
]


class Operator(Protocol):
    """The person at the console (wizard method): told exactly what to do, on which server."""

    def instruct(self, server: str, text: str) -> None: ...


@dataclass(frozen=True)
class MethodInfo:
    name: str
    support: str


METHODS: dict[str, MethodInfo] = {
    "wizard": MethodInfo(
        "wizard",
        "Microsoft's only documented way (Entra Connect wizard > Configure staging mode): at each switch the "
        "tool tells the operator exactly what to change on which server, waits (bounded) and verifies; "
        "everything else stays automated. Not for unattended drills."),
    "global-settings": MethodInfo(
        "global-settings",
        "scripted through Get/Set-ADSyncGlobalSettings 'Microsoft.Synchronize.StagingMode': undocumented by "
        "Microsoft, community-proven; needed for unattended scheduled drills. Get change approval for it."),
    "adsynctools": MethodInfo(
        "adsynctools",
        "Enable-/Disable-ADSyncToolsStagingMode (ADSyncTools 2.1+): Microsoft documents them only as a "
        "workaround on builds that still depend on MSOnline, i.e. older than 2.5.79.0; refused on newer "
        "builds."),
}

ADSYNCTOOLS_LAST_BUILD = (2, 5, 79, 0)
"""Builds from this one on do not depend on MSOnline, where the ADSyncTools staging cmdlets are documented
not to work (reference §1.2a); since it is also the supported floor, the method is refused on every build the
audit accepts."""


def choices_text() -> str:
    lines = ["choose one per pair in the inventory, e.g. `drill: {method: global-settings}`:"]
    lines += [f"  - {info.name}: {info.support}" for info in METHODS.values()]
    return "\n".join(lines)


def wizard_instruction(host: str, enabled: bool) -> str:
    """The exact wizard steps to set ``host``'s staging flag to ``enabled`` (reference §1.2)."""
    box = "TICK" if enabled else "UNTICK"
    return (
        f"On {host}: open Microsoft Entra Connect > Configure > Configure staging mode > Next; sign in as a "
        f"Hybrid Identity Administrator; {box} 'Enable staging mode' > Next; on the last page UNTICK 'Start "
        "the synchronization process when configuration completes' (the tool starts the cycle itself) > "
        "Configure, then close the wizard (an open wizard keeps the scheduler suspended). "
        f"The tool then re-reads Get-ADSyncScheduler on {host} until StagingModeEnabled is {enabled}."
    )


class SwitchMethod:
    """Changes one server's staging flag. The engine verifies the effect itself afterwards."""

    name = "?"

    def set_staging(self, ops: ServerOps, enabled: bool) -> None:
        raise NotImplementedError


class GlobalSettingsMethod(SwitchMethod):
    name = "global-settings"

    def set_staging(self, ops: ServerOps, enabled: bool) -> None:
        ops.act("set-staging", Enabled=enabled)


class WizardMethod(SwitchMethod):
    """The operator flips the flag in the wizard; the tool waits, bounded, and re-reads."""

    name = "wizard"

    def __init__(self, operator: Operator | None, timeout_s: float, poll_s: float,
                 progress: Callable[[str], None], sleep: Callable[[float], None] = time.sleep) -> None:
        self._operator = operator
        self._timeout_s = timeout_s
        self._poll_s = poll_s
        self._progress = progress
        self._sleep = sleep

    def set_staging(self, ops: ServerOps, enabled: bool) -> None:
        if self._operator is None:
            raise DrillError("the wizard method needs an operator at the console; this run has none",
                             fix="run it from `entra-standby switch` in a terminal, or choose "
                                 "global-settings")
        self._operator.instruct(ops.host, wizard_instruction(ops.host, enabled))
        deadline = time.monotonic() + self._timeout_s
        t0 = time.monotonic()
        while True:
            try:
                view = ops.read(f"wait for the operator to set staging={enabled}")
                if view.staged == enabled and not view.scheduler.scheduler_suspended:
                    return
            except DrillError:
                raise
            except Exception as exc:  # a failed read while waiting is retried until the bound
                self._progress(f"{ops.host}: read failed while waiting for the operator ({exc})")
            if time.monotonic() >= deadline:
                raise DrillError(
                    f"{ops.host}: the operator's switch to staging={enabled} was not seen within "
                    f"{self._timeout_s:g} s (or the wizard is still open: the scheduler stays suspended)",
                    fix=f"finish the wizard on {ops.host} as instructed, or abort")
            self._progress(f"waiting for the operator on {ops.host}: staging={enabled} "
                           f"({time.monotonic() - t0:.0f} s of {self._timeout_s:g} s)")
            self._sleep(self._poll_s)


def method_for(name: str | None, *, versions: dict[str, str | None], operator: Operator | None,
               timeout_s: float, poll_s: float, progress: Callable[[str], None],
               sleep: Callable[[float], None] = time.sleep) -> SwitchMethod:
    """The method the pair names, or ``DrillError`` explaining why it cannot be used here."""
    if name is None:
        raise DrillError("no switch method is configured for this pair, and there is no default",
                         fix=choices_text())
    if name == "global-settings":
        return GlobalSettingsMethod()
    if name == "wizard":
        return WizardMethod(operator, timeout_s, poll_s, progress, sleep)
    if name == "adsynctools":
        floor = require_version(".".join(str(n) for n in ADSYNCTOOLS_LAST_BUILD))
        too_new = {h: v for h, v in versions.items()
                   if v is None or (parsed := parse_version(v)) is None or parsed >= floor}
        detail = ", ".join(f"{h} {v or 'unknown build'}" for h, v in too_new.items())
        raise DrillError(
            f"method adsynctools refused: the ADSyncTools staging cmdlets are documented to work only on "
            f"builds older than 2.5.79.0 that still depend on MSOnline ({detail or 'no build older'}); "
            "the wizard is the supported way on these builds",
            fix=choices_text())
    raise DrillError(f"unknown switch method {name!r}", fix=choices_text())
