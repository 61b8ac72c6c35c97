"""Requests the lab directory answered, by kind (bind, search, refused): for tests and summaries."""

from __future__ import annotations

import threading
from collections import Counter


class DirectoryCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def count(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"total": sum(self._counts.values()), **self._counts}
