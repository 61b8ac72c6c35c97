"""Request counters of one lab server (what the bench and the fault tests read)."""

from __future__ import annotations

import threading
from typing import Any


class RequestCounters:
    """Counts HTTP requests: in total, per WS-Man short action, per HTTP status, and auth round trips.

    ``auth_requests`` counts requests that were part of an authentication handshake: every request answered
    401 plus every request that carried a Negotiate/NTLM token (Basic credentials sent up front on each
    request are not a handshake and are not counted).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.by_action: dict[str, int] = {}
        self.by_status: dict[int, int] = {}
        self.auth_requests = 0

    def count_request(self) -> None:
        with self._lock:
            self.total += 1

    def count_action(self, action: str) -> None:
        with self._lock:
            self.by_action[action] = self.by_action.get(action, 0) + 1

    def count_status(self, status: int) -> None:
        with self._lock:
            self.by_status[status] = self.by_status.get(status, 0) + 1

    def count_auth(self) -> None:
        with self._lock:
            self.auth_requests += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"total": self.total, "by_action": dict(self.by_action), "by_status": dict(self.by_status),
                    "auth_requests": self.auth_requests}

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.by_action = {}
            self.by_status = {}
            self.auth_requests = 0
