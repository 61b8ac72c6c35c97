"""Shells (runspace pools) and commands (pipelines): psrpcore glue, per-target queues and the long-poll.

psrpcore is sans-IO and keeps one outgoing FIFO per pool; a Receive asks for one target (the pool, or one
CommandId), so everything psrpcore produces is drained into per-target queues and each Receive is served
from its own queue. All psrpcore access for a shell happens under that shell's condition lock; engine
calls run in worker threads outside it.

A pool runs at most ``max_runspaces`` pipelines at once (INIT_RUNSPACEPOOL / SET_MAX_RUNSPACES); later ones
wait in arrival order until a runspace is free, as on a real server, whose pool is an ordinary RunspacePool
built with the client's min/max (PowerShell's ServerRunspacePoolDriver) and "all requests above that number
remain queued until runspaces become available" (RunspacePool.SetMaxRunspaces, PowerShell SDK reference).
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from psrpcore import (
    CreatePipelineEvent,
    EndOfPipelineInputEvent,
    GetAvailableRunspacesEvent,
    GetCommandMetadataEvent,
    PipelineInputEvent,
    PowerShell,
    PSRPPayload,
    ResetRunspaceStateEvent,
    ServerPipeline,
    ServerRunspacePool,
    SetMaxRunspacesEvent,
    SetMinRunspacesEvent,
    StreamType,
)
from psrpcore._events import PSRPEvent
from psrpcore._payload import PSRPMessage, create_message
from psrpcore.types import (
    ApplicationPrivateData,
    PSInvocationState,
    PSObject,
    PSRPMessageType,
    RunspacePoolStateMsg,
    SessionCapability,
    add_note_property,
    deserialize,
    serialize,
)
from psrpcore.types import (
    PipelineState as PipelineStateMsg,
)
from psrpcore.types._serializer import _serialize_string

from entra_standby.lab.engine import CommandCall, ErrorInfo, Invocation, PipelineResult, ScriptEngine
from entra_standby.lab.wire import psvalues
from entra_standby.lab.wire.soap import (
    WSManFault,
    escape_text,
    internal_error,
    invalid_request,
    not_served,
    shell_not_found,
    shell_quota_exceeded,
    timed_out,
)

log = logging.getLogger(__name__)

#: Answer a long-poll this long before the client's OperationTimeout so the fault arrives in time.
class _ParsedCreatePipeline(CreatePipelineEvent):
    """psrpcore's CreatePipeline event with its pipeline built once for these bytes: ``pipeline`` is a
    property that builds a new ``PowerShell`` on every read (psrpcore reads it once, the lab once); the
    server side only reads it, so one shared object serves every host."""

    parsed_pipeline: PowerShell

    @property
    def pipeline(self) -> PowerShell:
        return self.parsed_pipeline


_Key = tuple[bytes | str, ...]


class _ParsedPipelines:
    """The last few CreatePipeline bodies parsed by this process (a fleet audit sends one or two kinds).

    Single flight: when 100 hosts send the same new body at once, one thread parses it and the others wait
    for that result instead of all parsing it side by side (which starved the lab into read timeouts on the
    first audit after start)."""

    def __init__(self, limit: int = 8) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._items: dict[_Key, Any] = {}
        self._building: dict[_Key, threading.Lock] = {}

    def get(self, key: _Key) -> Any:
        with self._lock:
            return self._items.get(key)

    def put(self, key: _Key, value: Any) -> None:
        with self._lock:
            if len(self._items) >= self._limit:
                self._items.pop(next(iter(self._items)))
            self._items.setdefault(key, value)

    def get_or_build(self, key: _Key, build: Callable[[], Any]) -> Any:
        """The cached value, else ``build()``'s (None is not cached), built by one thread at a time."""
        with self._lock:
            if key in self._items:
                return self._items[key]
            building = self._building.setdefault(key, threading.Lock())
        with building:
            found = self.get(key)
            if found is not None:
                return found
            try:
                value = build()
            finally:
                with self._lock:
                    self._building.pop(key, None)
            if value is not None:
                self.put(key, value)
            return value


_parsed_pipelines = _ParsedPipelines()

