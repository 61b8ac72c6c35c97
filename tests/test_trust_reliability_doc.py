"""docs/reliability.md's matrix table against the matrices themselves: a matrix that grows or shrinks without
the table following fails here (and the issue's minimum sizes are checked on the real numbers)."""

from __future__ import annotations

import re

import test_lab_fuzz as fuzz
import test_trust_faults as faults
import test_trust_inputs as inputs
import test_trust_waivers as waivers
from spine_helpers import ROOT

DOC = ROOT / "docs" / "reliability.md"
_ROW = re.compile(r"^\| `(?P<name>[a-z-]+)` \| (?P<tests>[^|]+) \| (?P<cases>\d+) \| [^|]+ \|$")


def _table() -> dict[str, int]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            rows[match["name"]] = int(match["cases"])
    return rows


def actual() -> dict[str, int]:
    return {
        "inventories": len(inputs.INVENTORIES),
        "password-files": len(inputs.PASSWORD_FILES),
        "waivers": len(waivers.WAIVERS),
        "waiver-paths": len(waivers.SPECIAL_FILES),
        "waivers-front-door": len(waivers.FRONT_DOOR_CASES),
        "scenarios": len(inputs.SCENARIOS_BAD),
        "scenario-paths": 2,  # a directory and a FIFO, in one test
        "lab-serve": len(inputs.LAB_SERVE_CASES),
        "probe-outputs": len(inputs.PROBE_OUTPUTS),
        "cloud-dates": len(inputs.CLOUD_DATES),
        "transport-faults": len(faults.FAULTS) * len(faults.SERVERS),
        "lab-fuzz": len(fuzz.RAW) * 2 + len(fuzz.BODIES) + fuzz.MUTATIONS  # the two WinRM listeners
                    + len(fuzz.CLOUD_RAW) + len(fuzz.RAW),  # the cloud stand-in
        # two runs (audit, drill) x two secrets (password, cloud secret) x every form of each
        "secret-search": 2 * 2 * len(faults._forms("x")),
    }


def test_the_reliability_table_matches_the_matrices() -> None:
    table, real = _table(), actual()
    assert table == real, {k: (table.get(k), real.get(k)) for k in table.keys() | real.keys()
                           if table.get(k) != real.get(k)}


def test_the_matrices_meet_the_issue_minimums() -> None:
    real = actual()
    print(f"matrices: {real}")
    assert real["inventories"] + real["password-files"] + real["waivers"] + real["waiver-paths"] >= 60
    assert real["scenarios"] >= 30 and real["probe-outputs"] >= 20 and real["transport-faults"] >= 16
