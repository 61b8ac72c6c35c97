"""The seam between the lab's wire (WS-Man + PSRP) and its simulated server.

The transport decodes a PSRP CreatePipeline into an ``Invocation`` and hands it to a ``ScriptEngine``
in a worker thread; the engine answers from simulated state with a ``PipelineResult``. The transport
turns that back into PSRP messages (PipelineOutput, ErrorRecord, PipelineState Completed/Failed).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class CommandCall:
    """One command of a pipeline: a script (``is_script``) or a cmdlet name, with its named parameters."""

    text: str
    is_script: bool
    parameters: dict[str, Any] = field(default_factory=dict)
    end_of_statement: bool = True
    use_local_scope: bool | None = None  # None: PowerShell's default (a script is dot-sourced)


@dataclass(frozen=True)
class Invocation:
    """One PSRP pipeline: its commands in order (several statements are several commands)."""

    commands: tuple[CommandCall, ...]
    pipeline_id: str = ""
    input: tuple[Any, ...] = ()


@dataclass(frozen=True)
class ErrorInfo:
    """A PowerShell ErrorRecord, as much as a client sees of it."""

    message: str
    fully_qualified_error_id: str = "RuntimeException"
    category: str = "NotSpecified"  # ErrorCategory name: ObjectNotFound, PermissionDenied, ...
    exception_type: str = "System.Management.Automation.RuntimeException"
    target: str | None = None


@dataclass
class PipelineResult:
    """What a pipeline produced. ``failure`` set means PipelineState Failed (pypsrp: had_errors=True)."""

    outputs: list[Any] = field(default_factory=list)  # str, int, float, bool, None, list, dict
    errors: list[ErrorInfo] = field(default_factory=list)  # non-terminating (Write-Error)
    warnings: list[str] = field(default_factory=list)
    failure: ErrorInfo | None = None
    # Lab fault injection: the answer is lost on the wire ("drop": the Receive that would carry it is hung
    # up; "http500": answered with a WS-Man fault; "stall": never answered) instead of being delivered.
    transport_fault: str | None = None


class ScriptEngine(Protocol):
    """Answers pipelines for one simulated server. Called from a worker thread; may block (sleep)."""

    def invoke(self, invocation: Invocation, cancel: threading.Event) -> PipelineResult: ...


def command_not_found(name: str) -> ErrorInfo:
    """The error record PowerShell writes for an unknown command or script."""
    return ErrorInfo(
        message=(f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, "
                 "or operable program. Check the spelling of the name, or if a path was included, "
                 "verify that the path is correct and try again."),
        fully_qualified_error_id="CommandNotFoundException",
        category="ObjectNotFound",
        exception_type="System.Management.Automation.CommandNotFoundException",
        target=name,
    )
