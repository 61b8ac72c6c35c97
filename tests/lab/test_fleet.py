"""A fleet of simulated pairs (issue 13): ``Fleet`` / ``lab serve --pairs N``; the audit_scale bench smoke."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from entra_standby.errors import LabError
from entra_standby.gather import gather
from entra_standby.inventory import inventory_from_dict
from entra_standby.lab.fleet import Fleet, fleet_scenario, pair_addresses
from entra_standby.probes import PROBE_NAMES

REPO = Path(__file__).resolve().parents[2]


def test_every_pair_gets_its_own_loopback_addresses_and_name() -> None:
    seen: set[str] = set()
    for index in (0, 1, 249, 250, 5000):
        for address in pair_addresses(index):
            assert address.startswith("127.") and address not in seen
            seen.add(address)
    scenario = fleet_scenario({"name": "x", "servers": {"aadc02": {"role": "standby"}}}, 3, latency_ms=20)
    assert scenario["name"] == "x-004"
    assert scenario["servers"]["aadc02"] == {"role": "standby", "address": "127.20.3.2",
                                             "faults": {"latency_ms": 20}}
    with pytest.raises(LabError):
        pair_addresses(-1)


def test_fleet_refuses_nonsense_before_starting_anything() -> None:
    with pytest.raises(LabError, match="--pairs"):
        Fleet(pairs=0)
    with pytest.raises(LabError, match="transport"):
        Fleet(pairs=1, transport="ftp")


def test_an_in_process_fleet_is_audited_like_real_pairs() -> None:
    with Fleet(REPO / "fixtures" / "scenarios" / "healthy-pair.yml", pairs=2, transport="http") as fleet:
        inventory = inventory_from_dict(fleet.inventory_dict(), path=REPO / "fleet.yml")
        assert [p.name for p in inventory.pairs] == ["healthy-pair-001", "healthy-pair-002"]
        assert all(not s.connection.ssl for p in inventory.pairs for s in p.servers)
        fleet.reset_counters()
        run = gather(inventory)
        for pair in run.pairs:
            for host in pair.servers:
                assert sorted(host.values) == sorted(PROBE_NAMES), host.errors
        counts = fleet.request_counts()
        assert len(counts) == 4 and all(0 < n <= 10 for n in counts.values()), counts


def test_audit_scale_bench_runs_with_a_tiny_fleet_in_two_processes() -> None:
    """Smoke only (no timing asserted): the script starts a two-process fleet through the CLI, audits it
    with and without the pre-issue-13 batch, runs the baseline, and prints its table."""
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "audit_scale.py"), "--pairs", "1,2", "--latency-ms", "0",
         "--repeats", "1", "--processes", "2", "--baseline-pairs", "1", "--compare"],
        cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.lstrip().startswith("0ms")]
    assert [(r[1], r[2]) for r in rows] == [("audit", "2"), ("audit-before", "2"), ("audit", "4"),
                                            ("audit-before", "4"), ("baseline", "2")], done.stdout
    assert all(r[-1] == "0" for r in rows), done.stdout  # no host errored
    audit_kb = {r[1]: float(r[6]) for r in rows if r[2] == "4"}
    assert audit_kb["audit"] < audit_kb["audit-before"]  # the helpers travel once
    assert all(float(r[9]) > 0 for r in rows if r[1] == "audit"), done.stdout  # the CPU floor column
    assert "the CPU floor alone is" in done.stdout and "model of the client alone" in done.stdout


def test_audit_scale_before_tree_runs_another_checkout_interleaved() -> None:
    """Smoke only: with this very checkout as the 'before' tree, both rows exist, no host errors, and the
    same code sends the same bytes per host (the worker counts its own)."""
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "audit_scale.py"), "--pairs", "1", "--latency-ms", "0",
         "--repeats", "1", "--baseline-pairs", "0", "--before-tree", str(REPO)],
        cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {r[1]: r for r in (line.split() for line in done.stdout.splitlines())
            if r and r[0] == "0ms"}
    assert sorted(rows) == ["audit", "before-tree"], done.stdout
    assert rows["audit"][6] == rows["before-tree"][6] and rows["audit"][-1] == rows["before-tree"][-1] == "0"
    assert f"entra_standby from {REPO / 'entra_standby'}" in done.stdout


def test_soak_bench_runs_with_a_tiny_fleet(tmp_path: Path) -> None:
    """Smoke only: two audits of one healthy pair, no error counted, figures written."""
    import json

    out = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "soak.py"), "--runs", "2", "--pairs", "1", "--latency-ms", "0",
         "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert [r["errored_hosts"] for r in figures["runs"]] == [0, 0] and figures["errors"] == {}
    assert "runs with an error: 0 of 2" in done.stdout
