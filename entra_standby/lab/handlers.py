"""``LabEngine``: answers PSRP pipelines for one simulated server, like Windows PowerShell 5.1 would.

Scripts are recognised by their first line (``# entra-standby-probe: <name>`` / ``# entra-standby-action:
<name>``) and answered with the contract's JSON envelope. A few cmdlets (``binding.CMDLETS``) run too, as
PSRP commands or in other scripts, which ``pslang`` parses whole before anything runs. An unknown command
fails with PowerShell's CommandNotFound error; syntax or parameters the lab cannot evaluate faithfully fail
with PowerShell's parse/binding error or with ``LabNotServed``, never with a plausible answer.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

from ..probes import HELPERS_REGION_END, helpers_script, helpers_source, needs_helpers
from ..probes.wire import wire_form
from .binding import bind, display, find_cmdlet
from .context import LabContext
from .cycle import CycleAlreadyRunningError, SyncCycleRunner
from .engine import CommandCall, ErrorInfo, Invocation, PipelineResult, command_not_found
from .probes import (
    ADSYNC_CMDLET,
    CONSTRAINED_LANGUAGE,
    PROBE_DATA,
    PROBE_PARAMETERS,
    RUN_TIMES_AS_UTC,
    ProbeFailedError,
    adsync_access_refused,
    run_times_as_utc,
    scheduler_data,
)
from .ps51 import unroll_collections
from .pslang import Arg, Element, PSFailure, not_served, parse_script
from .state import ServerState
from .stepfaults import StepFaults
from .timefmt import ps_date, utc_now

_MARKER = re.compile(r"^#\s*entra-standby-(?P<kind>probe|action|helpers):\s*(?P<name>[A-Za-z0-9_-]+)\s*$")
_ACTION_PARAMETERS: dict[str, tuple[str, ...]] = {
    "set-staging": ("enabled",),
    "set-sync-cycle": ("enabled",),
    "start-sync-cycle": ("policytype",),
    "write-canary": ("userprincipalname", "attribute", "value"),
}
# A script's parameters bind positionally in the order its param() block declares them.
_SCRIPT_PARAMETERS: dict[str, tuple[str, ...]] = {**PROBE_PARAMETERS, **_ACTION_PARAMETERS}
_MANDATORY: dict[str, tuple[str, ...]] = {
    "set-staging": ("Enabled",),
    "set-sync-cycle": ("Enabled",),
    "write-canary": ("UserPrincipalName", "Attribute", "Value"),
}
# ValidatePattern matches case-insensitively, as PowerShell's -match does.
_CANARY_ATTRIBUTE = re.compile(r"^extensionAttribute([1-9]|1[0-5])$", re.IGNORECASE)
# The refusals of actions/set-staging.ps1, word for word (the lab answers what the script would).
SUSPENDED_MESSAGE = (
    "refused: SchedulerSuspended is True on this server (an open Entra Connect wizard or an upgrade); "
    "close the wizard or let the upgrade finish, then try again"
)
BUSY_MESSAGE = (
    "refused: a sync cycle is running on this server (SyncCycleInProgress or a connector with RunState "
    "Busy); wait until Get-ADSyncConnectorRunStatus is empty, then try again"
)
AD_UNREACHABLE_MESSAGE = (
    "Unable to contact the server. This may be because this server does not exist, it is currently down, "
    "or it does not have the Active Directory Web Services running."
)
_ADSYNC_DOWN = (
    "{cmdlet} : Unable to connect to the Synchronization Service. Some possible reasons are: "
    "1) The service is not started. 2) Your account is not a member of the required security group. "
    "See the security section of the product documentation."
)


def _positional(params: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Bind positional arguments (the wire passes them as ``@0``, ``@1``...) to parameter names, in order."""
    bound = {k: v for k, v in params.items() if not k.startswith("@")}
    extra = [params[k] for k in sorted((k for k in params if k.startswith("@")), key=lambda k: int(k[1:]))]
    for index, value in enumerate(extra):
        if index < len(names) and names[index] not in bound:
            bound[names[index]] = value
        else:
            bound[f"@{index}"] = value  # unbound: parameter binding reports it
    return bound


def _lowered(params: dict[str, Any]) -> dict[str, Any]:
    """Parameter names are case-insensitive in PowerShell: the engine matches them in lower case."""
    return {str(k).lower(): v for k, v in params.items()}


