"""What the cloud stand-in should do wrong, per path class, and the log of what it was asked.

Path classes: ``discovery`` (OIDC metadata), ``token``, ``organization`` (v1.0 and beta), ``users``, and
``graph`` (both Graph classes). Fault kinds:

* ``invalid_client`` (token only): 401 ``invalid_client`` AADSTS7000215, whatever the credential;
* ``forbidden`` (Graph only): 403 ``Authorization_RequestDenied``, as if the app lacked the permission;
* ``server_error``: HTTP ``status`` (default 503) with the class's error envelope;
* ``throttle``: 429 with ``Retry-After: retry_after``;
* ``stall``: answer nothing for ``seconds`` (then answer normally, if the client still listens).

``times`` limits a fault to that many requests (None: until cleared). Thread-safe; changes apply to the
next request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

PATH_CLASSES = frozenset({"discovery", "token", "organization", "users", "graph"})
_GRAPH_CLASSES = frozenset({"organization", "users", "graph"})
FAULT_KINDS = frozenset({"invalid_client", "forbidden", "server_error", "throttle", "stall"})


@dataclass
class CloudFault:
    kind: str
    status: int = 503
    retry_after: int | None = None
    seconds: float = 30.0
    times: int | None = None


class CloudFaults:
    """Faults by path class; ``set`` replaces the class's fault, ``clear`` removes one or all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, CloudFault] = {}

    def set(self, path_class: str, kind: str, *, status: int = 503, retry_after: int | None = None,
            seconds: float = 30.0, times: int | None = None) -> None:
        if path_class not in PATH_CLASSES:
            raise ValueError(f"unknown path class {path_class!r}; use one of {sorted(PATH_CLASSES)}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown cloud fault {kind!r}; use one of {sorted(FAULT_KINDS)}")
        if kind == "invalid_client" and path_class != "token":
            raise ValueError("invalid_client applies to the token path class only")
        if kind == "forbidden" and path_class not in _GRAPH_CLASSES:
            raise ValueError("forbidden applies to Graph path classes only (organization, users, graph)")
        if kind == "server_error" and not 500 <= status <= 599:
            raise ValueError(f"server_error needs a 5xx status, not {status}")
        if kind == "throttle" and retry_after is None:
            retry_after = 1
        with self._lock:
            self._faults[path_class] = CloudFault(kind, status, retry_after, seconds, times)

    def clear(self, path_class: str | None = None) -> None:
        with self._lock:
            if path_class is None:
                self._faults.clear()
            else:
                self._faults.pop(path_class, None)

    def active(self) -> dict[str, CloudFault]:
        with self._lock:
            return dict(self._faults)

    def take(self, path_class: str) -> CloudFault | None:
        """The fault for a request of ``path_class`` (its own, else ``graph`` for Graph classes); uses one."""
        with self._lock:
            for name in (path_class, "graph") if path_class in _GRAPH_CLASSES else (path_class,):
                fault = self._faults.get(name)
                if fault is None:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        del self._faults[name]
                return CloudFault(fault.kind, fault.status, fault.retry_after, fault.seconds)
            return None


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    path_class: str
    status: int
    client_id: str | None = None


class CloudCounters:
    """Every request the stand-in answered (the log tests read to prove token reuse and retries)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def record(self, entry: RequestRecord) -> None:
        with self._lock:
            self._records.append(entry)

    @property
    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def count(self, path_class: str | None = None, *, method: str | None = None,
              status: int | None = None) -> int:
        """Requests matching every given filter (``graph`` matches organization and users)."""
        classes = _GRAPH_CLASSES if path_class == "graph" else {path_class}
        with self._lock:
            return sum(1 for r in self._records
                       if (path_class is None or r.path_class in classes)
                       and (method is None or r.method == method)
                       and (status is None or r.status == status))

    @property
    def total(self) -> int:
        return self.count()

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
