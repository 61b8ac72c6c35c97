"""The batch as sent (issue 13): helpers once, probes in their own scopes, serialised once, same bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests.adapters
from labkit import engine_only_lab, invoke_engine
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab
from entra_standby.lab.engine import CommandCall
from entra_standby.prepared import (
    BATCH_LEAD,
    batch_statements,
    begin_prepared,
    build_create_pipeline,
    prepare_batch,
)
from entra_standby.probes import (
    HELPERS_MARKER,
    PROBE_NAMES,
    helpers_script,
    load_probe,
    needs_helpers,
    without_helpers,
)
from entra_standby.probes.wire import wire_form
from entra_standby.remoting import HostSession, ProbeCall, probe_calls

SCENARIOS = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios"


def _offline_ps(protocol_version: str = "2.3") -> PowerShell:
    """A PowerShell on a pool that never connects (WSMan builds its HTTP session lazily)."""
    pool = RunspacePool(WSMan("127.0.0.1", username="u", password="p", ssl=False, auth="basic",
                                 encryption="never"))
    pool.protocol_version = protocol_version
    return PowerShell(pool)


def test_statements_send_the_helpers_once_first_and_each_probe_without_its_copy() -> None:
    calls = probe_calls()
    statements = batch_statements(calls)
    assert statements[0].text == BATCH_LEAD and statements[0].use_local_scope is True
    assert statements[1].text == wire_form(helpers_script()) and statements[1].use_local_scope is False
    probes = statements[2:]
    assert len(probes) == len(calls)
    for call, statement in zip(calls, probes, strict=True):
        assert statement.use_local_scope is True
        bare = without_helpers(call.text)
        assert bare is not None and statement.text == wire_form(bare) and needs_helpers(statement.text)
        assert statement.text.splitlines()[0] == load_probe(call.name).marker  # the lab knows it by this
    assert sum(HELPERS_MARKER in s.text for s in statements) == 1


def test_a_script_not_from_the_catalogue_is_sent_whole_and_alone() -> None:
    own = ProbeCall("custom", "# entra-standby-probe: custom\nWrite-Output 1\n", {"A": 1})
    statements = batch_statements([own])
    assert len(statements) == 1  # nothing shares the helpers, so they are not sent
    assert statements[0].text == own.text and statements[0].parameters == (("A", 1),)


def test_probe_show_still_prints_a_standalone_script() -> None:
    for name in PROBE_NAMES:
        text = load_probe(name).text
        assert not needs_helpers(text) and "function Write-EsEnvelope" in text


class _RecordingShell:
    """Stands in for a pool's WinRS: records the Command and Send requests' arguments."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def command(self, executable: str, arguments: list[str], command_id: str) -> Any:
        import xml.etree.ElementTree as ET

        self.sent.append(("command", (executable, list(arguments), command_id)))
        return ET.fromstring('<r xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">'
                             f'<rsp:CommandResponse><rsp:CommandId>{command_id.upper()}</rsp:CommandId>'
                             '</rsp:CommandResponse></r>')

    def send(self, stream: str, data: bytes, command_id: str) -> None:
        self.sent.append(("send", (stream, data, command_id)))


def _recording_ps(protocol_version: str, max_size: int) -> tuple[PowerShell, _RecordingShell]:
    ps = _offline_ps(protocol_version)
    pool = ps.runspace_pool
    pool.id, ps.id = "5b4ad27a-4bc6-4b7d-98b3-1d0b1fb0b7a1", "0a9c3ab2-20f3-4e0c-9d8a-5c1f4a9b2e77"
    shell = _RecordingShell()
    pool.shell = shell  # type: ignore[assignment]
    pool._fragmenter.max_size = max_size
    pool._fragmenter.outgoing_counter = 7
    return ps, shell


@pytest.mark.parametrize("max_size", [32_000, 150_000, 4_000])
def test_a_prepared_batch_sends_byte_for_byte_what_begin_invoke_sends(max_size: int) -> None:
    """The requests (Command with the first fragment, Send with the others) equal pypsrp's own, whatever
    the fragment size: one fragment, several, many."""
    calls = probe_calls(["scheduler", "os"], {"os": {"MaxUpdateHistory": 5}})
    statements = batch_statements(calls)
    reference, expected = _recording_ps("2.3", max_size)
    for statement in statements:
        reference.add_script(statement.text, use_local_scope=statement.use_local_scope)
        if statement.parameters:
            reference.add_parameters(dict(statement.parameters))
        reference.add_statement()
    reference.begin_invoke()
    ours, sent = _recording_ps("2.3", max_size)
    pool = ours.runspace_pool
    begin_prepared(ours, prepare_batch(calls, pool.protocol_version, pool.apartment_state, pool.host))
    assert sent.sent == expected.sent
    assert len(sent.sent) >= (2 if max_size < 32_000 else 1)
    assert ours._command_id == reference._command_id == ours.id.upper()
    assert ours.state == reference.state and pool.pipelines[ours.id] is ours
    assert pool._fragmenter.outgoing_counter == reference.runspace_pool._fragmenter.outgoing_counter == 8


