"""Helpers for engine-level lab tests: run a probe/action/script on a simulated server without the wire."""

from __future__ import annotations

import json
import threading
from typing import Any

from entra_standby.lab.engine import CommandCall, Invocation, PipelineResult
from entra_standby.lab.handlers import LabEngine
from entra_standby.probes import PROBE_NAMES

PROBES = PROBE_NAMES


def run_script(engine: LabEngine, text: str, **params: Any) -> PipelineResult:
    invocation = Invocation(commands=(CommandCall(text=text, is_script=True, parameters=params),))
    return engine.invoke(invocation, threading.Event())


def run_cmdlet(engine: LabEngine, name: str, **params: Any) -> PipelineResult:
    invocation = Invocation(commands=(CommandCall(text=name, is_script=False, parameters=params),))
    return engine.invoke(invocation, threading.Event())


def probe(engine: LabEngine, name: str, **params: Any) -> dict[str, Any]:
    """The parsed envelope of one probe (asserting the pipeline itself succeeded with one string)."""
    result = run_script(engine, f"# entra-standby-probe: {name}\nparam()\n$x = 1\n", **params)
    assert result.failure is None, result.failure
    assert len(result.outputs) == 1 and isinstance(result.outputs[0], str), result.outputs
    envelope: dict[str, Any] = json.loads(result.outputs[0])
    return envelope


def probe_data(engine: LabEngine, name: str, **params: Any) -> dict[str, Any]:
    envelope = probe(engine, name, **params)
    assert envelope["ok"] is True, envelope
    data: dict[str, Any] = envelope["data"]
    return data


def action(engine: LabEngine, name: str, **params: Any) -> dict[str, Any]:
    result = run_script(engine, f"# entra-standby-action: {name}\nparam()\n", **params)
    assert result.failure is None, result.failure
    envelope: dict[str, Any] = json.loads(result.outputs[0])
    return envelope
