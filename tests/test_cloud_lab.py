"""The cloud checks end to end: ``pytest checks/`` against a running lab (servers + identity/Graph stand-in).

Each case runs the shipped check files in a child pytest (the plugin is session state) and reads its JUnit
report: healthy lab passes, ``cloud-stale.yml`` fails cloud-sync-fresh with the age and the threshold, a
wrong client secret makes the cloud checks *error* naming the AADSTS code while the server checks still
run, and an inventory without a cloud block skips the cloud checks with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from spine_helpers import SCENARIOS, Case, junit_cases, lab_inventory_file
from spine_helpers import run_checks as run_pytest

from entra_standby.lab import Lab

CLOUD_CHECKS = ["checks/test_cloud_sync_enabled.py", "checks/test_cloud_sync_fresh.py",
                "checks/test_cloud_canary.py"]
SERVER_CHECKS = ["checks/test_staging_flag.py", "checks/test_adsync_service.py"]


def run_checks(inventory: Path, files: list[str], tmp_path: Path) -> dict[str, Case]:
    """Run ``files`` against ``inventory`` in a child pytest; test name (without its id) -> outcome."""
    report = tmp_path / f"junit-{inventory.stem}.xml"
    result = run_pytest("--inventory", str(inventory), f"--junitxml={report}", paths=tuple(files),
                        timeout=240)
    assert report.exists(), result.output
    return {name.split("[")[0]: case for name, case in junit_cases(report).items()}


@pytest.fixture(scope="module")
def running_lab() -> Iterator[Lab]:
    with Lab(SCENARIOS / "healthy-pair.yml") as lab:
        assert lab.cloud is not None, "the lab runs without its cloud stand-in"
        yield lab


def write_inventory(lab: Lab, path: Path, edit: Any) -> Path:
    inventory = lab.inventory_dict()
    edit(inventory["pairs"][0])
    path.write_text(yaml.safe_dump(inventory))
    path.chmod(0o600)
    return path


def test_healthy_lab_passes_the_cloud_checks(tmp_path: Path) -> None:
    outcomes = run_checks(lab_inventory_file(tmp_path, "healthy-pair"), CLOUD_CHECKS, tmp_path)
    assert {name: o.outcome for name, o in outcomes.items()} == {
        "test_cloud_sync_enabled": "passed", "test_cloud_sync_fresh": "passed", "test_cloud_canary": "passed"}


def test_cloud_stale_scenario_fails_sync_fresh_with_age_and_threshold(tmp_path: Path) -> None:
    outcomes = run_checks(lab_inventory_file(tmp_path, "cloud-stale"), CLOUD_CHECKS, tmp_path)
    fresh = outcomes["test_cloud_sync_fresh"]
    assert fresh.outcome == "failed"
    assert "6.0 h ago" in fresh.message
    assert "threshold 90 min" in fresh.message
    assert "nothing is exporting" in fresh.message  # both servers look healthy in this scenario
    assert outcomes["test_cloud_sync_enabled"].outcome == "passed"


def test_wrong_secret_errors_the_cloud_checks_only(running_lab: Lab, tmp_path: Path) -> None:
    def wrong_secret(pair: dict[str, Any]) -> None:
        pair["cloud"]["client_secret"] = "definitely-Wrong-secret"

    inventory = write_inventory(running_lab, tmp_path / "wrong-secret.yml", wrong_secret)
    outcomes = run_checks(inventory, CLOUD_CHECKS + SERVER_CHECKS, tmp_path)
    for name in ("test_cloud_sync_enabled", "test_cloud_sync_fresh", "test_cloud_canary"):
        assert outcomes[name].outcome == "error", name
        assert "AADSTS7000215" in outcomes[name].message
        assert "definitely-Wrong-secret" not in outcomes[name].message
    assert outcomes["test_staging_flag"].outcome == "passed"
    assert outcomes["test_adsync_service"].outcome == "passed"


def test_no_cloud_block_skips_with_the_reason(running_lab: Lab, tmp_path: Path) -> None:
    def no_cloud(pair: dict[str, Any]) -> None:
        del pair["cloud"]

    inventory = write_inventory(running_lab, tmp_path / "no-cloud.yml", no_cloud)
    outcomes = run_checks(inventory, CLOUD_CHECKS, tmp_path)
    for name in ("test_cloud_sync_enabled", "test_cloud_sync_fresh", "test_cloud_canary"):
        assert outcomes[name].outcome == "skipped", name
        assert "no cloud block in the inventory" in outcomes[name].message
