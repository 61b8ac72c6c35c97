"""The probe batch as it goes on the wire: helpers once, built and serialised once per run (issue 13).

Shape of a batch (one PSRP pipeline, one statement per line below):

1. ``helpers_script()`` (``probes/helpers/common.ps1`` behind its marker line), dot-sourced: it defines the
   helper functions in the runspace's global scope and prints nothing;
2. every probe, its helpers region left empty (as in the repository), in its OWN local scope
   (``UseLocalScope``), with its named parameters: it finds the helpers through scope lookup, while its
   variables, preferences and errors stay its own, as if it ran alone.

So each probe prints exactly one object, in statement order, and ``remoting.drive_pipeline``'s per-probe
budget (X4) counts outputs as before. A call whose text is not a catalogue probe with the shipped helpers
is sent whole, unchanged; ``probe show`` still prints the standalone script (helpers included).

Serialise once: the CreatePipeline message of a batch is the same for every host that runs the same calls
(names, texts, parameters) with the same PSRP protocol version, so it is built with pypsrp's public message
classes (``Command``, ``CommandParameter``, ``Pipeline``, ``CreatePipeline``, ``HostInfo``) and serialised
with its public ``Serializer`` once, then kept (``PreparedBatch``). ``Serializer.serialize`` returns an
``Element`` it is given unchanged, so each host's ``Message.pack`` only writes the cached tree out and adds
its own runspace pool and pipeline ids: no per-host escaping of 30 KB of script, no ``deepcopy`` of the
commands. The one private pypsrp call is ``PowerShell._invoke`` (what ``begin_invoke`` itself ends with);
``tests/test_prepared.py`` pins that the bytes sent equal what ``begin_invoke`` would send.
"""

from __future__ import annotations

import json
import threading
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
from pypsrp.messages import CreatePipeline, MessageType
from pypsrp.powershell import PowerShell
from pypsrp.serializer import Serializer

from .probes import helpers_script, without_helpers

__all__ = ["BatchStatement", "PreparedBatch", "batch_statements", "begin_prepared", "prepare_batch"]

_CACHE_LIMIT = 16  # distinct batches kept per process (a run has one or two: the batch and X4's re-runs)


@dataclass(frozen=True)
class BatchStatement:
    """One statement of the batch: a script, its parameters and whether it runs in its own scope."""

    text: str
    parameters: tuple[tuple[str, Any], ...] = ()
    use_local_scope: bool | None = True


def batch_statements(calls: Sequence[Any]) -> list[BatchStatement]:
    """The statements for ``calls`` (``ProbeCall``-like: ``text``, ``parameters``): the helpers first if
    any call shares them, then each call in its own scope, without its copy of the shipped helpers."""
    statements: list[BatchStatement] = []
    shared = False
    for call in calls:
        bare = without_helpers(call.text)
        shared = shared or bare is not None
        statements.append(BatchStatement(bare if bare is not None else call.text,
                                         tuple(dict(call.parameters).items()), True))
    if shared:
        # Dot-sourced (no local scope): the functions must outlive this statement for the probes after it.
        statements.insert(0, BatchStatement(helpers_script(), (), False))
    return statements


class _PreparedXml(ET.Element):
    """A serialised CreatePipeline: pypsrp's ``Message`` reads ``MESSAGE_TYPE`` from its data and its
    ``Serializer`` passes an ``Element`` through as it is."""

    MESSAGE_TYPE = MessageType.CREATE_PIPELINE


@dataclass(frozen=True)
class PreparedBatch:
    """A batch's CreatePipeline, serialised once; shared read-only by every host's pipeline."""

    statements: tuple[BatchStatement, ...]
    message: ET.Element

    @property
    def probe_count(self) -> int:
        """Statements that print (the helpers statement prints nothing)."""
        return sum(1 for s in self.statements if s.use_local_scope is not False)


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
               host: Any) -> ET.Element:
    element = Serializer().serialize(build_create_pipeline(statements, protocol_version, apartment_state,
                                                           host))
    assert element is not None  # a ComplexObject always serialises to an element
    prepared = _PreparedXml(element.tag, element.attrib)
    prepared.text, prepared.tail = element.text, element.tail
    prepared.extend(list(element))
    return prepared


def begin_prepared(ps: PowerShell, prepared: PreparedBatch) -> None:
    """``ps.begin_invoke()`` for a prepared batch: sends its cached message with ``ps``'s own ids."""
    valid = [PSInvocationState.NOT_STARTED, PSInvocationState.STOPPED, PSInvocationState.COMPLETED,
             PSInvocationState.FAILED]
    if ps.state not in valid:
        raise InvalidPipelineStateError(ps.state, valid, "start a PowerShell pipeline")
    ps._invoke(prepared.message)  # type: ignore[arg-type]  # Message reads MESSAGE_TYPE, see _PreparedXml


def pool_settings(ps: PowerShell) -> Mapping[str, Any]:
    """The pool values a CreatePipeline depends on."""
    pool = ps.runspace_pool
    return {"protocol_version": pool.protocol_version, "apartment_state": pool.apartment_state,
            "host": pool.host}
