"""A tiny ScriptEngine for the wire tests, and helpers to start a lab server and connect pypsrp to it.

The engine understands a handful of commands (as cmdlets or as one-line scripts ``Name -Param value``):
``Write-Output`` (InputObject / positional), ``Start-Sleep`` (Seconds/Milliseconds, cancellable),
``Write-Kilobytes`` (-Count N: one string of N KiB), ``Write-ErrorRecord`` (a non-terminating error),
``Fail`` (a terminating error: failed pipeline), ``Write-Warning``, ``Echo-Input`` (the pipeline input) and
``Get-Invocation`` (the decoded Invocation as a dict, so tests can see what the transport decoded).
``Client.execute_ps`` sends ``Invoke-Expression -Command <script> | Out-String -Stream``; both are understood.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pypsrp.wsman import WSMan

from entra_standby.lab.engine import CommandCall, ErrorInfo, Invocation, PipelineResult, command_not_found
from entra_standby.lab.pki import TlsMaterial
from entra_standby.lab.wire import LabCredentials, WSManServer

PASSWORD = "Lab-Passw0rd!"
CREDS = LabCredentials(username="auditor", password=PASSWORD, domain="LAB")


def _script_call(call: CommandCall) -> CommandCall:
    """``Name -Param value ...`` as a cmdlet call (the scripts the tests send are one-liners)."""
    words = shlex.split(call.text.strip(), comments=True)
    if not words:
        return call
    params: dict[str, Any] = {}
    positional = 0
    i = 1
    while i < len(words):
        word = words[i]
        if word.startswith("-") and len(word) > 1:
            value: Any = words[i + 1] if i + 1 < len(words) else True
            params[word[1:]] = value
            i += 2
        else:
            params[f"@{positional}"] = word
            positional += 1
            i += 1
    return CommandCall(text=words[0], is_script=False, parameters=params,
                       end_of_statement=call.end_of_statement)


class WireTestEngine:
    """Answers the few commands the wire tests use; records every invocation it saw."""

    def __init__(self) -> None:
        self.invocations: list[Invocation] = []
        self.cancelled: list[str] = []
        self._lock = threading.Lock()

    def invoke(self, invocation: Invocation, cancel: threading.Event) -> PipelineResult:
        with self._lock:
            self.invocations.append(invocation)
        result = PipelineResult()
        for raw in invocation.commands:
            if raw.text.lower() == "invoke-expression":
                raw = CommandCall(text=str(raw.parameters.get("Command", "")), is_script=True)
            call = _script_call(raw) if raw.is_script else raw
            name = call.text.lower()
            p = {k.lower(): v for k, v in call.parameters.items()}
            if name == "write-output":
                result.outputs.append(p.get("inputobject", p.get("@0")))
            elif name == "start-sleep":
                seconds = float(p.get("seconds", 0) or 0) + float(p.get("milliseconds", 0) or 0) / 1000
                if cancel.wait(seconds):
                    with self._lock:
                        self.cancelled.append(invocation.pipeline_id)
                    return result
            elif name == "write-kilobytes":
                result.outputs.append("x" * (1024 * int(p.get("count", 1))))
            elif name == "write-errorrecord":
                result.errors.append(ErrorInfo(message=str(p.get("message", "something went wrong")),
                                               fully_qualified_error_id="LabTestError",
                                               category="InvalidData", target="target-1"))
            elif name == "write-warning":
                result.warnings.append(str(p.get("message", p.get("@0", "careful"))))
            elif name == "fail":
                result.failure = ErrorInfo(message=str(p.get("message", "it failed")),
                                           fully_qualified_error_id="LabTestFailure")
                return result
            elif name == "write-values":
                result.outputs.extend([2**40, None, {"nested": [1, {"deep": True}]}])
            elif name == "out-string":
                result.outputs = [str(o) for o in result.outputs]
            elif name == "echo-input":
                result.outputs.extend(invocation.input)
            elif name == "get-invocation":
                result.outputs.append({"commands": [asdict(c) for c in invocation.commands],
                                       "input": list(invocation.input)})
            else:
                result.failure = command_not_found(call.text)
                return result
        return result


@contextmanager
def running_server(engine: WireTestEngine | None = None, *, tls: TlsMaterial | None = None,
                   **kwargs: Any) -> Iterator[WSManServer]:
    server = WSManServer(engine or WireTestEngine(), name=kwargs.pop("name", "wiretest"),
                         credentials=kwargs.pop("credentials", CREDS), tls=tls,
                         https_port=0 if tls is not None else None, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wsman(server: WSManServer, *, https: bool = False, auth: str = "negotiate",
          ca: Path | None = None, username: str = "LAB\\auditor", password: str = PASSWORD,
          **kwargs: Any) -> WSMan:
    """A pypsrp WSMan for this server (never mocked: real HTTP, real auth)."""
    port = server.https_port if https else server.http_port
    assert port is not None
    kwargs.setdefault("connection_timeout", 5)
    kwargs.setdefault("read_timeout", 30)
    # pypsrp hands cert_validation to requests' ``verify``, which also takes a CA bundle path.
    validation: Any = str(ca) if ca else False
    return WSMan(server.bind_address, port=port, username=username, password=password, ssl=https, auth=auth,
                 cert_validation=validation, **kwargs)
