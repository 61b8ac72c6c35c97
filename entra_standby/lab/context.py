"""What the servers of one lab share: the tenant, the on-premises directory, and the staging-change log."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from .state import ServerState
from .tenant import SimulatedTenant
from .timefmt import utc_now


class StagingChange(NamedTuple):
    """One write of a server's staging flag (``initial`` rows record the state at lab start)."""

    monotonic_ns: int
    utc: datetime
    server: str
    staging_enabled: bool


class StagingLog:
    """Every staging-flag write of the lab, in the order they took effect.

    The flag is changed *inside* this log's lock, so the log order is the real order: replaying it proves
    whether two servers were ever un-staged at the same moment.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[StagingChange] = []

    def record(self, state: ServerState, enabled: bool,
               guard: Callable[[], None] | None = None) -> StagingChange:
        """Set ``state.staging`` to ``enabled`` and log it, atomically with respect to other servers.

        ``guard`` runs inside the same locks just before the write and refuses it by raising (a cycle that
        is running, a suspended scheduler): checked and written in one step, so nothing starts in between.
        """
        with self._lock, state.lock:
            if guard is not None:
                guard()
            changed = state.staging != enabled
            state.staging = enabled
            entry = StagingChange(time.monotonic_ns(), utc_now(), state.name, enabled)
            self._entries.append(entry)
            if changed:
                state.staging_changed(enabled, entry.utc)
            return entry

    @property
    def entries(self) -> list[StagingChange]:
        with self._lock:
            return list(self._entries)

    def max_unstaged_at_once(self) -> int:
        """The largest number of servers that were un-staged (exporting) at any one moment."""
        unstaged: set[str] = set()
        most = 0
        for entry in self.entries:
            if entry.staging_enabled:
                unstaged.discard(entry.server)
            else:
                unstaged.add(entry.server)
            most = max(most, len(unstaged))
        return most


@dataclass
class OnPremDirectory:
    """The on-premises AD both servers import from: just the canary users' attributes that exports carry."""

    users: dict[str, dict[str, str | None]] = field(default_factory=dict)  # keyed by lower-case UPN
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_user(self, upn: str) -> None:
        with self.lock:
            self.users.setdefault(upn.lower(), {})

    def has_user(self, upn: str) -> bool:
        with self.lock:
            return upn.lower() in self.users

    def set_attribute(self, upn: str, attribute: str, value: str | None) -> None:
        with self.lock:
            self.users.setdefault(upn.lower(), {})[attribute] = value

    def snapshot(self) -> dict[str, dict[str, str | None]]:
        with self.lock:
            return {upn: dict(attributes) for upn, attributes in self.users.items()}


@dataclass
class LabContext:
    """Shared by every engine of one lab."""

    start: datetime
    staging_log: StagingLog = field(default_factory=StagingLog)
    tenant: SimulatedTenant | None = None
    directory: OnPremDirectory = field(default_factory=OnPremDirectory)
    cycle_duration_s: float = 2.0
    stopping: threading.Event = field(default_factory=threading.Event)
