"""Helpers for the drill's tests: a served lab, an inventory for it, and the engine run against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spine_helpers import SCENARIOS

from entra_standby.drill.engine import DrillOptions, execute
from entra_standby.drill.records import DrillRecord
from entra_standby.inventory import Inventory, inventory_from_dict
from entra_standby.lab import Lab


@dataclass
class DrillLab:
    lab: Lab
    tmp: Path
    lines: list[str] = field(default_factory=list)

    def inventory(self, edit: Callable[[dict[str, Any]], None] | None = None) -> Inventory:
        raw = self.lab.inventory_dict()
        pair = raw["pairs"][0]
        pair["drill"] = {**pair["drill"], "hold": 0}
        pair["connection"] = {**pair["connection"], "read_timeout": 2, "operation_timeout": 1, "retries": 1}
        if edit is not None:
            edit(raw)
        return inventory_from_dict(raw, path=self.tmp / "inventory.yml")

    @property
    def pair(self) -> str:
        scenario = self.lab.scenario
        assert scenario is not None
        return scenario.name

    def host(self, name: str) -> str:
        return self.lab.server(name).address

    def options(self, **kwargs: Any) -> DrillOptions:
        kwargs.setdefault("lock_dir", self.tmp / "locks")
        kwargs.setdefault("ignore_window", True)
        kwargs.setdefault("progress", self.lines.append)
        return DrillOptions(**kwargs)

    def run(self, kind: str, inventory: Inventory | None = None, **kwargs: Any) -> DrillRecord:
        return execute(inventory or self.inventory(), self.pair, kind, self.options(**kwargs))

    def flags(self) -> dict[str, bool]:
        return {name: server.state.staging for name, server in self.lab.servers.items()}

    def actions_received(self) -> list[str]:
        """Every action script the lab's servers were sent (by name), newest last per server."""
        from entra_standby.lab.handlers import marker_of

        names = []
        for server in self.lab.servers.values():
            for invocation in server.engine.recent_invocations:
                for command in invocation.commands:
                    marker = marker_of(command.text) if command.is_script else None
                    if marker is not None and marker[0] == "action":
                        names.append(f"{server.name}:{marker[1]}")
        return names


@contextmanager
def drill_lab(tmp: Path, scenario: str = "healthy-pair", *, cycle_s: float = 0.6) -> Iterator[DrillLab]:
    with Lab(SCENARIOS / f"{scenario}.yml") as lab:
        assert lab.context is not None
        lab.context.cycle_duration_s = cycle_s  # seconds-long cycles keep a drill at a few seconds
        yield DrillLab(lab, tmp)
