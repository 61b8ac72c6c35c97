"""The lab's wire against unmodified pypsrp: auth matrix, PSRP semantics, long-polls, large output."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypsrp.client import Client
from pypsrp.complex_objects import PSInvocationState
from pypsrp.exceptions import AuthenticationError, WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from wire_helpers import CREDS, PASSWORD, WireTestEngine, running_server, wsman

from entra_standby.lab.pki import TlsMaterial, create_lab_pki
from entra_standby.lab.wire import WSManServer

_ntlm_env = os.environ.get("NTLM_USER_FILE")  # the lab must leave the environment alone

CLIENTS = {
    "basic-https": {"https": True, "auth": "basic"},
    "negotiate-http-encrypted": {"https": False, "auth": "negotiate"},
    "ntlm-http-encrypted": {"https": False, "auth": "ntlm"},
    "negotiate-https-cbt": {"https": True, "auth": "negotiate"},
}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return create_lab_pki(tmp_path_factory.mktemp("pki"), ["127.0.0.1"])


@pytest.fixture(scope="module")
def engine() -> WireTestEngine:
    return WireTestEngine()


@pytest.fixture(scope="module")
def srv(engine: WireTestEngine, tls: TlsMaterial) -> Iterator[WSManServer]:
    with running_server(engine, tls=tls) as srv:
        yield srv


def _connect(srv: WSManServer, tls: TlsMaterial, kind: str, **kwargs: Any) -> RunspacePool:
    options: dict[str, Any] = dict(CLIENTS[kind])
    https = bool(options.pop("https"))
    return RunspacePool(wsman(srv, https=https, ca=tls.ca_pem if https else None, **options, **kwargs))


@pytest.mark.parametrize("kind", sorted(CLIENTS))
@pytest.mark.parametrize("username", ["LAB\\auditor", "auditor", "auditor@LAB"])
def test_every_auth_kind_runs_a_pipeline(srv: WSManServer, tls: TlsMaterial, kind: str,
                                         username: str) -> None:
    with _connect(srv, tls, kind, username=username) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Output").add_parameter("InputObject", f"hello {kind}")
        assert ps.invoke() == [f"hello {kind}"]
        assert ps.had_errors is False


def test_negotiate_over_http_encrypts_every_message(srv: WSManServer) -> None:
    # pypsrp refuses to send plaintext with negotiate over HTTP; the server answers sealed bodies or it would
    # fail to parse them. A plaintext SOAP body on a Negotiate connection over HTTP is refused (401).
    transport = wsman(srv, auth="negotiate")
    with RunspacePool(transport) as pool:
        ps = PowerShell(pool)
        ps.add_script("Write-Output sealed")
        assert ps.invoke() == ["sealed"]
        assert transport.transport.encryption is not None


def test_wrong_password_is_an_authentication_error(srv: WSManServer, tls: TlsMaterial) -> None:
    for https, auth in ((True, "basic"), (False, "negotiate"), (True, "negotiate")):
        with pytest.raises(AuthenticationError):
            RunspacePool(wsman(srv, https=https, auth=auth, ca=tls.ca_pem if https else None,
                               password=PASSWORD + "x")).open()
        with pytest.raises(AuthenticationError):
            RunspacePool(wsman(srv, https=https, auth=auth, ca=tls.ca_pem if https else None,
                               username="LAB\\intruder")).open()


def test_https_without_channel_binding_is_refused(srv: WSManServer, tls: TlsMaterial) -> None:
    with pytest.raises(AuthenticationError):
        RunspacePool(wsman(srv, https=True, auth="negotiate", ca=tls.ca_pem, negotiate_send_cbt=False)).open()


def test_basic_over_http_is_refused_unless_allowed(srv: WSManServer) -> None:
    with pytest.raises(AuthenticationError, match="basic"):
        RunspacePool(wsman(srv, auth="basic", encryption="never")).open()
    with running_server(allow_basic_over_http=True, name="basic-http") as open_server, RunspacePool(
            wsman(open_server, auth="basic", encryption="never")) as pool:
        ps = PowerShell(pool)
        ps.add_script("Write-Output plain")
        assert ps.invoke() == ["plain"]


def test_error_record_versus_failed_pipeline(srv: WSManServer, tls: TlsMaterial) -> None:
    with _connect(srv, tls, "basic-https") as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-ErrorRecord").add_parameter("Message", "disk is sad")
        ps.invoke()
        assert ps.had_errors is False  # Write-Error semantics: the pipeline still Completed
        assert ps.state == PSInvocationState.COMPLETED
        assert len(ps.streams.error) == 1
        record = ps.streams.error[0]
        assert str(record) == "disk is sad"
        assert record.exception is not None
        assert record.exception.adapted_properties["Message"] == "disk is sad"
        assert record.fq_error == "LabTestError"

        ps = PowerShell(pool)
        ps.add_cmdlet("Fail").add_parameter("Message", "boom")
        ps.invoke()
        assert ps.had_errors is True
        assert ps.state == PSInvocationState.FAILED
        assert any(str(e) == "boom" for e in ps.streams.error)

        ps = PowerShell(pool)
        ps.add_cmdlet("Get-NoSuchThing")
        ps.invoke()
        assert ps.had_errors is True
        assert "is not recognized" in str(ps.streams.error[-1])


def test_warnings_reach_the_warning_stream(srv: WSManServer, tls: TlsMaterial) -> None:
    with _connect(srv, tls, "basic-https") as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Warning").add_parameter("Message", "mind the gap")
        ps.invoke()
        assert [w.message for w in ps.streams.warning] == ["mind the gap"]


def test_several_statements_and_parameters_are_decoded(srv: WSManServer, tls: TlsMaterial,
                                                       engine: WireTestEngine) -> None:
    with _connect(srv, tls, "negotiate-http-encrypted") as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Output").add_parameter("InputObject", "first").add_statement()
        ps.add_script("# entra-standby-probe: demo\nWrite-Output second").add_statement()
        ps.add_cmdlet("Get-Invocation").add_parameter("Name", "x").add_parameter("Count", 3)
        ps.add_parameter("Ratio", 0.5).add_parameter("Flag", True).add_parameter("Nothing", None)
        ps.add_parameter("List", ["a", 1]).add_parameter("Map", {"k": "v", "n": 2}).add_argument("positional")
        output = ps.invoke()
    assert output[:2] == ["first", "second"]
    seen = next(i for i in reversed(engine.invocations) if i.commands[-1].text == "Get-Invocation")
    assert [(c.text, c.is_script, c.end_of_statement) for c in seen.commands] == [
        ("Write-Output", False, True),
        ("# entra-standby-probe: demo\nWrite-Output second", True, True),
        ("Get-Invocation", False, True),
    ]
    assert seen.commands[2].parameters == {
        "Name": "x", "Count": 3, "Ratio": 0.5, "Flag": True, "Nothing": None,
        "List": ["a", 1], "Map": {"k": "v", "n": 2}, "@0": "positional"}
    assert seen.pipeline_id  # the CommandId, so engine logs can name the pipeline


def test_output_values_round_trip(srv: WSManServer, tls: TlsMaterial) -> None:
    # (pypsrp serialises every Python int as Int32, so large ints only travel server -> client)
    values: list[object] = ["text", 42, 1.25, True, False, ["a", 2], {"key": "value"}]
    with _connect(srv, tls, "basic-https") as pool:
        for value in values:
            ps = PowerShell(pool)
            ps.add_cmdlet("Write-Output").add_parameter("InputObject", value)
            assert ps.invoke() == [value], value
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Values")
        assert ps.invoke() == [2**40, None, {"nested": [1, {"deep": True}]}]


def test_pipeline_input_reaches_the_engine(srv: WSManServer, tls: TlsMaterial) -> None:
    with _connect(srv, tls, "negotiate-http-encrypted") as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Echo-Input")
        pipeline_input: Any = ["one", "two", 3]  # pypsrp's annotation says Iterator; it takes a list
        assert ps.invoke(input=pipeline_input) == ["one", "two", 3]


def test_execute_ps_and_request_count(srv: WSManServer, tls: TlsMaterial) -> None:
    client = Client(srv.bind_address, port=srv.https_port, username="LAB\\auditor", password=PASSWORD,
                    ssl=True, auth="basic", cert_validation=str(tls.ca_pem))
    srv.counters.reset()
    output, streams, had_errors = client.execute_ps("Write-Output 'from execute_ps'")
    assert (output, had_errors, streams.error) == ("from execute_ps", False, [])
    # Create, Receive, Command, Receive, Delete: the reference count for execute_ps with Basic
    assert srv.counters.snapshot()["by_action"] == {"Create": 1, "Receive": 2, "Command": 1, "Delete": 1}
    output, _, had_errors = client.execute_ps("Fail")
    assert had_errors is True


def test_one_pool_ten_scripts_costs_two_n_plus_three_requests(srv: WSManServer, tls: TlsMaterial) -> None:
    srv.counters.reset()
    with _connect(srv, tls, "basic-https") as pool:
        for i in range(10):
            ps = PowerShell(pool)
            ps.add_script(f"Write-Output {i}")
            assert ps.invoke() == [str(i)]
    snapshot = srv.counters.snapshot()
    assert snapshot["total"] == 23
    assert snapshot["by_status"] == {200: 23}


def test_is_alive_and_shell_not_found_after_restart(tls: TlsMaterial) -> None:
    with running_server(tls=tls, name="restartable") as srv:
        port_before = srv.https_port
        pool = _connect(srv, tls, "basic-https")
        pool.open()
        assert pool.is_alive() is True
        srv.restart()
        assert srv.https_port == port_before
        ps = PowerShell(pool)
        ps.add_script("Write-Output lost")
        with pytest.raises(WSManFaultError) as fault:
            ps.invoke()
        assert fault.value.code == 2150858843
        assert "shell was not found" in str(fault.value.reason)
        assert pool.is_alive() is False
        # a fresh pool works on the restarted server
        with _connect(srv, tls, "basic-https") as fresh:
            ps = PowerShell(fresh)
            ps.add_script("Write-Output again")
            assert ps.invoke() == ["again"]


def test_script_running_past_operation_timeout(srv: WSManServer, tls: TlsMaterial) -> None:
    srv.counters.reset()
    with _connect(srv, tls, "negotiate-http-encrypted", operation_timeout=1, read_timeout=5) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Start-Sleep").add_parameter("Milliseconds", 2200).add_statement()
        ps.add_cmdlet("Write-Output").add_parameter("InputObject", "woke")
        started = time.monotonic()
        assert ps.invoke() == ["woke"]
        elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 6
    snapshot = srv.counters.snapshot()
    # each long-poll was answered with the w:TimedOut fault (HTTP 500) before the client's 1 s timeout
    assert snapshot["by_status"].get(500, 0) >= 3
    assert snapshot["by_action"]["Receive"] >= 5


def test_read_timeout_shorter_than_the_script_keeps_output(srv: WSManServer, tls: TlsMaterial) -> None:
    # The client abandons its long-poll after 1 s and retries; the server must notice the dead socket
    # and keep the output for the retry (EOF check), or the client would wait forever for PipelineState.
    with _connect(srv, tls, "basic-https", read_timeout=1, reconnection_backoff=0.05) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Start-Sleep").add_parameter("Milliseconds", 2500).add_statement()
        ps.add_cmdlet("Write-Output").add_parameter("InputObject", "intact")
        assert ps.invoke() == ["intact"]


@pytest.mark.parametrize("kind", ["basic-https", "negotiate-http-encrypted"])
def test_400_kb_of_output(srv: WSManServer, tls: TlsMaterial, kind: str) -> None:
    with _connect(srv, tls, kind) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Kilobytes").add_parameter("Count", 400)
        output = ps.invoke()
    assert output == ["x" * 400 * 1024]


def test_large_script_arrives_through_send(srv: WSManServer, tls: TlsMaterial,
                                           engine: WireTestEngine) -> None:
    script = "Write-Output big #" + "y" * 600_000
    srv.counters.reset()
    with _connect(srv, tls, "negotiate-http-encrypted") as pool:
        ps = PowerShell(pool)
        ps.add_script(script)
        assert ps.invoke() == ["big"]
    assert srv.counters.snapshot()["by_action"].get("Send", 0) >= 1
    assert any(i.commands[0].text == script for i in engine.invocations)


def test_stop_cancels_the_engine(srv: WSManServer, tls: TlsMaterial, engine: WireTestEngine) -> None:
    with _connect(srv, tls, "basic-https") as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Start-Sleep").add_parameter("Seconds", 30)
        ps.begin_invoke()
        started = time.monotonic()
        ps.stop()
        deadline = time.monotonic() + 5
        while ps.id.upper() not in engine.cancelled and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ps.id.upper() in engine.cancelled
        assert time.monotonic() - started < 5


def test_pool_level_calls_enumerate_and_config(srv: WSManServer, tls: TlsMaterial) -> None:
    transport = wsman(srv, https=True, auth="basic", ca=tls.ca_pem)
    with RunspacePool(transport) as pool:
        assert pool.get_available_runspaces() >= 1
        pool.max_runspaces = 3
        assert pool.max_runspaces == 3
        pool.exchange_keys()
        ids = [p.id.upper() for p in RunspacePool.get_runspace_pools(transport)]
        assert pool.id.upper() in ids
        transport.update_max_payload_size()
        assert transport.max_envelope_size == 500 * 1024


def test_two_servers_with_different_credentials_in_one_process(tls: TlsMaterial) -> None:
    from entra_standby.lab.wire import LabCredentials

    other = LabCredentials(username="OTHER\\operator", password="An0ther-secret")
    with running_server(name="lab-a") as a, running_server(name="lab-b", credentials=other) as b:
        with RunspacePool(wsman(a, auth="negotiate")) as pool:
            ps = PowerShell(pool)
            ps.add_script("Write-Output a")
            assert ps.invoke() == ["a"]
        other_client = wsman(b, auth="negotiate", username="OTHER\\operator", password=other.password)
        with RunspacePool(other_client) as pool:
            ps = PowerShell(pool)
            ps.add_script("Write-Output b")
            assert ps.invoke() == ["b"]
        # one process-wide NTLM user file serves both, but each server only admits its own user
        with pytest.raises(AuthenticationError):
            RunspacePool(wsman(b, auth="negotiate")).open()
        with pytest.raises(AuthenticationError):
            RunspacePool(wsman(a, auth="negotiate", username="OTHER\\operator",
                               password=other.password)).open()


def test_same_user_with_different_passwords_in_concurrent_labs(srv: WSManServer) -> None:
    from entra_standby.lab.wire import LabCredentials

    # ``srv`` (module scope) serves LAB\auditor with PASSWORD; a second lab serves the same user name with
    # another password at the same time: each only accepts its own password.
    clash = LabCredentials(username=CREDS.username, password="different", domain=CREDS.domain)
    with running_server(name="second", credentials=clash) as second:
        for server, good, bad in ((second, "different", PASSWORD), (srv, PASSWORD, "different")):
            with RunspacePool(wsman(server, auth="negotiate", password=good)) as pool:
                ps = PowerShell(pool)
                ps.add_script("Write-Output ok")
                assert ps.invoke() == ["ok"]
            with pytest.raises(AuthenticationError):
                RunspacePool(wsman(server, auth="negotiate", password=bad)).open()
    assert "NTLM_USER_FILE" not in os.environ or os.environ["NTLM_USER_FILE"] == _ntlm_env


def test_the_password_never_appears_in_repr() -> None:
    assert PASSWORD not in repr(CREDS)
    assert "***" in repr(CREDS)


def test_loopback_only(tmp_path: Path) -> None:
    from entra_standby.errors import LabError

    for address in ("0.0.0.0", "10.1.2.3", "example.com"):
        with pytest.raises(LabError, match=r"loopback|not an IP"):
            WSManServer(WireTestEngine(), name="x", credentials=CREDS, bind_address=address)
    with running_server(bind_address="127.0.0.23", name="distinct-address") as srv:
        assert srv.http_url is not None and srv.http_url.startswith("http://127.0.0.23:")
        with RunspacePool(wsman(srv, auth="negotiate")) as pool:
            ps = PowerShell(pool)
            ps.add_script("Write-Output there")
            assert ps.invoke() == ["there"]
