"""The simulated pair end to end: unmodified pypsrp over HTTPS + Negotiate against ``Lab``."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from entra_standby.lab import Lab
from entra_standby.lab.lab import LabServer
from entra_standby.probes import load_action, load_probe

REPO = Path(__file__).resolve().parents[2]
PROBES = sorted((REPO / "entra_standby" / "probes").glob("*.ps1"))
ACTIONS = REPO / "entra_standby" / "actions"


def _sent(path: Path) -> str:
    """A shipped script as a client sends it alone: the catalogue's text, helpers region filled in (the
    repository's file leaves it empty, and a server without the helpers would not know their functions)."""
    return (load_action if path.parent.name == "actions" else load_probe)(path.stem).text


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    scenario: dict[str, Any] = {"name": "wire-test", "lab": {"cycle_duration_s": 0.3}}
    with Lab(scenario) as running:
        yield running


def _wsman(lab: Lab, server: LabServer, **kwargs: Any) -> WSMan:
    assert lab.credentials is not None
    ca: Any = str(lab.ca_path)  # pypsrp accepts a CA path here; its annotation says bool
    return WSMan(
        server.address,
        port=server.https_port,
        username=lab.credentials.username,
        password=lab.credentials.password,
        ssl=True,
        auth="negotiate",
        cert_validation=ca,
        connection_timeout=5,
        read_timeout=20,
        operation_timeout=15,
        **kwargs,
    )


def _invoke(pool: RunspacePool, script: str, **params: Any) -> tuple[list[Any], PowerShell]:
    ps = PowerShell(pool)
    ps.add_script(script)
    for name, value in params.items():
        ps.add_parameter(name, value)
    return ps.invoke(), ps


def test_every_shipped_probe_answers_json_through_pypsrp(lab: Lab) -> None:
    assert PROBES, "no probe scripts shipped"
    for server in lab.servers.values():
        with _wsman(lab, server) as wsman, RunspacePool(wsman) as pool:
            for script in PROBES:
                output, ps = _invoke(pool, _sent(script))
                assert not ps.had_errors and len(output) == 1, (server.name, script.name, ps.streams.error)
                envelope = json.loads(output[0])
                assert envelope["probe"] == script.stem and envelope["ok"] is True, envelope
        assert server.counters.total > 0


def test_parameters_actions_and_cmdlets_over_the_wire(lab: Lab) -> None:
    server = lab.servers["aadc02"]
    with _wsman(lab, server) as wsman, RunspacePool(wsman) as pool:
        output, _ = _invoke(
            pool, _sent(REPO / "entra_standby/probes/run-history.ps1"), NumberRequested=2
        )
        assert len(json.loads(output[0])["data"]["runs"]) == 2
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-ADSyncScheduler")
        scheduler = ps.invoke()
        assert not ps.had_errors and len(scheduler) == 1
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-NoSuchThing")
        ps.invoke()
        assert ps.had_errors
        if (ACTIONS / "start-sync-cycle.ps1").is_file():
            output, ps = _invoke(pool, _sent(ACTIONS / "start-sync-cycle.ps1"), PolicyType="Delta")
            envelope = json.loads(output[0])
            assert envelope["action"] == "start-sync-cycle" and envelope["ok"] is True
            assert envelope["data"]["sync_cycle_in_progress"] is True
            server.engine.cycle.join(10)


def test_staging_changes_over_the_wire_are_logged(lab: Lab) -> None:
    script = ACTIONS / "set-staging.ps1"
    if not script.is_file():
        pytest.fail("entra_standby/actions/set-staging.ps1 is not shipped")
    active, standby = lab.servers["aadc01"], lab.servers["aadc02"]
    for server, enabled in ((active, True), (standby, False), (standby, True), (active, False)):
        with _wsman(lab, server) as wsman, RunspacePool(wsman) as pool:
            output, _ = _invoke(pool, _sent(script), Enabled=enabled)
            assert json.loads(output[0])["data"]["staging_mode_enabled"] is enabled
    assert [(e.server, e.staging_enabled) for e in lab.staging_log[-4:]] == [
        ("aadc01", True),
        ("aadc02", False),
        ("aadc02", True),
        ("aadc01", False),
    ]
    assert lab.max_unstaged_at_once() == 1


