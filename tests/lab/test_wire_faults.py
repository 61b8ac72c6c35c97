"""Transport faults and hostile input: what an unmodified pypsrp client sees (reference section 8)."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pypsrp.complex_objects import RunspacePoolState
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from wire_helpers import PASSWORD, running_server, wsman

from entra_standby.lab.wire import TransportFaults, WSManServer


@pytest.fixture()
def srv() -> Iterator[WSManServer]:
    with running_server(allow_basic_over_http=True, name="faulty") as server:
        yield server


def _basic(srv: WSManServer, **kwargs: Any) -> RunspacePool:
    return RunspacePool(wsman(srv, auth="basic", encryption="never", **kwargs))


def _run(pool: RunspacePool, script: str = "Write-Output ok") -> list[Any]:
    ps = PowerShell(pool)
    ps.add_script(script)
    output: list[Any] = ps.invoke()
    return output


def test_down_refuses_connections_and_comes_back_on_the_same_port(srv: WSManServer) -> None:
    port = srv.http_port
    with _basic(srv) as pool:
        srv.faults.down = True
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ConnectionError):
            _run(pool)
        assert time.monotonic() - started < 5
        srv.faults.down = False
        assert srv.http_port == port
        assert _run(pool) == ["ok"]  # Basic: the same pool survives a reconnect


def test_stalled_create_is_a_read_timeout_and_shutdown_does_not_hang() -> None:
    with running_server(allow_basic_over_http=True, name="stalled") as srv:
        srv.faults.stall = frozenset({"Create"})
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            _basic(srv, read_timeout=1).open()
        assert 0.9 <= time.monotonic() - started < 5
        # a request stuck in a stall while the server stops
        errors: list[BaseException] = []

        def open_pool() -> None:
            try:
                _basic(srv, read_timeout=30).open()
            except BaseException as exc:
                errors.append(exc)

        worker = threading.Thread(target=open_pool)
        worker.start()
        time.sleep(0.3)
        started = time.monotonic()
        srv.stop()
        assert time.monotonic() - started < 5
        worker.join(10)
        assert not worker.is_alive()
        assert errors and isinstance(errors[0], requests.exceptions.ConnectionError)


def test_every_receive_stalled_errors_after_the_retries() -> None:
    with running_server(allow_basic_over_http=True, name="receive-stall") as srv, _basic(
            srv, read_timeout=1, reconnection_backoff=0.01) as pool:
        srv.faults.stall = frozenset({"Receive"})
        srv.counters.reset()
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            _run(pool)
        elapsed = time.monotonic() - started
        assert 5.5 <= elapsed < 15  # 6 attempts of 1 s (pypsrp retries a Receive 5 times)
        assert srv.counters.snapshot()["by_action"]["Receive"] == 6
        srv.faults.clear()


def test_stall_released_mid_request_answers_normally(srv: WSManServer) -> None:
    with _basic(srv) as pool:
        srv.faults.stall = frozenset({"Command"})
        threading.Timer(0.5, srv.faults.clear).start()
        started = time.monotonic()
        assert _run(pool) == ["ok"]
        assert time.monotonic() - started >= 0.4


def test_latency_is_added_to_every_request(srv: WSManServer) -> None:
    srv.faults.latency_ms = 100
    srv.counters.reset()
    started = time.monotonic()
    with _basic(srv) as pool:
        assert _run(pool) == ["ok"]
    elapsed = time.monotonic() - started
    assert srv.counters.snapshot()["total"] == 5
    assert elapsed >= 0.5


def test_http500_gives_a_wsman_fault(srv: WSManServer) -> None:
    with _basic(srv) as pool:
        srv.faults.http500 = frozenset({"Command"})
        with pytest.raises(WSManFaultError) as fault:
            _run(pool)
        assert fault.value.code == 0x80004005
        srv.faults.http500 = frozenset()
        assert _run(pool) == ["ok"]


def test_drop_mid_pipeline_with_basic_keeps_the_pool_usable(srv: WSManServer) -> None:
    with _basic(srv) as pool:
        srv.faults.drop_once("Receive")
        with pytest.raises(requests.exceptions.ConnectionError, match="Remote end closed"):
            _run(pool)
        assert _run(pool) == ["ok"]


def test_drop_mid_pipeline_with_ntlm_encryption_breaks_that_client(srv: WSManServer) -> None:
    with RunspacePool(wsman(srv, auth="negotiate")) as pool:
        srv.faults.drop_once("Receive")
        with pytest.raises(requests.exceptions.ConnectionError):
            _run(pool)
        # pypsrp keeps the old sealing keys on the new connection: the server cannot decrypt (reference §8)
        with pytest.raises(WinRMTransportError) as err:
            _run(pool)
        assert err.value.code == 400
        pool.state = RunspacePoolState.BROKEN  # unusable: do not try to close it on exit
    with RunspacePool(wsman(srv, auth="negotiate")) as fresh:
        assert _run(fresh) == ["ok"]


def test_auth_fail_rejects_every_credential(srv: WSManServer) -> None:
    srv.faults.auth_fail = True
    with pytest.raises(AuthenticationError):
        _basic(srv).open()
    with pytest.raises(AuthenticationError):
        RunspacePool(wsman(srv, auth="negotiate")).open()
    srv.faults.auth_fail = False
    with _basic(srv) as pool:
        assert _run(pool) == ["ok"]


def test_faults_validate_action_names() -> None:
    faults = TransportFaults()
    with pytest.raises(ValueError, match="Recieve"):
        faults.stall = frozenset({"Recieve"})
    faults.drop = "Receive"  # a lone name is not split into letters
    assert faults.drop == frozenset({"Receive"})
    faults.clear()
    assert (faults.drop, faults.stall, faults.latency_ms, faults.down) == (frozenset(), frozenset(), 0, False)


# -- hostile input over plain HTTP + Basic (raw requests, as an attacker or a broken client would) --------

_ENVELOPE = """<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
 xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header>
