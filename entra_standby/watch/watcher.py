"""``Watcher``: poll every pair of an inventory on an interval, each on its own; keep the latest views.

One thread per pair: polls of one pair never overlap (the next starts ``interval_s`` after the previous one
started, or at once if it overran), pairs never wait for each other, and the shared ``HostGate`` keeps a
host that is still answering an earlier, overrun poll from getting a second session. A pair's first poll
starts at once; transitions are named by the pair's ``PairTracker`` and logged once when they appear.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..inventory import Inventory, PairEntry, ServerEntry
from .poll import HostGate, default_deadline, poll_pair
from .status import PairTracker, PairView, view_of

__all__ = ["Watcher"]

log = logging.getLogger(__name__)


@dataclass
class _PairState:
    entry: PairEntry
    tracker: PairTracker
    deadline_s: float
    view: PairView | None = None
    polls: int = 0
    failures: int = 0
    last_error: str | None = None
    poll_started: float | None = None  # monotonic start of the poll in progress
    last_finished: float | None = None  # monotonic end of the last poll
    thread: threading.Thread | None = None


class Watcher:
    """Polls the pairs of ``inventory`` until ``stop()``; ``views()`` is safe to call from any thread."""

    def __init__(self, inventory: Inventory, *, interval_s: float, deadline_s: float | None = None,
                 session_factory: Callable[[ServerEntry], Any] | None = None,
                 on_view: Callable[[PairView], None] | None = None) -> None:
        self.inventory = inventory
        self.interval_s = interval_s
        self.gate = HostGate()
        self._session_factory = session_factory
        self._on_view = on_view
        self._stop = threading.Event()
        self._pairs = {p.name: _PairState(p, PairTracker(),
                                          deadline_s if deadline_s is not None else default_deadline(p))
                       for p in inventory.pairs}

    @property
    def pair_names(self) -> list[str]:
        return list(self._pairs)

    def start(self) -> None:
        for state in self._pairs.values():
            state.thread = threading.Thread(target=self._run, args=(state,), name=f"watch-{state.entry.name}",
                                            daemon=True)
            state.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling; waits at most ``timeout`` in all (a poll stuck on a hung host is a daemon thread)."""
        self._stop.set()
        until = time.monotonic() + timeout
        for state in self._pairs.values():
            if state.thread is not None:
                state.thread.join(max(0.0, until - time.monotonic()))

    def views(self) -> list[PairView | None]:
        return [state.view for state in self._pairs.values()]

    def poll_once(self, name: str) -> PairView:
        """One poll of one pair, now, in this thread (the one-shot check uses it)."""
        return self._poll(self._pairs[name])

    def _run(self, state: _PairState) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._poll(state)
            except Exception as exc:  # a bug in one pair's poll must not stop its polling, nor another pair's
                state.failures += 1
                state.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("%s: poll failed", state.entry.name)
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def _poll(self, state: _PairState) -> PairView:
        state.poll_started = time.monotonic()
        try:
            poll = poll_pair(state.entry, gate=self.gate, deadline_s=state.deadline_s,
                             session_factory=self._session_factory)
            previous: set[str] = {c.name for c in state.view.conditions} if state.view else set()
            conditions = state.tracker.update(poll.pair, poll.names)
            view = view_of(poll, conditions)
        finally:
            state.poll_started = None
            state.last_finished = time.monotonic()
        now = {c.name: c for c in conditions}
        for name in sorted(set(now) - previous):  # logged when they appear and clear, not on every poll
            log.warning("%s: %s: %s", state.entry.name, name, now[name].message)
        for name in sorted(previous - set(now)):
            log.info("%s: %s cleared", state.entry.name, name)
        state.view, state.polls, state.last_error = view, state.polls + 1, None
        if self._on_view is not None:
            self._on_view(view)
        return view

    def health(self) -> tuple[bool, str]:
        """Healthy while every pair's poller runs and has finished a poll within two intervals plus its
        deadline; the text names each pair's state."""
        now = time.monotonic()
        lines: list[str] = []
        healthy = True
        for name, state in self._pairs.items():
            alive = state.thread is not None and state.thread.is_alive()
            limit = 2 * self.interval_s + state.deadline_s
            if not alive and not self._stop.is_set():
                healthy = False
                lines.append(f"{name}: poller not running")
            elif state.last_finished is None:
                healthy = False
                lines.append(f"{name}: no poll finished yet")
            elif now - state.last_finished > limit:
                healthy = False
                lines.append(f"{name}: last poll finished {now - state.last_finished:.0f} s ago "
                             f"(more than {limit:g} s)")
            elif state.last_error is not None:
                healthy = False
                lines.append(f"{name}: last poll failed: {state.last_error}")
            else:
                verdict = state.view.verdict if state.view else "?"
                lines.append(f"{name}: ok ({state.polls} polls, verdict {verdict})")
        return healthy, ("ok" if healthy else "unhealthy") + "\n" + "\n".join(lines)
