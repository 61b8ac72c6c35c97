"""The probe batch as it goes on the wire: helpers once, built and serialised once per run (issue 13).

Shape of a batch (one PSRP pipeline, one statement per line below):

0. ``BATCH_LEAD``, a one-line comment: it runs nothing and prints nothing. PSRP writes a pipeline's FIRST
   statement twice (its commands as ``Cmds`` for protocol 2.1 servers, and again within ``ExtraCmds``, the
   list of every statement), so a short first statement keeps the 15 KB of helpers from travelling twice
   (about 23 KB per host on the wire);
1. ``helpers_script()`` (``probes/helpers/common.ps1`` behind its marker line), dot-sourced: it defines the
   helper functions in the runspace's global scope and prints nothing;
2. every probe, its helpers region left empty (as in the repository), in its OWN local scope
   (``UseLocalScope``), with its named parameters: it finds the helpers through scope lookup, while its
   variables, preferences and errors stay its own, as if it ran alone.

So each probe prints exactly one object, in statement order, and ``remoting.drive_pipeline``'s per-probe
budget (X4) counts outputs as before. The helpers and the probes travel in their wire form (``probes/
wire.py``: comments, blank lines and indentation left out, proven safe per text). A call whose text is not a
catalogue probe with the shipped helpers is sent whole, unchanged; ``probe show`` still prints the
standalone script (helpers included), ``probe show --as-sent`` a probe's statement here.

Serialise once: the CreatePipeline message of a batch is the same for every host that runs the same calls
(names, texts, parameters) with the same PSRP protocol version, so it is built with pypsrp's public message
classes (``Command``, ``CommandParameter``, ``Pipeline``, ``CreatePipeline``, ``HostInfo``), serialised
with its public ``Serializer`` and written out as UTF-8 XML once, then kept (``PreparedBatch``): no
per-host escaping of the script text, no ``deepcopy`` of the commands, and no per-host ``ET.tostring`` of
a 100 KB tree (a fifth of the client's CPU per host in issue 13's profile). Per host only the 40-byte PSRP
message header (destination, type, the host's runspace pool and pipeline ids) is added, and the message
is cut into fragments as pypsrp's ``Fragmenter.fragment`` does (``Fragment``, the pool's fragment size and
object counter), then sent as ``PowerShell._invoke`` does: the first fragment with the Command, the rest
with Send. Those are pypsrp 0.8/0.9 internals (``RunspacePool._fragmenter``, ``pipelines``, ``shell``,
``PowerShell._command_id``); ``tests/test_prepared.py`` pins that the requests a host sends are byte for
byte those of ``begin_invoke`` for the same statements.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pypsrp.complex_objects import (
    ApartmentState,
    Command,
    CommandParameter,
    HostInfo,
    Pipeline,
    PSInvocationState,
    RemoteStreamOptions,
)
from pypsrp.exceptions import InvalidPipelineStateError
from pypsrp.messages import CreatePipeline, Destination, MessageType
from pypsrp.powershell import Fragment, PowerShell
from pypsrp.serializer import Serializer
from pypsrp.wsman import NAMESPACES

from .probes import helpers_script, without_helpers
from .probes.wire import as_sent

__all__ = ["BATCH_LEAD", "BatchStatement", "PreparedBatch", "batch_statements", "begin_prepared",
           "prepare_batch"]

BATCH_LEAD = "# entra-standby-batch"
"""The batch's first statement: a comment (see the module docstring for why it leads)."""

_CACHE_LIMIT = 16  # distinct batches kept per process (a run has one or two: the batch and X4's re-runs)


@dataclass(frozen=True)
class BatchStatement:
    """One statement of the batch: a script, its parameters and whether it runs in its own scope."""

    text: str
    parameters: tuple[tuple[str, Any], ...] = ()
    use_local_scope: bool | None = True


def batch_statements(calls: Sequence[Any]) -> list[BatchStatement]:
    """The statements for ``calls`` (``ProbeCall``-like: ``name``, ``text``, ``parameters``): if any call
    shares the helpers, the lead comment and the helpers first; then each call in its own scope, without its
    copy of the shipped helpers; helpers and probes in their wire form (``probes.wire``)."""
    statements: list[BatchStatement] = []
    shared = False
    for call in calls:
        bare = without_helpers(call.text)
        shared = shared or bare is not None
        # Only catalogue scripts go in their wire form (comments left out, probes/wire.py); others whole.
        text = as_sent(bare, f"probes/{call.name}.ps1") if bare is not None else call.text
        statements.append(BatchStatement(text, tuple(dict(call.parameters).items()), True))
    if shared:
        # Dot-sourced (no local scope): the functions must outlive this statement for the probes after it.
        helpers = as_sent(helpers_script(), "probes/helpers/common.ps1")
        statements[:0] = [BatchStatement(BATCH_LEAD, (), True), BatchStatement(helpers, (), False)]
    return statements


