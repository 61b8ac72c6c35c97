"""Faults armed on one step of a drill: the next call of a named probe, action or cmdlet meets a transport
fault, either instead of running (``before``) or after it ran, so its answer is lost (``after``).

``after`` is the dangerous case for a switch: the server changed (a staging flag flipped) but the caller
never heard. The wire carries the loss out (``PipelineResult.transport_fault``); ``down`` closes the
server's listeners through a hook the lab installs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import NamedTuple

STEP_FAULTS = ("down", "stall", "http500", "drop")
STEP_WHEN = ("before", "after")


class FiredFault(NamedTuple):
    """One armed fault that went off: on which call name, what, and when."""

    on: str
    fault: str
    when: str


@dataclass
class _Armed:
    on: str
    fault: str
    when: str
    remaining: int


class StepFaults:
    """Armed faults of one server; thread-safe. Names match case-insensitively; ``*`` matches any call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []
        self._fired: list[FiredFault] = []

    def arm(self, on: str, fault: str, when: str, times: int) -> None:
        if fault not in STEP_FAULTS:
            raise ValueError(f"unknown step fault '{fault}'; use one of {', '.join(STEP_FAULTS)}")
        if when not in STEP_WHEN:
            raise ValueError(f"unknown when '{when}'; use 'before' or 'after'")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._armed.append(_Armed(on.strip().lower(), fault, when, times))

    def take(self, names: set[str], when: str) -> str | None:
        """The fault to apply now to a call of any of ``names`` (one use of it is spent), or None."""
        with self._lock:
            for armed in self._armed:
                if armed.when == when and (armed.on == "*" or armed.on in names):
                    armed.remaining -= 1
                    if armed.remaining <= 0:
                        self._armed.remove(armed)
                    self._fired.append(FiredFault(armed.on, armed.fault, when))
                    return armed.fault
            return None

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    @property
    def armed(self) -> int:
        with self._lock:
            return sum(a.remaining for a in self._armed)

    @property
    def fired(self) -> list[FiredFault]:
        with self._lock:
            return list(self._fired)
