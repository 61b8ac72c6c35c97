"""Remoting against the lab (real pypsrp over real WS-Man/PSRP): round trips, timeouts, drops, errors."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from typing import Any

import certifi
import pytest
import requests
from spine_helpers import ROOT, SCENARIOS

from entra_standby.errors import AuthenticationFailedError, ProbeError, RemotingError, UnreachableError
from entra_standby.gather import gather
from entra_standby.inventory import Inventory, Secret, ServerEntry, inventory_from_dict
from entra_standby.lab import Lab
from entra_standby.prepared import BATCH_LEAD
from entra_standby.probes import (
    HELPERS_REGION_BEGIN,
    HELPERS_REGION_END,
    PROBE_NAMES,
    helpers_script,
    load_probe,
    needs_helpers,
    without_helpers,
)
from entra_standby.probes.wire import wire_form
from entra_standby.remoting import HostSession, ProbeCall, probe_calls, translate_error


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(SCENARIOS / "healthy-pair.yml") as running:
        yield running


@pytest.fixture(autouse=True)
def _clean(lab: Lab) -> Iterator[None]:
    lab.clear_faults()
    yield
    lab.clear_faults()


def lab_inventory(lab: Lab) -> Inventory:
    return inventory_from_dict(lab.inventory_dict(), path=ROOT / "inventory" / "lab.yml")


def lab_server(lab: Lab, name: str = "aadc01", **connection: Any) -> ServerEntry:
    address = lab.servers[name].address
    for pair in lab_inventory(lab).pairs:
        for server in pair.servers:
            if server.host == address:
                settings = dataclasses.replace(server.connection, **connection)
                return dataclasses.replace(server, connection=settings)
    raise AssertionError(f"{name} not in the lab inventory")


def test_full_audit_costs_at_most_ten_requests_per_host(lab: Lab) -> None:
    for server in lab.servers.values():
        server.counters.reset()
    run = gather(lab_inventory(lab))
    for pair in run.pairs:
        for host in pair.servers:
            assert sorted(host.values) == sorted(PROBE_NAMES), host.errors
    for name, server in lab.servers.items():
        counts = server.counters.snapshot()
        assert counts["by_action"].get("Create") == 1, (name, counts)  # one runspace pool per host per run
        assert counts["by_action"].get("Command") == 1, (name, counts)  # all ten probes in one pipeline
        assert counts["total"] <= 10, (name, counts)  # authentication included


def test_each_probe_of_the_batch_runs_in_its_own_local_scope(lab: Lab) -> None:
    gather(lab_inventory(lab))
    for server in lab.servers.values():
        batch = server.engine.recent_invocations[-1]
        # The shared helpers go once, dot-sourced, after a one-line comment that takes the first statement's
        # place (PSRP writes that one twice), issue 13; each probe then runs in its own scope.
        lead, helpers, *probes = batch.commands
        assert lead.text == BATCH_LEAD and lead.use_local_scope is True
        # Helpers and probes travel in their wire form: comments left out (probes/wire.py).
        assert helpers.text == wire_form(helpers_script()) and helpers.use_local_scope is not True
        assert len(probes) == len(PROBE_NAMES)
        assert all(c.is_script and c.use_local_scope is True and c.end_of_statement for c in probes)
        for name, c in zip(PROBE_NAMES, probes, strict=True):
            bare = without_helpers(load_probe(name).text)
            assert bare is not None and c.text == wire_form(bare) and needs_helpers(c.text)
            assert HELPERS_REGION_BEGIN not in c.text and HELPERS_REGION_END not in c.text


def test_pool_is_reused_across_calls(lab: Lab) -> None:
    server = lab.servers["aadc01"]
    server.counters.reset()
    with HostSession(lab_server(lab)) as session:
        first = session.run_probes(probe_calls(["scheduler"]))
        second = session.run_probes(probe_calls(["service", "version"]))
    assert isinstance(first["scheduler"], str) and isinstance(second["version"], str)
    assert server.counters.snapshot()["by_action"]["Create"] == 1


def test_unreachable_host_errors_fast_with_reason(lab: Lab) -> None:
    lab.set_fault("aadc01", down=True)
    started = time.monotonic()
    with pytest.raises(UnreachableError) as info, HostSession(lab_server(lab)) as session:
        session.run_probes(probe_calls(["scheduler"]))
    assert time.monotonic() - started < 10
    assert "unreachable" in str(info.value) and "refused" in str(info.value)
    assert str(info.value).startswith(lab.servers["aadc01"].address)


def test_stalled_host_errors_in_under_ten_seconds(lab: Lab) -> None:
    lab.set_fault("aadc02", stall=["*"])
    started = time.monotonic()
    with pytest.raises(UnreachableError, match="stalled"), HostSession(lab_server(lab, "aadc02")) as session:
        session.run_probes(probe_calls())
    assert time.monotonic() - started < 10  # pypsrp's defaults would take about five minutes


def test_host_stalling_mid_pipeline_errors_in_under_ten_seconds(lab: Lab) -> None:
    # The pool is open; then every Receive stalls: pypsrp alone would retry it five times.
    with HostSession(lab_server(lab, "aadc02")) as session:
        session.open()
        lab.set_fault("aadc02", stall=["Receive"])
        started = time.monotonic()
        with pytest.raises(UnreachableError, match="stalled"):
            session.run_probes(probe_calls())
        assert time.monotonic() - started < 10


def test_dropped_connection_with_message_encryption_rebuilds_the_transport(lab: Lab) -> None:
    # Negotiate over plain HTTP: every message is NTLM-sealed, so pypsrp cannot reuse the old WSMan.
    wire = lab.servers["aadc01"]
    entry = lab_server(lab, ssl=False, port=wire.http_port, message_encryption="always")
    with HostSession(entry) as session:
        session.open()
        wire.faults.drop_once("Command")
        outputs = session.run_probes(probe_calls(["scheduler", "machine"]))
        assert session.reconnects == 1
        assert all(isinstance(v, str) and '"ok":true' in v for v in outputs.values()), outputs
        again = session.run_probes(probe_calls(["version"]))  # the rebuilt pool keeps working
        assert isinstance(again["version"], str)


def test_failed_batch_falls_back_to_one_pipeline_per_probe(lab: Lab) -> None:
    calls = [*probe_calls(["scheduler"]), ProbeCall("bogus", "Get-NoSuchThing"), *probe_calls(["version"])]
    with HostSession(lab_server(lab)) as session:
        results = session.run_probes(calls)
    assert isinstance(results["scheduler"], str) and isinstance(results["version"], str)
    bogus = results["bogus"]
    assert isinstance(bogus, ProbeError) and "pipeline failed" in str(bogus)


def test_malformed_output_errors_that_domain_only(lab: Lab) -> None:
    lab.set_fault("aadc02", malformed_output=["tls"])
    run = gather(lab_inventory(lab))
    standby = run.pairs[0].server(lab.servers["aadc02"].address)
    assert set(standby.errors) == {"tls"}
    assert standby.errors["tls"].kind == "probe" and "tls" in standby.errors["tls"].message
    assert len(standby.values) == len(PROBE_NAMES) - 1


def test_wrong_password_is_an_auth_error_without_the_secret(lab: Lab,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    wrong = "Wr0ng-but-secret-Pa55"
    caplog.set_level(logging.DEBUG)
    entry = lab_server(lab, password=Secret(wrong))
    with pytest.raises(AuthenticationFailedError) as info, HostSession(entry) as session:
        session.open()
    assert "authentication failed" in str(info.value)
    assert wrong not in str(info.value) and wrong not in caplog.text
    assert lab.credentials is not None and lab.credentials.password not in caplog.text


def test_http_500_is_a_remoting_error(lab: Lab) -> None:
    lab.set_fault("aadc01", http500=["Create"])
    with pytest.raises(RemotingError), HostSession(lab_server(lab)) as session:
        session.open()


def test_ca_path_wins_over_requests_ca_bundle(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    # REQUESTS_CA_BUNDLE names a bundle without the lab CA; the inventory's CA path must still be used.
    assert lab.ca_path is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    with HostSession(lab_server(lab)) as session:
        assert isinstance(session.run_probes(probe_calls(["machine"]))["machine"], str)
    # And with the system store only (cert_validation: true) the lab's certificate is not trusted.
    with pytest.raises(AuthenticationFailedError, match="TLS certificate not trusted"), \
            HostSession(lab_server(lab, cert_validation=True)) as session:
        session.open()


def test_translation_of_transport_errors() -> None:
    refused = requests.exceptions.ConnectionError("Max retries exceeded (Caused by NewConnectionError("
                                                  "'[Errno 111] Connection refused'))")
    assert isinstance(translate_error("h", refused), UnreachableError)
    stalled = translate_error("h", requests.exceptions.ReadTimeout("read timed out"))
    assert isinstance(stalled, UnreachableError) and "stalled" in str(stalled)
    assert isinstance(translate_error("h", ValueError("boom")), RemotingError)


@pytest.mark.parametrize(("max_parallel", "expected_peak"), [(1, 1), (8, 2)])
def test_hosts_are_gathered_in_parallel_up_to_the_cap(lab: Lab, max_parallel: int,
                                                      expected_peak: int) -> None:
    import threading

    lock = threading.Lock()
    open_now, peak = [0], [0]

    class CountingSession(HostSession):
        def __enter__(self) -> HostSession:
            with lock:
                open_now[0] += 1
                peak[0] = max(peak[0], open_now[0])
            time.sleep(0.3)  # hold the slot so a parallel host would overlap
            return super().__enter__()

        def __exit__(self, *exc: object) -> None:
            super().__exit__(*exc)
            with lock:
                open_now[0] -= 1

    run = gather(lab_inventory(lab), session_factory=CountingSession, max_parallel=max_parallel)
    assert all(not s.errors for p in run.pairs for s in p.servers)
    assert peak[0] == expected_peak