#: The opening handshake (MS-PSRP 3.1.4.1): every pypsrp client sends the same SessionCapability and
#: InitRunspacePool bodies, and a fresh pool answers them with the same three messages. psrpcore's serialiser
#: and deserialiser spent ~40% of a Create on them for every host (issue 13); the lab does it once per
#: process for each distinct body (and each distinct answer), then only frames the bytes for each pool.
_PARSE_ONCE = frozenset({PSRPMessageType.SessionCapability, PSRPMessageType.InitRunspacePool})
_parsed_messages = _ParsedPipelines()
_opening_answers = _ParsedPipelines()

TIMEOUT_MARGIN_S = 0.5
_POLL_SLICE_S = 0.2  # how often a waiting Receive checks for client EOF and server stop


def string_clixml(value: str) -> bytes:
    """``<S>value</S>``, byte for byte what psrpcore's ``prepare_message`` makes of a plain ``str``.

    Every probe answers with one JSON document (a string); psrpcore's generic serialiser spent ~0.12 ms on a
    3 KB one, most of it in two regex passes that escape what .NET cannot carry in CLIXML (C0/C1 controls,
    surrogates, and ``_x`` itself). Printable ASCII without ``_x`` needs none of that; anything else still
    goes through psrpcore's own escaping. Then ElementTree's text escaping and UTF-8."""
    if not value:
        return b"<S />"
    if value.isascii() and value.isprintable() and "_x" not in value and "_X" not in value:
        escaped = value
    else:
        escaped = _serialize_string(value)
    return b"<S>" + escape_text(escaped).encode("utf-8", "xmlcharrefreplace") + b"</S>"