class ActionRefusedError(Exception):
    """An action refusing on purpose before it writes: ``kind`` is the envelope's error kind."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


_Failed = PSFailure  # a terminating error: the pipeline stops and its state is Failed


@dataclass
class _Run:
    """One pipeline's run: its cancel event and the non-terminating errors it wrote."""

    cancel: threading.Event
    errors: list[ErrorInfo] = field(default_factory=list)
    # Whether the shared helpers were dot-sourced earlier in this pipeline (a batch sends them once, first).
    helpers_defined: bool = False


def _wire_args(parameters: dict[str, Any]) -> tuple[Arg, ...]:
    """A PSRP command's parameters as arguments: named ones, then positional ones (``@0``, ``@1``...)."""
    named = [Arg(name=k, value=v, has_value=True, text=f"-{k}") for k, v in parameters.items()
             if not k.startswith("@")]
    numbered = sorted((k for k in parameters if k.startswith("@")), key=lambda k: int(k[1:]))
    positional = (Arg(value=parameters[k], has_value=True, text=display(parameters[k])) for k in numbered)
    return (*named, *positional)


def _binding_error(message: str, error_id: str, script: str) -> _Failed:
    return _Failed(
        ErrorInfo(
            message=message,
            fully_qualified_error_id=error_id,
            category="InvalidArgument",
            exception_type="System.Management.Automation.ParameterBindingException",
            target=script,
        )
    )


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "$true", "1")
    return bool(value)