def test_inventory_describes_the_running_lab(lab: Lab, tmp_path: Path) -> None:
    path = lab.write_inventory(tmp_path / "inv.yml")
    assert path.stat().st_mode & 0o077 == 0
    inventory = yaml.safe_load(path.read_text())
    pair = inventory["pairs"][0]
    assert pair["name"] == "wire-test"
    assert [(s["host"], s["role"], s["connection"]["port"]) for s in pair["servers"]] == [
        (s.address, s.role, s.https_port) for s in lab.servers.values()
    ]
    assert lab.credentials is not None
    assert pair["connection"] == {
        "ssl": True,
        "auth": "negotiate",
        "cert_validation": str(lab.ca_path),
        "username": lab.credentials.username,
        "password": lab.credentials.password,
    }
    assert "password=" not in repr(lab.credentials) or "***" in repr(lab.credentials)
    if lab.cloud is not None:
        cloud = pair["cloud"]
        assert cloud["graph_url"].startswith("https://127.0.0.1:") and cloud["ca_bundle"] == str(lab.ca_path)
        assert cloud["client_secret"] == lab.cloud.client_secret and lab.cloud.certificate_path.is_file()


def test_faults_at_run_time(lab: Lab) -> None:
    server = lab.servers["aadc01"]
    lab.set_fault("aadc01", down=True)
    try:
        with pytest.raises(OSError), socket.create_connection((server.address, server.https_port), timeout=3):
            pass
    finally:
        lab.clear_faults("aadc01")
    with socket.create_connection((server.address, server.https_port), timeout=3):
        pass


def test_active_down_scenario_closes_the_port_and_keeps_the_standby() -> None:
    with Lab(REPO / "fixtures/scenarios/active-down.yml", cloud=False) as lab:
        active, standby = lab.servers["aadc01"], lab.servers["aadc02"]
        assert active.faults.down is True
        with pytest.raises(OSError), socket.create_connection((active.address, active.https_port), timeout=3):
            pass
        with _wsman(lab, standby) as wsman, RunspacePool(wsman) as pool:
            output, _ = _invoke(pool, _sent(PROBES[0]))
            assert json.loads(output[0])["ok"] is True


def test_stop_releases_ports_and_threads() -> None:
    before = threading.active_count()
    lab = Lab({"name": "shutdown"}).start()
    ports = [(s.address, s.https_port) for s in lab.servers.values()]
    assert lab.directory is not None
    directory = lab.directory
    lab.stop()
    for address, port in ports:
        with pytest.raises(OSError), socket.create_connection((address, port), timeout=2):
            pass
    assert not directory.exists()
    assert threading.active_count() <= before


def test_execute_ps_runs_a_probe_and_reports_unknown_commands(lab: Lab) -> None:
    from pypsrp.client import Client

    server = lab.servers["aadc02"]
    assert lab.credentials is not None
    ca: Any = str(lab.ca_path)
    client = Client(server.address, port=server.https_port, username=lab.credentials.username,
                    password=lab.credentials.password, ssl=True, auth="negotiate", cert_validation=ca)
    probe = _sent(REPO / "entra_standby/probes/scheduler.ps1")
    output, _streams, had_errors = client.execute_ps(probe)
    assert had_errors is False
    assert json.loads(output)["data"]["staging_mode_enabled"] is True
    output, streams, had_errors = client.execute_ps("Get-Nothing -Here")
    assert had_errors is True
    assert "Get-Nothing" in str(streams.error[0])


def test_two_labs_in_one_process_have_distinct_passwords() -> None:
    with Lab({"name": "a"}, serve=False) as first, Lab({"name": "b"}, serve=False) as second:
        assert first.credentials is not None and second.credentials is not None
        assert first.credentials.password != second.credentials.password
