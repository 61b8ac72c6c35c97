"""The cases third-party clients met, through unmodified clients against a served lab.

pypsrp (RunspacePool/PowerShell and Client.execute_ps), tests/lab/plain_client.py (a separate process that
knows nothing of entra_standby) and psrpcore's client side (tests/lab/psrpcore_client.py). Each case is
either answered exactly or refused with the error a real Windows PowerShell 5.1 server gives; never a
plausible wrong answer, never a hang.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psrpcore.types import PSInvocationState
from psrpcore_client import PsrpcoreSession
from pypsrp.client import Client
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from entra_standby.lab import Lab
from entra_standby.lab.lab import LabServer

PLAIN_CLIENT = Path(__file__).with_name("plain_client.py")
EXPAND = "Get-ADSyncScheduler | Select-Object -ExpandProperty StagingModeEnabled"
BOGUS_ID = "NamedParameterNotFound,Microsoft.IdentityManagement.PowerShell.Cmdlet.GetADSyncSchedulerCmdlet"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab({"name": "honest"}, cloud=False) as running:
        yield running


def _wsman(lab: Lab, server: LabServer) -> WSMan:
    assert lab.credentials is not None
    ca: Any = str(lab.ca_path)
    return WSMan(server.address, port=server.https_port, username=lab.credentials.username,
                 password=lab.credentials.password, ssl=True, auth="negotiate", cert_validation=ca,
                 connection_timeout=5, read_timeout=20, operation_timeout=10)


def _script(pool: RunspacePool, script: str) -> tuple[list[Any], PowerShell]:
    ps = PowerShell(pool)
    ps.add_script(script)
    return ps.invoke(), ps


def test_pypsrp_gets_exact_answers_or_powershell_errors(lab: Lab) -> None:
    with _wsman(lab, lab.servers["aadc02"]) as wsman, RunspacePool(wsman) as pool:
        output, ps = _script(pool, EXPAND)
        assert (output, ps.had_errors) == ([True], False)  # not the whole scheduler object
        output, ps = _script(pool, "Write-Output 'a b' c")
        assert (output, ps.had_errors) == (["a b", "c"], False)  # c is not dropped
        output, ps = _script(pool, "Get-ADSyncScheduler -Bogus 1")
        assert (output, ps.had_errors, ps.streams.error[-1].fq_error) == ([], True, BOGUS_ID)
        output, ps = _script(pool, "Write-Output 'unterminated")
        assert ps.had_errors and ps.streams.error[-1].fq_error == "TerminatorExpectedAtEndOfString"
        output, ps = _script(pool, "Write-Output $env:COMPUTERNAME")
        assert ps.had_errors and ps.streams.error[-1].fq_error == "LabNotServed" and output == []
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-ADSyncScheduler").add_parameter("Bogus", 1)
        assert ps.invoke() == [] and ps.had_errors and ps.streams.error[-1].fq_error == BOGUS_ID


def test_execute_ps_gets_the_same(lab: Lab) -> None:
    server = lab.servers["aadc02"]
    assert lab.credentials is not None
    ca: Any = str(lab.ca_path)
    client = Client(server.address, port=server.https_port, username=lab.credentials.username,
                    password=lab.credentials.password, ssl=True, auth="negotiate", cert_validation=ca)
    assert client.execute_ps("Write-Output 'a b' c")[::2] == ("a b\nc", False)
    assert client.execute_ps(EXPAND)[::2] == ("True", False)
    _, streams, had_errors = client.execute_ps("Get-ADSyncScheduler -Bogus 1")
    assert had_errors and streams.error[-1].fq_error == BOGUS_ID


def test_get_command_metadata_and_configuration_names(lab: Lab) -> None:
    server = lab.servers["aadc01"]
    with _wsman(lab, server) as wsman, RunspacePool(wsman) as pool:
        started = time.monotonic()
        with pytest.raises(WSManFaultError) as fault:
            pool.get_command_metadata(["Get-ADSyncScheduler"])
        assert fault.value.code == 0x80004001 and time.monotonic() - started < 10
    with _wsman(lab, server) as wsman, pytest.raises(WSManFaultError) as unknown:
        RunspacePool(wsman, configuration_name="Microsoft.PowerShell32").open()
    assert unknown.value.code == 2150858811


def _plain_client(inventory: Path, script: str) -> dict[str, dict[str, Any]]:
    done = subprocess.run([sys.executable, str(PLAIN_CLIENT), str(inventory), "--script", script],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return {line["role"]: line for line in lines}


def test_plain_client_in_its_own_process(lab: Lab, tmp_path: Path) -> None:
    inventory = lab.write_inventory(tmp_path / "inventory.yml")
    expanded = _plain_client(inventory, EXPAND)
    assert (expanded["active"]["output"], expanded["standby"]["output"]) == ([False], [True])
    assert not expanded["active"]["had_errors"] and not expanded["standby"]["had_errors"]
    bogus = _plain_client(inventory, "Get-ADSyncScheduler -Bogus 1")
    assert all(answer["had_errors"] and answer["errors"] == [BOGUS_ID] and answer["output"] == []
               for answer in bogus.values())


def test_psrpcore_as_the_client(lab: Lab) -> None:
    with _wsman(lab, lab.servers["aadc02"]) as wsman, PsrpcoreSession(wsman) as session:
        expanded = session.script(EXPAND)
        assert (expanded.state, expanded.output) == (PSInvocationState.Completed, [True])
        assert expanded.error_ids == []
        words = session.script("Write-Output 'a b' c")
        assert (words.state, words.output) == (PSInvocationState.Completed, ["a b", "c"])
        bogus = session.script("Get-ADSyncScheduler -Bogus 1")
        assert (bogus.state, bogus.output, bogus.error_ids) == (PSInvocationState.Failed, [], [BOGUS_ID])
        with pytest.raises(WSManFaultError) as fault:
            session.command_metadata("Get-ADSyncScheduler")
        assert fault.value.code == 0x80004001
        assert session.script("Write-Output after").output == ["after"]  # the pool is still usable