class _LabPool(ServerRunspacePool):
    """psrpcore's server pool, tolerant of pypsrp's ``<I64 N="CI">`` in Set{Max,Min}Runspaces.

    Also writes a ``$null`` output as ``<Nil />``: psrpcore sends an empty PipelineOutput for None, which
    pypsrp cannot parse.
    """

    def __init__(self, application_private_data: dict[str, Any] | None = None) -> None:
        super().__init__(application_private_data=application_private_data)
        self._default_private_data = application_private_data is None
        # What ``their_capability`` was built from: "" while it is psrpcore's initial None, the body of the
        # client's SessionCapability once read, None if it came any other way (then its repr stands in).
        # With the pool's own capability (psrpcore's constant; the lab never changes it) that is all the
        # serialiser reads of a pool. A repr of the capabilities costs ~0.2 ms (PSVersion's attributes).
        self._their_origin: bytes | str | None = ""

    def _capability_key(self) -> bytes | str:
        return self._their_origin if self._their_origin is not None else repr(self.their_capability)

    def prepare_message(self, message: Any, message_type: PSRPMessageType | None = None,
                        pipeline_id: uuid.UUID | None = None,
                        stream_type: StreamType = StreamType.default) -> None:
        if message is None and message_type in (None, PSRPMessageType.PipelineOutput):
            self._queue(PSRPMessageType.PipelineOutput, b"<Nil />", pipeline_id, stream_type)
            return
        if type(message) is str and message_type == PSRPMessageType.PipelineOutput:
            self._queue(message_type, string_clixml(message), pipeline_id, stream_type)
            return
        key = self._opening_key(message, pipeline_id) if message_type is None else None
        if key is not None:
            data = _opening_answers.get_or_build(key, lambda: self._serialise(message))
            self._queue(PSRPMessageType.get_message_id(type(message)), data, pipeline_id, stream_type)
            return
        super().prepare_message(message, message_type, pipeline_id, stream_type)

    def _queue(self, kind: PSRPMessageType, data: bytes, pipeline_id: uuid.UUID | None,
               stream_type: StreamType) -> None:
        """What psrpcore's ``prepare_message`` does with a message's serialised bytes."""
        raw = create_message(self._is_client, kind, data, self.runspace_pool_id, pipeline_id)
        self._send_buffer.append(PSRPMessage(kind, bytearray(raw), self.runspace_pool_id, pipeline_id,
                                             self._fragment_counter, stream_type))

    def _serialise(self, message: Any) -> bytes:
        """psrpcore's serialisation of a message, as its ``prepare_message`` does it."""
        element = serialize(message, self._cipher, our_capability=self.our_capability,
                            their_capability=self.their_capability)
        return bytes(ElementTree.tostring(element, encoding="utf-8", method="xml"))

    def _opening_key(self, message: Any, pipeline_id: uuid.UUID | None) -> _Key | None:
        """The cache key of a message whose bytes depend only on the key, or None.

        The opening handshake's answers: SessionCapability is the pool's own capability,
        ApplicationPrivateData psrpcore's default for a pool created without any (built from that
        capability), RunspacePoolState a state and no error. A pipeline's state without an error
        (``Completed``, every audited host's last message). Their serialisation also reads the client's
        capability."""
        kind = type(message)
        own = kind is SessionCapability and message is self.our_capability
        if pipeline_id is None and (own or (kind is ApplicationPrivateData and self._default_private_data)):
            detail = ""
        elif pipeline_id is None and kind is RunspacePoolStateMsg and message.ExceptionAsErrorRecord is None:
            detail = str(int(message.RunspaceState))
        elif pipeline_id is not None and kind is PipelineStateMsg and message.ExceptionAsErrorRecord is None:
            detail = str(int(message.PipelineState))
        else:
            return None
        return kind.__name__, detail, self._capability_key()

    def _process_message(self, message: PSRPMessage) -> Any:
        """psrpcore's, except that a CreatePipeline body is parsed (and its pipeline built) once per lab
        process (issue 13).

        Every host of a fleet audit receives the same ~130 KB CreatePipeline (only the ids in its header
        differ), and psrpcore's deserialiser (a regex callback per escaped character, a PSObject per value)
        spent two thirds of the lab's CPU on it, so 100 hosts in flight on one lab process waited more than a
        read timeout for their answers. Same bytes, same capabilities: the same read-only object, exactly
        what parsing them again would give. Bodies with a SecureString (``<SS>``, session-key encrypted) are
        always parsed."""
        if message.message_type in _PARSE_ONCE and b"<SS>" not in message.data:
            return self._process_parsed_once(message)
        if message.message_type == PSRPMessageType.SessionCapability:
            self._their_origin = None  # psrpcore builds their_capability below, from bytes not recorded
        if (message.message_type != PSRPMessageType.CreatePipeline or b"<SS>" in message.data
                or message.pipeline_id is None):
            return super()._process_message(message)
        def parse() -> tuple[PSObject, PowerShell] | None:
            ps_object = deserialize(ElementTree.fromstring(message.data), cipher=self._cipher,
                                    our_capability=self.our_capability,
                                    their_capability=self.their_capability)
            if not isinstance(ps_object, PSObject):
                return None
            return ps_object, PowerShell.FromPSObjectForRemoting(ps_object)

        parsed = _parsed_pipelines.get_or_build((bytes(message.data), self._capability_key()), parse)
        if parsed is None:  # not a pipeline: psrpcore says what is wrong with it
            return super()._process_message(message)
        event = _ParsedCreatePipeline(message.message_type, parsed[0], message.runspace_pool_id,
                                      message.pipeline_id)
        event.parsed_pipeline = parsed[1]
        self._process_CreatePipeline(event)
        return event

    def _process_parsed_once(self, message: PSRPMessage) -> Any:
        """psrpcore's ``_process_message`` for an opening message, its body deserialised once per process.

        The event's object is shared by every pool that received the same bytes; psrpcore's handlers only
        read it (SessionCapability copies its versions, InitRunspacePool its settings; the lab never writes
        to a pool's ``application_arguments``)."""
        def parse() -> Any:
            return deserialize(ElementTree.fromstring(message.data), cipher=self._cipher,
                               our_capability=self.our_capability, their_capability=self.their_capability)

        kind = message.message_type
        body = bytes(message.data)
        ps_object = _parsed_messages.get_or_build((body, kind.name, self._capability_key()), parse)
        event = PSRPEvent.create(kind, ps_object, message.runspace_pool_id, message.pipeline_id)
        getattr(self, f"_process_{kind.name}")(event)
        if kind == PSRPMessageType.SessionCapability:
            self._their_origin = body
        return event

    @staticmethod
    def _add_ci(event: Any) -> None:
        obj = event._ps_object  # psrpcore reads ``.ci`` case-sensitively; pypsrp sends ``CI``
        if not hasattr(obj, "ci") and hasattr(obj, "CI"):
            add_note_property(obj, "ci", obj.CI)

    def _process_SetMaxRunspaces(self, event: SetMaxRunspacesEvent) -> None:
        self._add_ci(event)
        super()._process_SetMaxRunspaces(event)

    def _process_SetMinRunspaces(self, event: SetMinRunspacesEvent) -> None:
        self._add_ci(event)
        super()._process_SetMinRunspaces(event)