def test_the_serialised_batch_is_built_once_and_shared() -> None:
    calls = probe_calls()
    first = prepare_batch(calls, "2.3", 2)
    assert prepare_batch(probe_calls(), "2.3", 2) is first  # a second host reuses the same message
    assert prepare_batch(calls, "2.2", 2) is not first  # another protocol version: its own message
    other = prepare_batch(probe_calls(parameters={"os": {"MaxUpdateHistory": 3}}), "2.3", 2)
    assert other is not first and other.xml is not first.xml


def test_create_pipeline_keeps_each_probes_parameters() -> None:
    calls = probe_calls(["run-history"], {"run-history": {"NumberRequested": 7}})
    pipeline = build_create_pipeline(batch_statements(calls), "2.3", 2)
    assert pipeline.pipeline is not None and pipeline.pipeline.commands is not None
    commands = pipeline.pipeline.commands
    assert [c.use_local_scope for c in commands] == [True, False, True]
    assert [(a.name, a.value) for a in commands[2].args] == [("NumberRequested", 7)]


# --- the lab accepts the new shape as a server would, and only that --------------------------------------


@pytest.fixture(scope="module")
def engine_lab() -> Iterator[Lab]:
    with engine_only_lab() as lab:
        yield lab


_invoke = invoke_engine


def _bare(name: str) -> str:
    text = without_helpers(load_probe(name).text)
    assert text is not None
    return text


def test_lab_runs_bare_probes_after_dot_sourced_helpers(engine_lab: Lab) -> None:
    result = _invoke(engine_lab, CommandCall(helpers_script(), True, use_local_scope=False),
                     CommandCall(_bare("scheduler"), True, use_local_scope=True),
                     CommandCall(_bare("version"), True, use_local_scope=True))
    assert result.failure is None and len(result.outputs) == 2  # the helpers print nothing
    assert all('"ok":true' in out for out in result.outputs)


def test_lab_refuses_a_bare_probe_without_the_helpers(engine_lab: Lab) -> None:
    result = _invoke(engine_lab, CommandCall(_bare("scheduler"), True, use_local_scope=True))
    assert result.failure is not None
    assert result.failure.fully_qualified_error_id == "CommandNotFoundException"
    assert result.failure.target is not None and "-Es" in result.failure.target


def test_lab_helpers_in_a_local_scope_vanish_with_it(engine_lab: Lab) -> None:
    result = _invoke(engine_lab, CommandCall(helpers_script(), True, use_local_scope=True),
                     CommandCall(_bare("scheduler"), True, use_local_scope=True))
    assert result.failure is not None and result.outputs == []


def test_lab_does_not_run_helpers_it_does_not_know(engine_lab: Lab) -> None:
    altered = helpers_script() + "\nfunction Get-EsExtra { 1 }\n"
    result = _invoke(engine_lab, CommandCall(altered, True, use_local_scope=False),
                     CommandCall(_bare("scheduler"), True, use_local_scope=True))
    assert result.failure is not None and result.outputs == []


# --- on the wire --------------------------------------------------------------------------------------


def test_a_host_is_sent_less_than_the_probes_full_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every probe once carried its own helpers: the bodies sent (base64, so x4/3) were more than the full
    texts. Now the whole audit's requests weigh less than those texts."""
    sent: list[int] = []
    original = requests.adapters.HTTPAdapter.send

    def counting(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(len(request.body or b""))
        return original(adapter, request, *args, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", counting)
    calls = probe_calls()
    with Lab(SCENARIOS / "healthy-pair.yml", cloud=False) as lab:
        inventory = inventory_from_dict(lab.inventory_dict(), path=SCENARIOS / "lab.yml")
        with HostSession(inventory.pairs[0].servers[0]) as session:
            outputs = session.run_probes(calls)
    assert all(isinstance(out, str) for out in outputs.values()), outputs
    full_texts = sum(len(call.text.encode()) for call in calls)
    assert sum(sent) < full_texts, (sum(sent), full_texts)  # each probe with its copy: over 4/3 of it


def test_the_first_statement_is_short_because_psrp_writes_it_twice() -> None:
    """PSRP serialises the first statement as ``Cmds`` and again inside ``ExtraCmds``: the lead comment
    takes that place, so every script text travels once."""
    import re

    calls = probe_calls()
    xml = prepare_batch(calls, "2.3", 2).xml
    texts = re.findall(rb'<S N="Cmd">(.*?)</S>', xml, flags=re.S)
    assert texts.count(BATCH_LEAD.encode()) == 2  # Cmds and ExtraCmds
    assert len(texts) == len(batch_statements(calls)) + 1
    assert len(set(texts)) == len(texts) - 1


def test_lab_runs_the_lead_comment_as_powershell_does_printing_nothing(engine_lab: Lab) -> None:
    result = _invoke(engine_lab, CommandCall(BATCH_LEAD, True, use_local_scope=True),
                     CommandCall(helpers_script(), True, use_local_scope=False),
                     CommandCall(_bare("scheduler"), True, use_local_scope=True))
    assert result.failure is None and len(result.outputs) == 1