<wsa:Action>{action}</wsa:Action><wsa:MessageID>uuid:{mid}</wsa:MessageID>
<wsman:ResourceURI>http://schemas.microsoft.com/powershell/Microsoft.PowerShell</wsman:ResourceURI>
<wsman:OperationTimeout>PT5S</wsman:OperationTimeout>{selectors}</s:Header><s:Body>{body}</s:Body></s:Envelope>"""


def _post(srv: WSManServer, body: bytes) -> requests.Response:
    auth = "Basic " + base64.b64encode(f"LAB\\auditor:{PASSWORD}".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/soap+xml;charset=UTF-8"}
    return requests.post(f"{srv.http_url}", data=body, timeout=10, headers=headers)


def _soap(action: str, body: str = "", selectors: str = "") -> bytes:
    message_id = str(uuid.uuid4()).upper()
    return _ENVELOPE.format(action=action, mid=message_id, body=body, selectors=selectors).encode()


def _shell_selector(shell_id: object) -> str:
    selector = f'<wsman:Selector Name="ShellId">{shell_id}</wsman:Selector>'
    return f"<wsman:SelectorSet>{selector}</wsman:SelectorSet>"


def _fault_code(response: requests.Response) -> str:
    assert response.status_code == 500, response.status_code
    assert b"WSManFault" in response.content
    return response.content.split(b'Code="', 1)[1].split(b'"', 1)[0].decode()


@pytest.mark.parametrize("body", [b"<not xml", b"<?xml version='1.0'?><a/>",
                                  b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><x>&a;&a;</x>'])
def test_malformed_soap_is_a_fault_and_the_server_stays_up(srv: WSManServer, body: bytes) -> None:
    assert _fault_code(_post(srv, body)) == str(0x80070057)
    with _basic(srv) as pool:
        assert _run(pool) == ["ok"]


@pytest.mark.parametrize("action", ["http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Connect",
                                    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Disconnect",
                                    "http://example.invalid/Bogus"])
def test_unsupported_actions_are_action_not_supported(srv: WSManServer, action: str) -> None:
    response = _post(srv, _soap(action))
    assert _fault_code(response) == str(0x80004001)
    assert b"ActionNotSupported" in response.content
    assert b"RelatesTo" in response.content


def test_malformed_psrp_fragments_are_faults(srv: WSManServer) -> None:
    create = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
    junk = base64.b64encode(b"\x00" * 10 + b"garbage" * 20).decode()
    shell = (f'<rsp:Shell ShellId="{uuid.uuid4()}"><rsp:InputStreams>stdin pr</rsp:InputStreams>'
             f'<creationXml xmlns="http://schemas.microsoft.com/powershell">{junk}</creationXml></rsp:Shell>')
    assert _fault_code(_post(srv, _soap(create, shell))) == str(0x80070057)
    not_base64 = shell.replace(junk, "%%%")
    assert _fault_code(_post(srv, _soap(create, not_base64))) == str(0x80070057)
    # a garbage CreatePipeline on a real shell
    with _basic(srv) as pool:
        command = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
        line = (f'<rsp:CommandLine CommandId="{uuid.uuid4()}"><rsp:Arguments>{junk}</rsp:Arguments>'
                "</rsp:CommandLine>")
        assert _fault_code(_post(srv, _soap(command, line, _shell_selector(pool.id)))) == str(0x80070057)
        assert _run(pool) == ["ok"]  # the same shell still works


def test_unknown_shell_is_fault_2150858843(srv: WSManServer) -> None:
    receive = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
    body = "<rsp:Receive><rsp:DesiredStream>stdout</rsp:DesiredStream></rsp:Receive>"
    assert _fault_code(_post(srv, _soap(receive, body, _shell_selector(uuid.uuid4())))) == "2150858843"


def test_oversized_body_is_refused_and_the_server_stays_up() -> None:
    with running_server(allow_basic_over_http=True, name="small", max_body_bytes=20_000) as srv:
        response = _post(srv, b"<x>" + b"a" * 50_000 + b"</x>")
        assert _fault_code(response) == str(0x80338034)
        assert response.headers.get("Connection", "").lower() == "close"
        with _basic(srv) as pool:
            assert _run(pool) == ["ok"]


def test_unauthenticated_request_is_challenged(srv: WSManServer) -> None:
    response = requests.post(f"{srv.http_url}", data=b"x", timeout=5)
    assert response.status_code == 401
    offers = response.headers["WWW-Authenticate"]
    assert "Negotiate" in offers and "Basic" in offers
    assert srv.counters.snapshot()["by_status"][401] >= 1