def _timespan(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{days}." if days else "") + f"{hours:02d}:{minutes:02d}:{secs:02d}"


@cache
def _shipped_helpers() -> frozenset[str]:
    """The helpers texts the lab serves: as shipped (with or without the marker line) and the wire form a
    batch sends (comments left out, probes/wire.py)."""
    return frozenset((helpers_script(), helpers_source(), wire_form(helpers_script())))


def _first_helper_called(text: str) -> str:
    """The first shared helper (a ``Verb-Es...`` function of common.ps1) a script body calls (its wire form
    has no helpers region: the body is then the whole text, whose comments are gone)."""
    body = text.split(HELPERS_REGION_END, 1)[-1]
    found = re.search(r"\b([A-Z][a-z]+-Es[A-Za-z]+)\b", body)
    return found.group(1) if found else "Write-EsEnvelope"


def marker_of(script: str) -> tuple[str, str] | None:
    """(``probe``|``action``, name) from a script's first line, or None."""
    lines = script.lstrip("\ufeff").lstrip().splitlines()
    match = _MARKER.match(lines[0].strip()) if lines else None
    return (match["kind"], match["name"]) if match else None


def step_names(invocation: Invocation) -> set[str]:
    """What a pipeline calls, for armed step faults: probe/action names by marker, and cmdlet names (the
    first word of a one-line script, or of what Invoke-Expression runs), all lower case."""
    names: set[str] = set()
    for call in invocation.commands:
        texts = [call.text]
        if not call.is_script and call.text.strip().lower() == "invoke-expression":
            script = _lowered(call.parameters).get("command", call.parameters.get("@0"))
            texts = [script] if isinstance(script, str) else []
        elif not call.is_script:
            names.add(call.text.strip().lower())
            continue
        for text in texts:
            marker = marker_of(text)
            if marker is not None:
                names.add(marker[1].lower())
            else:
                names.update(m.group(1).lower() for m in re.finditer(r"(?m)^\s*([A-Za-z][\w-]*)", text))
    return names


class LabEngine:
    """The ``ScriptEngine`` of one simulated server (thread-safe; the cycle runs in its own thread)."""

    def __init__(self, state: ServerState, context: LabContext) -> None:
        self.state = state
        self.context = context
        self.cycle = SyncCycleRunner(state, context)
        self.step_faults = StepFaults()
        self.go_down: Callable[[], None] | None = None  # set by the lab: close this server's listeners
        # What clients sent lately, newest last: tests assert on how the harness builds its pipelines.
        self.recent_invocations: deque[Invocation] = deque(maxlen=20)
        # Keys: the names in binding.CMDLETS, which describes each one's parameters.
        self._cmdlets: dict[str, Callable[[dict[str, Any], list[Any], _Run], list[Any]]] = {
            "start-adsyncsynccycle": self._start_sync_cycle_cmdlet,
            "get-adsyncscheduler": self._get_scheduler_cmdlet,
            "start-sleep": self._sleep_cmdlet,
            "write-output": self._write_output_cmdlet,
            "select-object": self._select_object_cmdlet,
            # Client.execute_ps(script) sends `Invoke-Expression -Command <script> | Out-String -Stream`.
            "invoke-expression": self._invoke_expression_cmdlet,
            "out-string": self._out_string_cmdlet,
        }

    # -- ScriptEngine -------------------------------------------------------------------------------------

    def invoke(self, invocation: Invocation, cancel: threading.Event) -> PipelineResult:
        self.recent_invocations.append(invocation)
        names = step_names(invocation)
        before = self.step_faults.take(names, "before")
        if before is not None:
            return self._lose(before, PipelineResult())  # the call is never applied
        result = self._invoke(invocation, cancel)
        after = self.step_faults.take(names, "after")
        return result if after is None else self._lose(after, result)  # applied, but the answer is lost

    def _lose(self, fault: str, result: PipelineResult) -> PipelineResult:
        if fault == "down":
            if self.go_down is not None:
                self.go_down()  # closes the listeners and every open connection
            fault = "drop"
        result.transport_fault = fault
        return result

    def _invoke(self, invocation: Invocation, cancel: threading.Event) -> PipelineResult:
        result = PipelineResult()
        run = _Run(cancel=cancel, errors=result.errors)
        statements: list[list[CommandCall]] = [[]]
        for command in invocation.commands:
            statements[-1].append(command)
            if command.end_of_statement:
                statements.append([])
        try:
            for statement in (s for s in statements if s):
                steps = [partial(self._run, command, run=run) for command in statement]
                result.outputs.extend(self._chain(steps, list(invocation.input), bool(invocation.input)))
        except PSFailure as failed:
            result.outputs.extend(failed.partial)  # what was written before the failure still arrives
            result.failure = failed.info
        return result

    # -- dispatch -----------------------------------------------------------------------------------------

    def _chain(self, steps: Sequence[Callable[[list[Any], bool], list[Any]]], piped: list[Any],
               upstream: bool) -> list[Any]:
        """Run one pipeline's commands in turn, each on the previous one's output.

        ``upstream``: whether the first command has pipeline input at all (binding depends on it). When a
        command fails, what it wrote before failing still flows through the commands after it.
        """
        for index, step in enumerate(steps):
            try:
                piped = step(piped, upstream)
            except PSFailure as failed:
                if failed.partial and index + 1 < len(steps):
                    try:
                        failed.partial = self._chain(steps[index + 1:], failed.partial, True)
                    except PSFailure:
                        failed.partial = []
                raise
            upstream = True
        return piped

    def _script(self, text: str, run: _Run) -> list[Any]:
        """A script without a marker: parsed whole first (a parse error runs nothing), then each statement."""
        outputs: list[Any] = []
        for pipeline in parse_script(text):
            steps = [partial(self._element, element, run=run) for element in pipeline]
            try:
                outputs.extend(self._chain(steps, [], False))
            except PSFailure as failed:
                failed.partial = outputs + failed.partial
                raise
        return outputs

    def _element(self, element: Element, piped: list[Any], upstream: bool, *, run: _Run) -> list[Any]:
        return self._call(element.name, element.args, piped, upstream, run)

    def _run(self, command: CommandCall, piped: list[Any], upstream: bool, *, run: _Run) -> list[Any]:
        if not command.is_script:
            return self._call(command.text.strip(), _wire_args(command.parameters), piped, upstream, run)
        marker = marker_of(command.text)
        if marker is None and command.text == helpers_source():
            return self._define_helpers(command, run)
        if marker is None:
            if command.parameters:
                raise not_served("arguments given to a script that declares no parameters (they go to $args)")
            return self._script(command.text, run)
        kind, name = marker
        if kind == "helpers":
            return self._define_helpers(command, run)
        known = (kind == "probe" and name in PROBE_DATA) or (kind == "action" and name in _ACTION_PARAMETERS)
        if not known:
            raise _Failed(command_not_found(f"{name}.ps1"))
        if needs_helpers(command.text) and not run.helpers_defined:
            # What PowerShell meets at the script's first helper call when nothing defined the helpers.
            raise _Failed(command_not_found(_first_helper_called(command.text)))
        params = self._bind(name, _lowered(command.parameters))
        if kind == "probe" and name == "run-history":  # what the script makes of the run times (R1)
            params[RUN_TIMES_AS_UTC] = run_times_as_utc(command.text)
        return [self._probe(name, params) if kind == "probe" else self._action(name, params)]

    def _define_helpers(self, command: CommandCall, run: _Run) -> list[Any]:
        """The shared helpers sent on their own: only function definitions, so they print nothing. Only the
        shipped text is served (as shipped, or exactly its wire form: the lab cannot run other function
        bodies), and only dot-sourced does it leave the functions behind for the statements after it (in a
        local scope they vanish with it)."""
        if command.text not in _shipped_helpers():
            raise not_served("a helpers script other than the shipped probes/helpers/common.ps1")
        if command.parameters:
            raise not_served("arguments given to the helpers script (it declares no parameters)")
        if command.use_local_scope is not True:
            run.helpers_defined = True
        return []

    def _bind(self, script: str, params: dict[str, Any]) -> dict[str, Any]:
        """Parameter binding as PowerShell does it: positional arguments take the declared names in order;
        unknown names and missing mandatory ones are errors."""
        declared = _SCRIPT_PARAMETERS.get(script, ())
        bound = _positional(params, declared)
        for given, value in bound.items():
            if given.startswith("@"):
                raise _binding_error(
                    f"A positional parameter cannot be found that accepts argument '{value}'.",
                    "PositionalParameterNotFound", script)
            if given not in declared:
                raise _binding_error(
                    f"A parameter cannot be found that matches parameter name '{given}'.",
                    "NamedParameterNotFound", script)
        for mandatory in _MANDATORY.get(script, ()):
            if mandatory.lower() not in bound:
                raise _binding_error(
                    "Cannot process command because of one or more missing mandatory parameters: "
                    f"{mandatory}.",
                    "MissingMandatoryParameter", script)
        return bound

    def _call(self, name: str, args: tuple[Arg, ...], piped: list[Any], upstream: bool,
              run: _Run) -> list[Any]:
        spec = find_cmdlet(name)
        if spec is not None and spec.module == "ADSync":
            with self.state.lock:
                installed = self.state.service.exists  # the lab installs the module with the service
            spec = spec if installed else None
        if spec is None:
            raise PSFailure(command_not_found(name))
        params = bind(spec, args, pipeline_input=upstream)
        return self._cmdlets[spec.name.lower()](params, piped, run)

    # -- probes and actions -------------------------------------------------------------------------------

    def _adsync_error(self, cmdlet: str = "Get-ADSyncScheduler") -> dict[str, str] | None:
        """The error ``cmdlet`` meets when the ADSync module is missing or the service is not running."""
        state = self.state
        if not state.service.exists:
            return {"kind": "CommandNotFound", "message": command_not_found(cmdlet).message}
        if state.adsync_stopped or state.service.status != "Running":
            return {"kind": "Failed", "message": _ADSYNC_DOWN.format(cmdlet=cmdlet)}
        return None

    def _probe(self, name: str, params: dict[str, Any]) -> str:
        with self.state.lock:
            if name in self.state.malformed_output:
                return self._malformed(name)
            cmdlet = ADSYNC_CMDLET.get(name)
            error = self._adsync_error(cmdlet) if cmdlet else None
            account = self.state.audit_account
            if account.language_mode != "FullLanguage" and name != "access":  # access.ps1 runs there too
                error = {"kind": "ConstrainedLanguage",
                         "message": CONSTRAINED_LANGUAGE.format(mode=account.language_mode)}
            elif error is None and cmdlet and adsync_access_refused(self.state, name):
                # The sync service answers a caller outside its groups as it answers when it is down.
                error = {"kind": "Failed", "message": _ADSYNC_DOWN.format(cmdlet=cmdlet)}
            try:
                data = None if error else PROBE_DATA[name](self.state, params)
            except ProbeFailedError as failed:
                data, error = None, {"kind": failed.kind, "message": str(failed)}
            return self._envelope("probe", name, data, error)

    def _envelope(self, kind: str, name: str, data: dict[str, Any] | None,
                  error: dict[str, str] | None) -> str:
        """The contract's JSON envelope (docs/contracts.md §1), ``data`` unrolled as the server is set to."""
        if data is not None and self.state.ps51_unrolling:
            data = unroll_collections(data)
        envelope = {kind: name, "schema": 1, "ok": error is None, "data": data, "error": error}
        return json.dumps(envelope, separators=(",", ":"))

    def _malformed(self, name: str) -> str:
        """What a broken probe might print instead of JSON: formatted object text cut short."""
        return (
            f"{name} : WARNING: output truncated\r\nAllowedSyncCycleInterval            : 00:30:00\r\n"
            "CurrentlyEffectiveSyncCycleInterval : 00:30:00\r\nNextSyncCyclePolicyType : Del"
        )

    def _action(self, name: str, params: dict[str, Any]) -> str:
        if name == "write-canary":
            data, error = self._write_canary(params)
            return self._envelope("action", name, data, error)
        with self.state.lock:
            error = self._adsync_error()
        if error is None:
            try:
                if name == "set-staging":
                    self.context.staging_log.record(self.state, _bool(params["enabled"]),
                                                    guard=self._staging_guard)
                elif name == "set-sync-cycle":
                    # Tenant-wide ([SCHED]): the pair shares this setting, and a running cycle is no
                    # obstacle (the switch only stops future cycles).
                    with self.state.lock:
                        self.state.scheduler.sync_cycle_enabled = _bool(params["enabled"])
                else:
                    self.cycle.start(self._policy(params))
            except ActionRefusedError as refused:
                error = {"kind": refused.kind, "message": str(refused)}
            except CycleAlreadyRunningError as running:
                error = {"kind": "Busy", "message": f"Start-ADSyncSyncCycle : {running}"}
            except _Failed as failed:
                error = {"kind": "Failed", "message": failed.info.message}
        with self.state.lock:
            return self._envelope("action", name, None if error else scheduler_data(self.state), error)

    def _staging_guard(self) -> None:
        """set-staging's refusals (actions/set-staging.ps1), checked with the write, under one lock."""
        state = self.state
        if state.scheduler.scheduler_suspended:
            raise ActionRefusedError("Suspended", SUSPENDED_MESSAGE)
        if state.sync_cycle_in_progress or state.busy_connectors:
            raise ActionRefusedError("Busy", BUSY_MESSAGE)

    def _write_canary(self, params: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
        """actions/write-canary.ps1: Set-ADUser -Replace on the user found by UPN, then read it back."""
        upn, attribute, value = (str(params[k]) for k in ("userprincipalname", "attribute", "value"))
        valid = _CANARY_ATTRIBUTE.match(attribute)
        if valid is None:
            raise _binding_error(
                f"Cannot validate argument on parameter 'Attribute'. The argument \"{attribute}\" does not "
                f"match the \"{_CANARY_ATTRIBUTE.pattern}\" pattern. Supply an argument that matches "
                f"\"{_CANARY_ATTRIBUTE.pattern}\" and try the command again.",
                "ParameterArgumentValidationError", "write-canary")
        with self.state.lock:
            unreachable = self.state.ad_unreachable
        if unreachable:  # the double hop: the remote session's credentials do not reach a DC
            return None, {"kind": "Failed", "message": AD_UNREACHABLE_MESSAGE}
        directory = self.context.directory
        if not directory.has_user(upn):
            return None, {"kind": "Failed",
                          "message": f"no AD user has userPrincipalName '{upn}' (Get-ADUser -LDAPFilter)"}
        directory.set_attribute(upn, "extensionAttribute" + valid.group(1), value)  # AD names: any case
        return {"user": upn, "attribute": attribute, "value": value, "written_utc": ps_date(utc_now())}, None

    @staticmethod
    def _policy(params: dict[str, Any]) -> str:
        policy = str(params.get("policytype") or "Delta")
        for known in ("Delta", "Initial"):
            if policy.lower() == known.lower():
                return known
        if policy.lower() == "unspecified":
            return "Delta"
        raise _Failed(
            ErrorInfo(
                message=(
                    f"Cannot validate argument on parameter 'PolicyType'. The argument \"{policy}\" does not "
                    'belong to the set "Delta,Initial" specified by the ValidateSet attribute.'
                ),
                fully_qualified_error_id="ParameterArgumentValidationError",
                category="InvalidData",
                exception_type="System.Management.Automation.ParameterBindingValidationException",
                target=policy,
            )
        )

    # -- bare cmdlets -------------------------------------------------------------------------------------

    def _start_sync_cycle_cmdlet(
        self, params: dict[str, Any], piped: list[Any], run: _Run
    ) -> list[Any]:
        def refused(message: str) -> _Failed:
            return _Failed(
                ErrorInfo(
                    message=message,
                    fully_qualified_error_id="System.InvalidOperationException,"
                    "Microsoft.IdentityManagement.PowerShell.Cmdlet.StartADSyncSyncCycleCmdlet",
                    category="InvalidOperation",
                    exception_type="System.InvalidOperationException",
                )
            )

        with self.state.lock:
            error = self._adsync_error("Start-ADSyncSyncCycle")
        if error is not None:
            raise refused(error["message"])
        try:
            self.cycle.start(self._policy(params))
        except CycleAlreadyRunningError as running:
            raise refused(str(running)) from None
        return [{"Result": "Success"}]

    def _get_scheduler_cmdlet(
        self, params: dict[str, Any], piped: list[Any], run: _Run
    ) -> list[Any]:
        with self.state.lock:
            error = self._adsync_error()
            if error is not None:
                raise _Failed(
                    ErrorInfo(
                        message=error["message"],
                        category="ResourceUnavailable",
                        fully_qualified_error_id="ADSyncScheduler",
                    )
                )
            s, state = self.state.scheduler, self.state
            return [
                {
                    "AllowedSyncCycleInterval": _timespan(s.allowed_interval_s),
                    "CurrentlyEffectiveSyncCycleInterval": _timespan(s.effective_interval_s),
                    "CustomizedSyncCycleInterval": _timespan(s.customized_interval_s),
                    "NextSyncCyclePolicyType": s.next_policy_type,
                    "NextSyncCycleStartTimeInUTC": ps_date(s.next_start),
                    "PurgeRunHistoryInterval": _timespan(s.purge_interval_s),
                    "SyncCycleEnabled": s.sync_cycle_enabled,
                    "MaintenanceEnabled": s.maintenance_enabled,
                    "StagingModeEnabled": state.staging,
                    "SchedulerSuspended": s.scheduler_suspended,
                    "SyncCycleInProgress": state.sync_cycle_in_progress,
                }
            ]

    def _sleep_cmdlet(self, params: dict[str, Any], piped: list[Any], run: _Run) -> list[Any]:
        seconds = float(params.get("seconds") or 0) + float(params.get("milliseconds") or 0) / 1000.0
        run.cancel.wait(max(seconds, 0.0))
        return []

    def _invoke_expression_cmdlet(self, params: dict[str, Any], piped: list[Any], run: _Run) -> list[Any]:
        # Binding has made Command a non-null string; a probe or action passed this way is recognised too.
        return self._run(CommandCall(text=str(params["command"]), is_script=True), [], False, run=run)

    def _out_string_cmdlet(self, params: dict[str, Any], piped: list[Any], run: _Run) -> list[Any]:
        """Strings and numbers as text; formatting objects into tables or lists is beyond the lab."""
        texts: list[str] = []
        for item in piped:
            if item is None:
                continue
            if isinstance(item, dict | list):
                raise not_served("Out-String of an object (PowerShell's table/list formatting)")
            texts.append(display(item))
        if params.get("stream"):
            return [line for text in texts for line in re.split(r"\r?\n", text)]
        return ["".join(f"{text}\r\n" for text in texts)]

    def _write_output_cmdlet(self, params: dict[str, Any], piped: list[Any], run: _Run) -> list[Any]:
        if "inputobject" not in params:
            return list(piped)
        value = params["inputobject"]  # enumerated, as without -NoEnumerate
        return [None] if value is None else list(value)

    def _select_object_cmdlet(self, params: dict[str, Any], piped: list[Any], run: _Run) -> list[Any]:
        """``-ExpandProperty Name`` / ``-Property a,b`` on objects (no wildcards or calculated properties)."""
        expand, names = params.get("expandproperty"), params.get("property")
        if expand is not None and names is not None:
            raise not_served("Select-Object with both -Property and -ExpandProperty")
        wanted = [expand] if expand is not None else list(names or [])
        if any(not isinstance(n, str) or any(c in n for c in "*?[") for n in wanted):
            raise not_served("wildcards or calculated properties in Select-Object")
        outputs: list[Any] = []
        for item in piped:
            if not isinstance(item, dict):
                raise not_served("Select-Object on a value that is not an object with properties")
            keys = {key.lower(): key for key in item}
            if expand is not None:
                key = keys.get(expand.lower())
                if key is None:
                    run.errors.append(ErrorInfo(
                        message=f'Property "{expand}" cannot be found.',
                        fully_qualified_error_id="ExpandPropertyNotFound,"
                        "Microsoft.PowerShell.Commands.SelectObjectCommand",
                        category="InvalidArgument",
                        exception_type="System.Management.Automation.PSArgumentException"))
                    continue
                value = item[key]
                outputs.extend(value if isinstance(value, list) else [value])
            elif names is None:
                outputs.append(item)
            else:
                outputs.append({keys.get(n.lower(), n): item.get(keys.get(n.lower(), n)) for n in wanted})
        return outputs
