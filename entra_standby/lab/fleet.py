"""A fleet: N simulated pairs at once, in this process or spread over several, with one inventory.

Each pair is a full ``Lab`` (its own state, engines, listeners, CA and password) built from the same
scenario; pair ``i`` is named ``<scenario>-<i>`` and its servers get their own loopback addresses
(``127.<20 + i // 250>.<i % 250>.<1|2>``) because an inventory names every host once. Several processes
(``processes=K``) spread the pairs' server CPU over cores, as a fleet of real servers would: each child
runs ``entra-standby lab serve --pairs n`` and the parent merges the inventories the children write.

The fleet serves the on-premises side only (no cloud stand-in per pair): it is for rehearsing the audit's
scale, and N stand-ins would only cost memory.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from ..errors import LabError, ScenarioError
from ..yamlload import load_yaml_file

__all__ = ["Fleet", "fleet_scenario", "pair_addresses"]

_READY = "run the checks"  # the line `lab serve` prints once it serves (cli._describe)


def pair_addresses(index: int) -> tuple[str, str]:
    """The two loopback addresses of pair ``index`` (0-based); distinct for up to 58 000 pairs."""
    if not 0 <= index < 235 * 250:
        raise LabError(f"pair index {index} is out of range", fix="serve fewer pairs")
    base = f"127.{20 + index // 250}.{index % 250}"
    return f"{base}.1", f"{base}.2"


def fleet_scenario(raw: dict[str, Any], index: int, *, latency_ms: int | None = None) -> dict[str, Any]:
    """Pair ``index``'s scenario: ``raw`` renamed, on its own addresses, optionally with injected latency."""
    scenario = copy.deepcopy(raw)
    scenario["name"] = f"{raw.get('name', 'lab')}-{index + 1:03d}"
    servers = scenario.setdefault("servers", {}) or {}
    scenario["servers"] = servers
    for name, address in zip(("aadc01", "aadc02"), pair_addresses(index), strict=True):
        spec = servers.get(name) or {}
        spec["address"] = address
        if latency_ms is not None:
            spec.setdefault("faults", {})["latency_ms"] = latency_ms
        servers[name] = spec
    return scenario


def _raw_scenario(source: str | Path | dict[str, Any] | None) -> dict[str, Any]:
    if source is None:
        return {"name": "fleet"}
    if isinstance(source, dict):
        return copy.deepcopy(source)
    path = Path(source)
    if not path.exists():
        raise ScenarioError("file not found", path=str(path))
    raw = load_yaml_file(path, label=str(path), error=ScenarioError) or {}
    if not isinstance(raw, dict):
        raise ScenarioError(f"must be a mapping, not {type(raw).__name__}", path=str(path))
    raw = dict(raw)
    raw.setdefault("name", path.stem)
    return raw


