"""What the lab's wire refuses, or honours, the way a real WinRM server does (unmodified pypsrp as client)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from pypsrp.exceptions import InvalidPSRPOperation, WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from wire_helpers import WireTestEngine, running_server, wsman

from entra_standby.lab.engine import Invocation, PipelineResult
from entra_standby.lab.wire import WSManServer


class TimedEngine(WireTestEngine):
    """Records when each pipeline ran (monotonic start and end) to see whether two of them overlapped."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: dict[str, tuple[float, float]] = {}

    def invoke(self, invocation: Invocation, cancel: threading.Event) -> PipelineResult:
        started = time.monotonic()
        result = super().invoke(invocation, cancel)
        self.spans[invocation.pipeline_id] = (started, time.monotonic())
        return result


@pytest.fixture(scope="module")
def engine() -> TimedEngine:
    return TimedEngine()


@pytest.fixture(scope="module")
def srv(engine: TimedEngine) -> Iterator[WSManServer]:
    with running_server(engine, name="refusals") as server:
        yield server


def _sleeper(pool: RunspacePool, label: str) -> PowerShell:
    ps = PowerShell(pool)
    ps.add_cmdlet("Start-Sleep").add_parameter("Milliseconds", 1000).add_statement()
    ps.add_cmdlet("Write-Output").add_parameter("InputObject", label)
    ps.begin_invoke()
    return ps


def _two_at_once(srv: WSManServer, engine: TimedEngine, max_runspaces: int) -> tuple[float, float, float]:
    with RunspacePool(wsman(srv), max_runspaces=max_runspaces) as pool:
        first, second = _sleeper(pool, "first"), _sleeper(pool, "second")
        assert second.end_invoke() == ["second"] and first.end_invoke() == ["first"]
    first_span, second_span = engine.spans[first.id.upper()], engine.spans[second.id.upper()]
    return first_span[1], second_span[0], second_span[1]


def test_a_one_runspace_pool_queues_the_second_pipeline(srv: WSManServer, engine: TimedEngine) -> None:
    first_end, second_start, _ = _two_at_once(srv, engine, max_runspaces=1)
    assert second_start >= first_end  # it waited for the only runspace, then ran


def test_a_two_runspace_pool_runs_both_at_once(srv: WSManServer, engine: TimedEngine) -> None:
    first_end, second_start, _ = _two_at_once(srv, engine, max_runspaces=2)
    assert second_start < first_end


def test_raising_max_runspaces_starts_a_queued_pipeline(srv: WSManServer, engine: TimedEngine) -> None:
    with RunspacePool(wsman(srv), max_runspaces=1) as pool:
        first, second = _sleeper(pool, "first"), _sleeper(pool, "second")
        pool.max_runspaces = 2  # SET_MAX_RUNSPACES while the second waits
        assert second.end_invoke() == ["second"] and first.end_invoke() == ["first"]
        assert engine.spans[second.id.upper()][0] < engine.spans[first.id.upper()][1]


def test_get_command_metadata_is_refused_at_once_and_the_pool_lives_on(srv: WSManServer) -> None:
    with RunspacePool(wsman(srv)) as pool:
        started = time.monotonic()
        with pytest.raises(WSManFaultError) as fault:
            pool.get_command_metadata("Get-ADSyncScheduler")
        assert time.monotonic() - started < 10  # behaviour bound: an answer, not a hang
        assert fault.value.code == 0x80004001 and "GetCommandMetadata" in str(fault.value.reason)
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Output").add_parameter("InputObject", "still here")
        assert ps.invoke() == ["still here"]


def test_an_unknown_configuration_name_is_not_in_the_catalog(srv: WSManServer) -> None:
    with pytest.raises(WSManFaultError) as fault:
        RunspacePool(wsman(srv), configuration_name="Microsoft.Exchange").open()
    assert fault.value.code == 2150858811
    uri = "http://schemas.microsoft.com/powershell/Microsoft.Exchange"
    assert f"({uri}) was not found in the WS-Management catalog" in str(fault.value.reason)
    assert not srv._app.dispatcher.shells.list()  # nothing was created


def test_the_default_configuration_matches_in_any_case(srv: WSManServer) -> None:
    with RunspacePool(wsman(srv), configuration_name="microsoft.powershell") as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Output").add_parameter("InputObject", "ok")
        assert ps.invoke() == ["ok"]


def test_pool_size_changes_are_refused_where_a_runspace_pool_refuses_them(srv: WSManServer) -> None:
    with RunspacePool(wsman(srv), min_runspaces=1, max_runspaces=2) as pool:
        with pytest.raises(InvalidPSRPOperation, match="maximum"):
            pool.max_runspaces = 0  # below the minimum
        with pytest.raises(InvalidPSRPOperation, match="minimum"):
            pool.min_runspaces = 3  # above the maximum
        with pytest.raises(InvalidPSRPOperation, match="reset"):
            pool.reset_runspace_state()  # only a single-runspace pool resets
        pool.max_runspaces = 1
        pool.reset_runspace_state()
        assert pool.get_available_runspaces() == 1


def test_a_shell_beyond_the_users_quota_is_refused_until_one_closes(srv: WSManServer) -> None:
    from entra_standby.lab.wire.shells import MAX_SHELLS_PER_USER

    pools = []
    try:
        for _ in range(MAX_SHELLS_PER_USER):
            pool = RunspacePool(wsman(srv))
            pool.open()
            pools.append(pool)
        with pytest.raises(WSManFaultError) as fault:
            RunspacePool(wsman(srv)).open()
        assert fault.value.code == 2150859173
        assert f"maximum number of {MAX_SHELLS_PER_USER} concurrent shells" in str(fault.value.reason)
        pools.pop().close()
        with RunspacePool(wsman(srv)) as pool:  # a slot is free again
            ps = PowerShell(pool)
            ps.add_cmdlet("Write-Output").add_parameter("InputObject", "ok")
            assert ps.invoke() == ["ok"]
    finally:
        for pool in pools:
            pool.close()
