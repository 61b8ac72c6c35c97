"""Transport fault injection, settable at run time from any thread.

All faults default off. ``down`` is special: the server subscribes to it so that setting it closes the
listeners (and every open connection) and clearing it reopens them on the same ports.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

#: Every WS-Man short action name the server understands; ``"*"`` in a set matches all of them.
ACTIONS = frozenset({"Create", "Receive", "Command", "Send", "Signal", "Delete", "Get", "Enumerate"})


def _action_set(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):  # a lone "Receive" would otherwise become a set of letters
        value = (value,)
    names = frozenset(value)
    unknown = names - ACTIONS - {"*"}
    if unknown:
        raise ValueError(f"unknown WS-Man action(s) {sorted(unknown)}; use {sorted(ACTIONS)} or '*'")
    return names


class TransportFaults:
    """What the wire should do wrong. Thread-safe; changes take effect on the next request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._down = False
        self._stall: frozenset[str] = frozenset()
        self._latency_ms = 0
        self._http500: frozenset[str] = frozenset()
        self._drop: frozenset[str] = frozenset()
        self._drop_budget: dict[str, int] = {}
        self._auth_fail = False
        self._down_listeners: list[Callable[[bool], None]] = []

    # -- down -------------------------------------------------------------------------------------------
    @property
    def down(self) -> bool:
        with self._lock:
            return self._down

    @down.setter
    def down(self, value: bool) -> None:
        with self._lock:
            changed = self._down != bool(value)
            self._down = bool(value)
            listeners = list(self._down_listeners)
            self._changed.notify_all()
        if changed:
            for listener in listeners:
                listener(bool(value))

    def subscribe_down(self, listener: Callable[[bool], None]) -> None:
        with self._lock:
            self._down_listeners.append(listener)

    def unsubscribe_down(self, listener: Callable[[bool], None]) -> None:
        with self._lock:
            if listener in self._down_listeners:
                self._down_listeners.remove(listener)

    # -- per-action faults --------------------------------------------------------------------------------
    @property
    def stall(self) -> frozenset[str]:
        with self._lock:
            return self._stall

    @stall.setter
    def stall(self, value: Iterable[str]) -> None:
        names = _action_set(value)
        with self._lock:
            self._stall = names
            self._changed.notify_all()

    @property
    def http500(self) -> frozenset[str]:
        with self._lock:
            return self._http500

    @http500.setter
    def http500(self, value: Iterable[str]) -> None:
        names = _action_set(value)
        with self._lock:
            self._http500 = names

    @property
    def drop(self) -> frozenset[str]:
        with self._lock:
            return self._drop

    @drop.setter
    def drop(self, value: Iterable[str]) -> None:
        names = _action_set(value)
        with self._lock:
            self._drop = names

    def drop_once(self, action: str, count: int = 1) -> None:
        """Drop only the next ``count`` requests of ``action`` (added to any budget already set)."""
        (name,) = _action_set((action,))
        with self._lock:
            self._drop_budget[name] = self._drop_budget.get(name, 0) + count

    @property
    def latency_ms(self) -> int:
        with self._lock:
            return self._latency_ms

    @latency_ms.setter
    def latency_ms(self, value: int) -> None:
        if value < 0:
            raise ValueError("latency_ms must be >= 0")
        with self._lock:
            self._latency_ms = int(value)

    @property
    def auth_fail(self) -> bool:
        with self._lock:
            return self._auth_fail

    @auth_fail.setter
    def auth_fail(self, value: bool) -> None:
        with self._lock:
            self._auth_fail = bool(value)

    def clear(self) -> None:
        """Switch every fault off (reopening the listeners if they were down)."""
        with self._lock:
            self._stall = frozenset()
            self._latency_ms = 0
            self._http500 = frozenset()
            self._drop = frozenset()
            self._drop_budget.clear()
            self._auth_fail = False
            self._changed.notify_all()
        self.down = False

    # -- used by the server ---------------------------------------------------------------------------------
    def should_drop(self, action: str) -> bool:
        with self._lock:
            if action in self._drop or "*" in self._drop:
                return True
            for key in (action, "*"):
                if self._drop_budget.get(key, 0) > 0:
                    self._drop_budget[key] -= 1
                    return True
            return False

    def answers_500(self, action: str) -> bool:
        with self._lock:
            return action in self._http500 or "*" in self._http500

    def is_stalled(self, action: str) -> bool:
        with self._lock:
            return action in self._stall or "*" in self._stall

    def wait_while_stalled(self, action: str, give_up: Callable[[], bool], poll_s: float = 0.1) -> bool:
        """Block while ``action`` is stalled. Returns False if ``give_up()`` became true first."""
        with self._lock:
            while action in self._stall or "*" in self._stall:
                if give_up():
                    return False
                self._changed.wait(poll_s)
            return True