class Fleet:
    """``pairs`` simulated pairs from one scenario, served by this process (``processes=1``) or by
    ``processes`` child processes. Use as a context manager; ``inventory_dict()`` lists every pair.

    ``transport="http"`` points the inventory at the plain-HTTP listeners (NTLM with message encryption),
    the cheapest wire for the client; the default is HTTPS as ``Lab`` does.
    """

    def __init__(self, scenario: str | Path | dict[str, Any] | None = None, *, pairs: int,
                 processes: int = 1, latency_ms: int | None = None, transport: str = "https",
                 first_pair: int = 0) -> None:
        if pairs < 1:
            raise LabError(f"--pairs must be at least 1, not {pairs}", fix="give --pairs N with N >= 1")
        if processes < 1:
            raise LabError(f"--processes must be at least 1, not {processes}", fix="give 1 or more")
        if transport not in ("https", "http"):
            raise LabError(f"transport must be https or http, not {transport!r}", fix="use https or http")
        self.raw = _raw_scenario(scenario)
        self.pairs = pairs
        self.processes = min(processes, pairs)
        self.latency_ms = latency_ms
        self.transport = transport
        self.first_pair = first_pair
        self.labs: list[Any] = []  # in-process Labs
        self._children: list[subprocess.Popen[str]] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._inventory: dict[str, Any] | None = None

    def __enter__(self) -> Fleet:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> Fleet:
        try:
            if self.processes == 1:
                self._start_here(range(self.first_pair, self.first_pair + self.pairs))
            else:
                self._start_children()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_here(self, indexes: range) -> None:
        """Serve the pairs ``indexes`` in this process (a child of a multi-process fleet serves its slice)."""
        from .lab import Lab

        pairs = []
        for index in indexes:
            lab = Lab(fleet_scenario(self.raw, index, latency_ms=self.latency_ms), cloud=False,
                      directory="none")  # a fleet rehearses scale: no DC per pair
            self.labs.append(lab)
            lab.start()
            pairs.extend(self._adjust(lab.inventory_dict(), lab)["pairs"])
        self._inventory = {"pairs": pairs}

    def _adjust(self, inventory: dict[str, Any], lab: Any) -> dict[str, Any]:
        # Every pair of one scenario names its servers alike, and names are unique in an inventory.
        for pair in inventory["pairs"]:
            for server in pair["servers"]:
                if server.get("name"):
                    server["name"] = f"{server['name']}.{pair['name']}"
        if self.transport == "http":
            for pair in inventory["pairs"]:  # a Lab describes exactly one pair
                pair["connection"]["ssl"] = False
                for server, lab_server in zip(pair["servers"], lab.servers.values(), strict=True):
                    server["connection"]["port"] = lab_server.http_port
        return inventory

    def _start_children(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="entra-standby-fleet-")
        tmp = Path(self._tmp.name)
        scenario = tmp / "scenario.yml"
        scenario.write_text(yaml.safe_dump(self.raw), encoding="utf-8")
        share, extra = divmod(self.pairs, self.processes)
        first = 0
        inventories = []
        for child in range(self.processes):
            count = share + (1 if child < extra else 0)
            inventory = tmp / f"inventory-{child}.yml"
            command = [sys.executable, "-m", "entra_standby.cli", "lab", "serve", str(scenario),
                       "--write-inventory", str(inventory), "--pairs", str(count),
                       "--first-pair", str(first), "--transport", self.transport]
            if self.latency_ms is not None:
                command += ["--latency-ms", str(self.latency_ms)]
            self._children.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                                                   env={**os.environ, "PYTHONUNBUFFERED": "1"}))
            inventories.append(inventory)
            first += count
        pairs: list[Any] = []
        for child_process, inventory in zip(self._children, inventories, strict=True):
            _wait_ready(child_process)
            pairs.extend(yaml.safe_load(inventory.read_text(encoding="utf-8"))["pairs"])
        self._inventory = {"pairs": pairs}

    def stop(self) -> None:
        """Stop every pair and child process (SIGTERM, then kill after 30 s). Idempotent."""
        for lab in self.labs:
            lab.stop()
        self.labs = []
        for child in self._children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self._children:
            try:
                child.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()
        self._children = []
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- what clients use ---------------------------------------------------------------------------------

    def inventory_dict(self) -> dict[str, Any]:
        """An inventory with one pair per simulated pair (each with its own CA bundle and password)."""
        if self._inventory is None:
            raise LabError("the fleet is not running")
        return copy.deepcopy(self._inventory)

    def request_counts(self) -> dict[str, int]:
        """HTTP requests served per host (in-process fleets only; children print theirs when stopped)."""
        counts: dict[str, int] = {}
        for lab in self.labs:
            for server in lab.servers.values():
                counts[server.address] = int(server.counters.snapshot()["total"])
        return counts

    def reset_counters(self) -> None:
        for lab in self.labs:
            for server in lab.servers.values():
                server.counters.reset()


def _wait_ready(child: subprocess.Popen[str], timeout_s: float = 300.0) -> None:
    assert child.stdout is not None
    ends = time.monotonic() + timeout_s
    for line in child.stdout:
        if line.startswith(_READY):
            return
        if time.monotonic() > ends:
            break
    raise LabError(f"a fleet process did not start serving (exit code {child.poll()})",
                   fix="run `entra-standby lab serve --pairs N` by hand to see its error")
