"""The lab's ``ps51_unrolling`` option, and the envelope's depth under Windows PowerShell 5.1 ConvertTo-Json.

PS 5.1 unrolls collections (``@()`` returned from a function is ``$null``, a one-element array its element),
and its ConvertTo-Json counts every dictionary and array level, writing anything beyond ``-Depth`` as the
object's ToString() text without a word. The probes guard against both; these tests prove the harness copes
with the first and that the contract's data stays inside the second.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_sim_helpers import PROBES, probe

from entra_standby.errors import ScenarioError
from entra_standby.facts.parse import parse_probe_output
from entra_standby.lab.lab import Lab
from entra_standby.lab.ps51 import unroll_collections
from entra_standby.lab.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"
PS51_DEPTH = 10  # the probes' ConvertTo-Json -Depth


@pytest.fixture(scope="module")
def unrolling_lab() -> Iterator[Lab]:
    with Lab({"lab": {"ps51_unrolling": True}}, serve=False) as lab:
        yield lab


def test_unroll_collections_makes_the_two_ps51_shapes() -> None:
    data = {
        "none": [], "one": ["x"], "two": [1, 2], "nested": [{"inner": [{"k": []}]}], "text": "s", "null": None
    }
    assert unroll_collections(data) == {
        "none": None,
        "one": "x",
        "two": [1, 2],
        "nested": {"inner": {"k": None}},
        "text": "s",
        "null": None,
    }
    assert data["one"] == ["x"], "the input is left as it was"


def test_option_is_lab_wide_with_a_per_server_override() -> None:
    plain = load_scenario({})
    assert {s["ps51_unrolling"] for s in plain.servers.values()} == {False}
    mixed = load_scenario({"lab": {"ps51_unrolling": True}, "servers": {"aadc01": {"ps51_unrolling": False}}})
    assert mixed.servers["aadc01"]["ps51_unrolling"] is False
    assert mixed.servers["aadc02"]["ps51_unrolling"] is True
    one = load_scenario({"servers": {"aadc02": {"ps51_unrolling": True}}})
    assert (one.servers["aadc01"]["ps51_unrolling"], one.servers["aadc02"]["ps51_unrolling"]) == (False, True)
    with pytest.raises(ScenarioError) as info:
        load_scenario({"lab": {"ps51_unrolling": "yes"}})
    assert info.value.key == "lab.ps51_unrolling"


def _both_shapes(lab: Lab, server: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same probe answered plainly and unrolled by one server (the state is not otherwise touched)."""
    state = lab.servers[server].state
    assert state.ps51_unrolling is True, "the scenario's lab-wide option reached the server"
    # password-sync's default SinceUtc is "24 h before now", different on each call: pin it.
    params = {"SinceUtc": "2026-01-01T00:00:00Z"} if name == "password-sync" else {}
    try:
        state.ps51_unrolling = False
        plain = probe(lab.servers[server].engine, name, **params)
    finally:
        state.ps51_unrolling = True
    return plain, probe(lab.servers[server].engine, name, **params)


@pytest.mark.parametrize("name", PROBES)
def test_unrolled_answers_parse_to_the_same_facts(unrolling_lab: Lab, name: str) -> None:
    plain, unrolled = _both_shapes(unrolling_lab, "aadc02", name)
    assert plain["ok"] is True and unrolled["ok"] is True
    assert unrolled["data"] == unroll_collections(plain["data"])
    facts = parse_probe_output("aadc02", name, json.dumps(plain))
    assert parse_probe_output("aadc02", name, json.dumps(unrolled)) == facts


def test_unrolled_answers_really_use_both_shapes(unrolling_lab: Lab) -> None:
    machine = _both_shapes(unrolling_lab, "aadc02", "machine")[1]["data"]
    assert machine["adsynctools_versions"] == "2.4.0"  # ["2.4.0"] unrolled to its element
    history = _both_shapes(unrolling_lab, "aadc02", "run-history")[1]["data"]
    assert history["busy_connectors"] is None  # [] unrolled to $null
    assert isinstance(history["runs"], list) and len(history["runs"]) > 1  # longer arrays stay arrays


def _container_depth(value: Any, level: int = 0) -> int:
    """The deepest level holding a dictionary or an array, counted as PS 5.1's ConvertTo-Json counts: the
    envelope is level 0, every dictionary value and every array item one level deeper. Containers deeper
    than ``-Depth`` would be written as their ToString() text ("System.Collections.Specialized...")."""
    if isinstance(value, dict):
        return max([level, *(_container_depth(item, level + 1) for item in value.values())])
    if isinstance(value, list):
        return max([level, *(_container_depth(item, level + 1) for item in value)])
    return -1


@pytest.mark.parametrize("scenario", ["healthy-pair", "standby-drifted"])
def test_every_answer_fits_convertto_json_depth_10(scenario: str) -> None:
    depths: dict[str, int] = {}
    with Lab(SCENARIOS / f"{scenario}.yml", serve=False) as lab:
        for server in lab.servers.values():
            for name in PROBES:
                depths[name] = max(depths.get(name, 0), _container_depth(probe(server.engine, name)))
    assert max(depths.values()) <= PS51_DEPTH, depths
    # The contract's deepest array, connectors[].permissions[].aces[].rights, sits at level 8: the measure
    # counts arrays as levels (as PS 5.1 does), and -Depth 10 leaves two levels to spare.
    assert depths["connectors"] == 8, depths