@dataclass(frozen=True)
class PreparedBatch:
    """A batch's CreatePipeline, serialised once (``xml``: the message body as UTF-8 bytes, what pypsrp's
    ``Message.pack`` writes after the header); shared read-only by every host's pipeline."""

    statements: tuple[BatchStatement, ...]
    xml: bytes


_cache: dict[str, PreparedBatch] = {}
_cache_lock = threading.Lock()


def prepare_batch(calls: Sequence[Any], protocol_version: str | None,
                  apartment_state: int, host: Any = None) -> PreparedBatch:
    """The prepared batch for ``calls`` on a pool with this protocol version and apartment state (cached)."""
    statements = tuple(batch_statements(calls))
    key = _key(statements, protocol_version, apartment_state, host)
    with _cache_lock:
        found = _cache.get(key)
    if found is not None:
        return found
    prepared = PreparedBatch(statements, _serialise(statements, protocol_version, apartment_state, host))
    with _cache_lock:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.pop(next(iter(_cache)))
        _cache.setdefault(key, prepared)
        return _cache[key]


def _key(statements: tuple[BatchStatement, ...], protocol_version: str | None, apartment_state: int,
         host: Any) -> str:
    return json.dumps([[s.text, [list(p) for p in s.parameters], s.use_local_scope] for s in statements]
                      + [protocol_version, apartment_state, repr(host)], default=repr, sort_keys=True)


def build_create_pipeline(statements: Sequence[BatchStatement], protocol_version: str | None,
                          apartment_state: int, host: Any = None) -> CreatePipeline:
    """What ``PowerShell.begin_invoke()`` builds (pypsrp 0.8) after ``add_script``/``add_parameters``/
    ``add_statement`` for each statement, with its default arguments."""
    commands = []
    for statement in statements:
        command = Command(statement.text, protocol_version=protocol_version or "", is_script=True,
                          use_local_scope=statement.use_local_scope)
        for name, value in statement.parameters:
            command.args.append(CommandParameter(name=name, value=value))
        command.end_of_statement = True
        commands.append(command)
    pipeline = Pipeline(is_nested=False, cmds=commands, history=None, redirect_err_to_out=False)
    return CreatePipeline(True, ApartmentState(value=apartment_state),
                          RemoteStreamOptions(value=RemoteStreamOptions.ADD_INVOCATION_INFO), False,
                          HostInfo(host=host), pipeline, False)


def _serialise(statements: Sequence[BatchStatement], protocol_version: str | None, apartment_state: int,
               host: Any) -> bytes:
    element = Serializer().serialize(build_create_pipeline(statements, protocol_version, apartment_state,
                                                           host))
    assert element is not None  # a ComplexObject always serialises to an element
    xml: bytes = ET.tostring(element, encoding="utf-8", method="xml")  # as Message.pack writes it
    return xml


def message_fragments(ps: PowerShell, prepared: PreparedBatch) -> list[bytes]:
    """The batch's CreatePipeline for ``ps`` cut into PSRP fragments, as ``Fragmenter.fragment`` does."""
    pool = ps.runspace_pool
    fragmenter = pool._fragmenter
    message = (struct.pack("<II", Destination.SERVER, MessageType.CREATE_PIPELINE)
               + uuid.UUID(pool.id).bytes_le + uuid.UUID(ps.id).bytes_le + prepared.xml)
    size = fragmenter.max_size
    fragments = [Fragment(fragmenter.outgoing_counter, number, message[start:start + size],
                          start == 0, start + size >= len(message)).pack()
                 for number, start in enumerate(range(0, len(message), size))]
    fragmenter.outgoing_counter += 1
    return fragments


def begin_prepared(ps: PowerShell, prepared: PreparedBatch) -> None:
    """``ps.begin_invoke()`` for a prepared batch: its cached message, with ``ps``'s own ids, sent as
    ``PowerShell._invoke`` sends a message (first fragment with the Command, the rest with Send)."""
    valid = [PSInvocationState.NOT_STARTED, PSInvocationState.STOPPED, PSInvocationState.COMPLETED,
             PSInvocationState.FAILED]
    if ps.state not in valid:
        raise InvalidPipelineStateError(ps.state, valid, "start a PowerShell pipeline")
    pool = ps.runspace_pool
    fragments = message_fragments(ps, prepared)
    pool.pipelines[ps.id] = ps
    first = base64.b64encode(fragments.pop(0)).decode("utf-8")
    response = pool.shell.command("", arguments=[first], command_id=ps.id)
    command_id = response.find("rsp:CommandResponse/rsp:CommandId", NAMESPACES)
    if command_id is not None:
        ps._command_id = command_id.text or ""
    ps.state = PSInvocationState.RUNNING
    for fragment in fragments:
        pool.shell.send("stdin", fragment, command_id=ps._command_id)


def pool_settings(ps: PowerShell) -> Mapping[str, Any]:
    """The pool values a CreatePipeline depends on."""
    pool = ps.runspace_pool
    return {"protocol_version": pool.protocol_version, "apartment_state": pool.apartment_state,
            "host": pool.host}
