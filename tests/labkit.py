"""Helpers for tests that run the lab's engine directly or audit a lab pair's first server in-process."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from entra_standby.inventory import inventory_from_dict
from entra_standby.lab import Lab
from entra_standby.lab.engine import CommandCall, Invocation, PipelineResult
from entra_standby.remoting import HostSession, ProbeCall, probe_calls

SCENARIOS = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios"


@contextmanager
def engine_only_lab(scenario: str = "healthy-pair.yml") -> Iterator[Lab]:
    """A lab whose engines are called directly: nothing served, no cloud."""
    with Lab(SCENARIOS / scenario, serve=False, cloud=False) as lab:
        yield lab


def invoke_engine(lab: Lab, *commands: CommandCall, server: str = "aadc01") -> PipelineResult:
    """One pipeline of ``commands`` on ``server``'s engine, as the wire would hand it over."""
    return lab.servers[server].engine.invoke(Invocation(commands=commands), threading.Event())


def audit_first_server(probes: Sequence[str] = ("scheduler", "version"),
                       scenario: str = "healthy-pair.yml") -> dict[str, Any]:
    """``run_probes`` over the wire on a served lab pair's first server: each probe's raw output."""
    calls: list[ProbeCall] = probe_calls(list(probes))
    with Lab(SCENARIOS / scenario, cloud=False) as lab:
        inventory = inventory_from_dict(lab.inventory_dict(), path=SCENARIOS / "lab.yml")
        with HostSession(inventory.pairs[0].servers[0]) as session:
            return dict(session.run_probes(calls))