@dataclass(eq=False)  # identity: a pipeline is itself, whatever its state
class Command:
    """One pipeline (WS-Man Command) of a shell."""

    id: uuid.UUID
    pipeline: ServerPipeline
    cancel: threading.Event = field(default_factory=threading.Event)
    metadata: PowerShell | None = None
    input: list[Any] = field(default_factory=list)
    input_done: bool = False
    started: bool = False
    finished: bool = False
    terminated: bool = False
    lost: str | None = None  # the engine's PipelineResult.transport_fault: how the answer is lost


@dataclass
class Shell:
    """One WS-Man shell = one PSRP runspace pool."""

    id: uuid.UUID
    resource_uri: str
    owner: str
    client_ip: str
    pool: _LabPool
    cond: threading.Condition = field(default_factory=threading.Condition)
    queues: dict[uuid.UUID | None, deque[bytes]] = field(default_factory=dict)
    commands: dict[uuid.UUID, Command] = field(default_factory=dict)
    waiting: deque[Command] = field(default_factory=deque)  # ready, but every runspace is busy
    last_used: float = field(default_factory=time.monotonic)
    closed: bool = False


@dataclass
class ReceiveResult:
    chunks: list[bytes]
    done: bool  # the command finished and everything it produced has been handed out
    lost: str | None = None  # the answer is lost this way (PipelineResult.transport_fault)


