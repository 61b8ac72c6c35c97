"""How many hosts gather runs at once (issue 13): a configurable cap, and never more threads than the cap."""

from __future__ import annotations

import functools
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from entra_standby.errors import EntraStandbyError
from entra_standby.gather import (
    MAX_PARALLEL_ENV,
    MAX_PARALLEL_HOSTS,
    _BoundedRunner,
    gather,
    max_parallel_hosts,
)
from entra_standby.inventory import Inventory, ServerEntry, inventory_from_dict


def _gather_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "gather")


def test_the_runner_never_starts_more_threads_than_its_workers() -> None:
    lock = threading.Lock()
    running, peak, threads = [0], [0], [0]

    def job(i: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            threads[0] = max(threads[0], _gather_threads())
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return i

    runner = _BoundedRunner(3)
    jobs = [runner.submit(functools.partial(job, i), 10.0) for i in range(20)]
    assert _gather_threads() <= 3  # queued jobs wait without a thread of their own
    runner.wait()
    assert [j.result for j in jobs] == list(range(20)) and all(j.finished for j in jobs)
    assert peak[0] == 3 and threads[0] <= 3


def test_a_late_job_is_left_behind_and_the_rest_still_run() -> None:
    release = threading.Event()
    runner = _BoundedRunner(2)
    late = runner.submit(lambda: release.wait(5), 0.2)
    quick = [runner.submit(functools.partial(int, i), 5.0) for i in range(5)]
    started = time.monotonic()
    runner.wait()
    release.set()
    assert not late.finished and all(j.finished for j in quick)
    assert time.monotonic() - started < 4  # did not wait for the late job's 5 s


def test_a_job_error_is_raised_by_wait() -> None:
    runner = _BoundedRunner(2)

    def boom() -> None:
        raise ValueError("a bug")

    runner.submit(boom, 5.0)
    with pytest.raises(ValueError, match="a bug"):
        runner.wait()


def test_the_cap_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_PARALLEL_ENV, raising=False)
    assert max_parallel_hosts() == MAX_PARALLEL_HOSTS >= 100  # a 50-pair run all in flight
    monkeypatch.setenv(MAX_PARALLEL_ENV, " 7 ")
    assert max_parallel_hosts() == 7


@pytest.mark.parametrize("value", ["0", "-3", "many", "1.5", "5000"])
def test_a_bad_cap_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(MAX_PARALLEL_ENV, value)
    with pytest.raises(EntraStandbyError) as caught:
        max_parallel_hosts()
    assert MAX_PARALLEL_ENV in str(caught.value) and "\n" not in str(caught.value)


def _inventory(pairs: int) -> Inventory:
    raw = {"pairs": [{"name": f"p{i}", "connection": {"auth": "ntlm", "username": "LAB\\auditor",
                                                       "password": "pw", "ssl": False},
                      "servers": [{"host": f"127.0.{i}.1", "role": "active"},
                                  {"host": f"127.0.{i}.2", "role": "standby"}]} for i in range(pairs)]}
    return inventory_from_dict(raw, path=Path("parallel.yml"))


class _Session:
    """A host session that only counts how many hosts are open at once (no host is contacted)."""

    lock = threading.Lock()
    running = 0
    peak = 0

    def __init__(self, server: ServerEntry) -> None:
        self.server = server

    def __enter__(self) -> _Session:
        with _Session.lock:
            _Session.running += 1
            _Session.peak = max(_Session.peak, _Session.running)
        time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        with _Session.lock:
            _Session.running -= 1

    def run_probes(self, calls: Any) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize(("env", "expected_peak"), [("2", 2), (None, 8)])
def test_gather_uses_the_configured_cap(monkeypatch: pytest.MonkeyPatch, env: str | None,
                                        expected_peak: int) -> None:
    if env is None:
        monkeypatch.delenv(MAX_PARALLEL_ENV, raising=False)
    else:
        monkeypatch.setenv(MAX_PARALLEL_ENV, env)
    _Session.running = _Session.peak = 0
    run = gather(_inventory(4), session_factory=_Session)
    assert len(run.hosts) == 8
    assert _Session.peak == expected_peak  # default: every host of the run in flight at once


def test_a_bad_cap_stops_gather_before_any_host_is_contacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_PARALLEL_ENV, "0")
    _Session.running = _Session.peak = 0
    with pytest.raises(EntraStandbyError):
        gather(_inventory(1), session_factory=_Session)
    assert _Session.peak == 0
