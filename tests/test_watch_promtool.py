"""Prometheus' own tool on the watch's output: ``promtool check metrics``, ``check rules``, ``test rules``.

promtool comes from Debian's ``prometheus`` package (``scripts/install-promtool``, which ``scripts/test``
runs, unpacks it into .venv/bin). Without it these tests skip on a developer's machine and fail in CI.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from factbuilders import NOW, change, drop, healthy_pair

from entra_standby.results import evaluate_pair
from entra_standby.watch import WATCH_PROBES, PairPoll, PairTracker, view_of, watched_check_ids
from entra_standby.watch.metrics import WatchCollector, metrics_text, registry_for

REPO = Path(__file__).resolve().parents[1]
MONITORING = REPO / "ci" / "monitoring"


def promtool() -> str:
    local = Path(sys.executable).with_name("promtool")
    found = str(local) if local.is_file() else shutil.which("promtool")
    if found:
        return found
    message = "promtool not found: run ./scripts/install-promtool (or ./scripts/test, which runs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def promtool_lint(metrics: str) -> None:
    """``promtool check metrics`` (exposition lint: names, units, HELP, types) must pass on ``metrics``."""
    result = subprocess.run([promtool(), "check", "metrics"], input=metrics, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _rendered() -> str:
    healthy = healthy_pair()
    split = change(healthy, "aadc02", "scheduler", staging_mode_enabled=False)
    down = healthy
    for domain in WATCH_PROBES:
        down = drop(down, "aadc01", domain, "aadc01: unreachable")
    failed = tuple(dataclasses.replace(r, result="stopped-server-down")  # ages of +Inf in the output
                   for r in down.server("aadc02").run_history.runs)
    down = change(down, "aadc02", "run-history", runs=failed)
    views = []
    for pair, name in ((split, "split"), (down, "down")):
        pair = type(pair)(name, pair.servers, now_utc=NOW)
        poll = PairPoll(pair, tuple(evaluate_pair(pair, watched_check_ids())), {}, NOW, 0.5, 51.0)
        views.append(view_of(poll, PairTracker().update(pair)))
    collector = WatchCollector(lambda: views, ["split", "down", "never-polled"])
    return metrics_text(registry_for(collector)).decode()


def test_metrics_pass_promtool_check_metrics() -> None:
    promtool_lint(_rendered())


def test_alert_rules_pass_promtool_check_and_their_unit_tests() -> None:
    tool = promtool()
    checked = subprocess.run([tool, "check", "rules", "alerts.yml"], cwd=MONITORING, capture_output=True,
                             text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout
    tested = subprocess.run([tool, "test", "rules", "alerts.test.yml"], cwd=MONITORING, capture_output=True,
                            text=True, timeout=60, check=False)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_alert_rules_read_only_metrics_and_labels_the_watch_serves() -> None:
    served = set(re.findall(r"^# TYPE (\S+) ", _rendered(), flags=re.MULTILINE))
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    names = {rule["alert"] for rule in rules}
    assert {"EntraStandbySplitBrain", "EntraStandbyNoExporter", "EntraStandbyStaleExport",
            "EntraStandbyStandbyNotReady"} <= names
    used = {m for rule in rules for m in re.findall(r"entra_standby_[a-z_]+", rule["expr"])}
    assert used and used <= served, used - served
    text = _rendered()
    conditions = {"split_brain", "no_exporter", "returned_active"}  # PairTracker's names
    for rule in rules:
        for label, wanted in re.findall(r'(\w+)=~?"([^"]+)"', rule["expr"]):
            for option in wanted.split("|"):
                if label == "condition":
                    assert option in conditions, (rule["alert"], option)
                elif label != "job":
                    assert f'{label}="{option}"' in text, (rule["alert"], label, option)