def payload_budget(max_envelope_size: int) -> int:
    """Raw PSRP bytes that fit one response: (envelope - 4 KiB of SOAP) as base64."""
    return max(((max_envelope_size - 4096) * 3) // 4, 1024)


def parse_uuid(text: str | None, what: str) -> uuid.UUID:
    try:
        return uuid.UUID((text or "").strip())
    except ValueError:
        raise invalid_request(f"{what} {text!r} is not a GUID") from None


def decode_b64(text: str | None, what: str) -> bytes:
    try:
        return base64.b64decode((text or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise invalid_request(f"{what} is not valid base64") from None


def _invocation(command: Command) -> Invocation:
    metadata = command.metadata
    calls: list[CommandCall] = []
    for cmd in metadata.commands if metadata is not None else []:
        parameters: dict[str, Any] = {}
        positional = 0
        for name, value in cmd.parameters:
            if name is None:  # positional arguments: "@0", "@1", ... (never a valid parameter name)
                parameters[f"@{positional}"] = psvalues.to_plain(value)
                positional += 1
            else:
                parameters[str(name)] = psvalues.to_plain(value)
        calls.append(CommandCall(text=str(cmd.command_text), is_script=bool(cmd.is_script),
                                 parameters=parameters, end_of_statement=bool(cmd.end_of_statement),
                                 use_local_scope=cmd.use_local_scope))
    return Invocation(commands=tuple(calls), pipeline_id=str(command.id).upper(), input=tuple(command.input))


MAX_SHELLS_PER_USER = 25
"""The microsoft.powershell endpoint's MaxShellsPerUser quota on Windows Server 2012 and later
(``Get-PSSessionConfiguration microsoft.powershell``); a Create beyond it is refused (wsman:QuotaLimit)."""


class ShellRegistry:
    """Every shell of one server, the engine workers, and the Receive long-poll."""

    def __init__(self, engine: ScriptEngine, *, stopping: threading.Event, idle_timeout_s: float,
                 application_private_data: dict[str, Any] | None = None,
                 max_shells_per_user: int = MAX_SHELLS_PER_USER) -> None:
        self._engine = engine
        self._max_shells_per_user = max_shells_per_user
        self._stopping = stopping
        self._idle_timeout_s = idle_timeout_s
        self._app_data = application_private_data
        self._lock = threading.Lock()
        self._shells: dict[uuid.UUID, Shell] = {}

    # -- registry ------------------------------------------------------------------------------------------
    def get(self, shell_id_text: str | None) -> Shell:
        self.reap_idle()
        try:
            shell_id = uuid.UUID((shell_id_text or "").strip())
        except ValueError:
            raise shell_not_found(shell_id_text or "(none)") from None
        with self._lock:
            shell = self._shells.get(shell_id)
        if shell is None or shell.closed:
            raise shell_not_found(str(shell_id).upper())
        shell.last_used = time.monotonic()
        return shell

    def list(self) -> list[Shell]:
        with self._lock:
            return [s for s in self._shells.values() if not s.closed]

    def create(self, shell_id_text: str | None, resource_uri: str, owner: str, client_ip: str,
               creation: bytes) -> Shell:
        self.reap_idle()
        shell_id = parse_uuid(shell_id_text, "ShellId") if shell_id_text else uuid.uuid4()
        pool = _LabPool(application_private_data=self._app_data)
        shell = Shell(id=shell_id, resource_uri=resource_uri, owner=owner, client_ip=client_ip, pool=pool)
        with shell.cond:
            self._feed(shell, creation, None, StreamType.default)
        with self._lock:
            if shell_id in self._shells:
                raise invalid_request(f"a shell with ShellId {str(shell_id).upper()} already exists")
            owned = sum(1 for s in self._shells.values() if s.owner == owner and not s.closed)
            within_quota = owned < self._max_shells_per_user
            if within_quota:
                self._shells[shell_id] = shell
        if not within_quota:
            self._close(shell)
            raise shell_quota_exceeded(self._max_shells_per_user)
        return shell

    def delete(self, shell: Shell) -> None:
        with self._lock:
            self._shells.pop(shell.id, None)
        self._close(shell)

    def close_all(self) -> None:
        with self._lock:
            shells = list(self._shells.values())
            self._shells.clear()
        for shell in shells:
            self._close(shell)

    def reap_idle(self) -> None:
        now = time.monotonic()
        with self._lock:
            idle = [s for s in self._shells.values()
                    if now - s.last_used > self._idle_timeout_s and not any(
                        c.started and not c.finished for c in list(s.commands.values()))]
            for shell in idle:
                del self._shells[shell.id]
        for shell in idle:
            log.info("shell %s idle for more than %.0f s: removed", shell.id, self._idle_timeout_s)
            self._close(shell)

    @staticmethod
    def _close(shell: Shell) -> None:
        with shell.cond:
            shell.closed = True
            for command in shell.commands.values():
                command.cancel.set()
            shell.cond.notify_all()

    # -- PSRP in -------------------------------------------------------------------------------------------
    def _feed(self, shell: Shell, data: bytes, pipeline_id: uuid.UUID | None, stream: StreamType) -> None:
        """Give psrpcore incoming fragments and react to the events they complete. Caller holds cond."""
        try:
            shell.pool.receive_data(PSRPPayload(data, stream, pipeline_id))
            while True:
                event = shell.pool.next_event()
                if event is None:
                    break
                self._on_event(shell, event)
        except WSManFault:
            raise  # a well-formed message the lab refuses; psrpcore's buffers are consistent
        except Exception as exc:
            # Garbage must not poison the pool for the fragments that follow: drop what was buffered.
            shell.pool._receive_buffer = bytearray()
            shell.pool._incoming_fragments.clear()
            shell.pool._incoming_messages.clear()
            log.warning("shell %s: bad PSRP data: %s: %s", shell.id, type(exc).__name__, exc)
            raise invalid_request(f"malformed PSRP data ({type(exc).__name__})") from None
        shell.cond.notify_all()

    def _on_event(self, shell: Shell, event: Any) -> None:
        pool = shell.pool
        if isinstance(event, GetCommandMetadataEvent):
            # A real server answers with Get-Command's metadata (MS-PSRP 3.1.4.5); the lab cannot describe
            # its commands' parameters faithfully, so it refuses at once rather than leave the client waiting.
            raise not_served("the GetCommandMetadata message (MS-PSRP 2.2.2.14, pypsrp get_command_metadata)")
        if isinstance(event, CreatePipelineEvent):
            command = shell.commands.get(event.pipeline_id)
            if command is None:
                raise invalid_request(f"CreatePipeline for unknown pipeline {event.pipeline_id}")
            command.metadata = event.pipeline
            if command.metadata.no_input:
                command.input_done = True
            self._maybe_start(shell, command)
        elif isinstance(event, PipelineInputEvent):
            command = shell.commands.get(event.pipeline_id)
            if command is not None:
                command.input.append(psvalues.to_plain(event.data))
        elif isinstance(event, EndOfPipelineInputEvent):
            command = shell.commands.get(event.pipeline_id)
            if command is not None:
                command.input_done = True
                self._maybe_start(shell, command)
        elif isinstance(event, SetMaxRunspacesEvent | SetMinRunspacesEvent | ResetRunspaceStateEvent):
            # As the server's RunspacePool answers: max may not go below min, min must stay in 1..max, and a
            # reset only applies to a single-runspace pool (ServerRunspacePoolDriver.ResetRunspaceState).
            if isinstance(event, SetMaxRunspacesEvent):
                accepted = event.count >= pool.min_runspaces
            elif isinstance(event, SetMinRunspacesEvent):
                accepted = 1 <= event.count <= pool.max_runspaces
            else:
                accepted = pool.max_runspaces == 1
            pool.runspace_availability_response(event.ci, accepted)
            self._start_waiting(shell)  # a larger pool frees runspaces at once
        elif isinstance(event, GetAvailableRunspacesEvent):
            pool.runspace_availability_response(event.ci, max(pool.max_runspaces - self._busy(shell), 0))

    # -- commands ------------------------------------------------------------------------------------------
    def command(self, shell: Shell, command_id_text: str | None, first_fragment: bytes) -> Command:
        if command_id_text:
            command_id = parse_uuid(command_id_text, "CommandId")
        elif len(first_fragment) >= 61:  # fragment header (21) + destination, type, RPID (24) then the PID
            command_id = uuid.UUID(bytes_le=first_fragment[45:61])
        else:
            raise invalid_request("the command has neither a CommandId nor a CreatePipeline fragment")
        with shell.cond:
            if shell.closed:
                raise shell_not_found(str(shell.id).upper())
            if command_id in shell.commands:
                raise invalid_request(f"a command with CommandId {str(command_id).upper()} already exists")
            # psrpcore needs the pipeline to exist before its CreatePipeline fragment is fed.
            command = Command(id=command_id, pipeline=ServerPipeline(shell.pool, command_id))
            shell.commands[command_id] = command
            try:
                self._feed(shell, first_fragment, command_id, StreamType.default)
            except Exception:
                shell.commands.pop(command_id, None)
                shell.pool.pipeline_table.pop(command_id, None)
                raise
        return command

    def send(self, shell: Shell, command_id_text: str | None, stream_name: str, data: bytes) -> None:
        command_id = parse_uuid(command_id_text, "CommandId") if command_id_text else None
        stream = StreamType.prompt_response if stream_name == "pr" else StreamType.default
        with shell.cond:
            if shell.closed:
                raise shell_not_found(str(shell.id).upper())
            self._feed(shell, data, command_id, stream)

    def signal(self, shell: Shell, command_id_text: str | None, code: str) -> None:
        command_id = parse_uuid(command_id_text, "CommandId") if command_id_text else None
        with shell.cond:
            command = shell.commands.get(command_id) if command_id else None
            if command is None:
                return  # a signal for a command that is already gone is harmless
            command.cancel.set()
            if code.lower().endswith("/terminate"):
                command.terminated = True
                if command.finished or not command.started:
                    self._forget(shell, command)
            shell.cond.notify_all()

    @staticmethod
    def _forget(shell: Shell, command: Command) -> None:
        if command in shell.waiting:
            shell.waiting.remove(command)
        shell.commands.pop(command.id, None)
        shell.pool.pipeline_table.pop(command.id, None)
        shell.queues.pop(command.id, None)

    @staticmethod
    def _busy(shell: Shell) -> int:
        return sum(1 for c in shell.commands.values() if c.started and not c.finished)

    def _maybe_start(self, shell: Shell, command: Command) -> None:
        if command.started or command.metadata is None or not command.input_done:
            return
        if command not in shell.waiting:
            shell.waiting.append(command)
        self._start_waiting(shell)

    def _start_waiting(self, shell: Shell) -> None:
        """Start queued pipelines, oldest first, while the pool has a free runspace. Caller holds cond."""
        while shell.waiting and self._busy(shell) < max(shell.pool.max_runspaces, 1):
            self._start(shell, shell.waiting.popleft())

    def _start(self, shell: Shell, command: Command) -> None:
        command.started = True
        # Running is not emitted: pypsrp marks the pipeline running itself, and a Receive answered with only
        # that state would cost a round trip.
        command.pipeline._change_state(PSInvocationState.Running, emit=False)
        invocation = _invocation(command)
        worker = threading.Thread(target=self._run, args=(shell, command, invocation),
                                  name=f"lab-pipeline-{str(command.id)[:8]}", daemon=True)
        worker.start()

    def _run(self, shell: Shell, command: Command, invocation: Invocation) -> None:
        try:
            # A pipeline stopped while it waited for a runspace never runs (it is reported Stopped).
            result = PipelineResult() if command.cancel.is_set() else self._engine.invoke(invocation,
                                                                                           command.cancel)
        except Exception as exc:  # an engine bug becomes a failed pipeline, never a dead worker
            log.exception("lab engine failed on pipeline %s", command.id)
            failure = ErrorInfo(message=f"lab engine error: {type(exc).__name__}: {exc}")
            result = PipelineResult(failure=failure)
        with shell.cond:
            command.finished = True
            if shell.closed:
                return
            self._start_waiting(shell)  # this runspace is free again
            if command.terminated:
                self._forget(shell, command)
                shell.cond.notify_all()
                return
            if result.transport_fault is not None:
                command.lost = result.transport_fault
                shell.cond.notify_all()
                return
            try:
                self._write_result(command, result)
            except Exception as exc:
                log.exception("could not serialise the result of pipeline %s", command.id)
                pipe = command.pipeline
                if pipe.state == PSInvocationState.Running:
                    info = ErrorInfo(message=f"lab could not serialise the result: {type(exc).__name__}")
                    pipe._change_state(PSInvocationState.Failed, psvalues.error_record(info))
            shell.cond.notify_all()

    @staticmethod
    def _write_result(command: Command, result: PipelineResult) -> None:
        pipe = command.pipeline
        if command.cancel.is_set():
            pipe.stop()
            return
        for value in result.outputs:
            pipe.write_output(psvalues.to_ps(value))
        for warning in result.warnings:
            pipe.write_warning(warning)
        for error in result.errors:
            pipe.write_error(psvalues.net_exception(error), psvalues.category_info(error),
                             target_object=error.target,
                             fully_qualified_error_id=error.fully_qualified_error_id)
        if result.failure is not None:
            # psrpcore has no public "fail" API; this emits PipelineState(Failed) + ExceptionAsErrorRecord.
            pipe._change_state(PSInvocationState.Failed, psvalues.error_record(result.failure))
        else:
            pipe.complete()

    # -- PSRP out: Receive long-poll -----------------------------------------------------------------------
    def _drain(self, shell: Shell, amount: int) -> None:
        while True:
            payload = shell.pool.data_to_send(amount)
            if payload is None:
                return
            shell.queues.setdefault(payload.pipeline_id, deque()).append(bytes(payload.data))

    def receive(self, shell: Shell, command_id_text: str | None, operation_timeout_s: float,
                max_envelope_size: int, abandoned: Callable[[], bool]) -> ReceiveResult | None:
        """Long-poll for the pool's or one command's output.

        Returns None when the client went away (or the server is stopping) so nothing is handed to a dead
        socket; raises the TimedOut fault shortly before the client's OperationTimeout.
        """
        command_id = parse_uuid(command_id_text, "CommandId") if command_id_text else None
        budget = payload_budget(max_envelope_size)
        deadline = time.monotonic() + max(operation_timeout_s - TIMEOUT_MARGIN_S, 0.1)
        with shell.cond:
            while True:
                if shell.closed:
                    raise shell_not_found(str(shell.id).upper())
                if self._stopping.is_set():
                    return None
                self._drain(shell, budget)
                command = shell.commands.get(command_id) if command_id else None
                if command_id is not None and command is None:
                    raise internal_error(f"the command {str(command_id).upper()} does not exist")
                if command is not None and command.lost is not None:
                    self._forget(shell, command)
                    return ReceiveResult(chunks=[], done=True, lost=command.lost)
                queue = shell.queues.get(command_id)
                if queue:
                    if abandoned():
                        return None
                    chunks = [queue.popleft()]
                    size = len(chunks[0])
                    while queue and size + len(queue[0]) <= budget:
                        size += len(queue[0])
                        chunks.append(queue.popleft())
                    done = command is not None and command.finished and not queue
                    if done and command is not None:
                        self._forget(shell, command)  # pypsrp never asks again once PipelineState arrived
                    shell.last_used = time.monotonic()
                    return ReceiveResult(chunks=chunks, done=done)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise timed_out()
                if abandoned():
                    return None
                shell.cond.wait(min(remaining, _POLL_SLICE_S))
