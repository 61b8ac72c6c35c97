"""The password-sync probe as the audit batch runs it (issue 16 points 2 and 3): MaxEvents, the newest
writeback start/stop of any age, and the lab's seeded PHS / writeback evidence (scenario key
password_evidence)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_sim_helpers import probe, probe_data

from entra_standby.lab.lab import Lab
from entra_standby.probes import AUDIT_PARAMETERS, load_probe
from entra_standby.remoting import probe_calls

SCENARIOS = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"


@pytest.fixture
def writeback_broken() -> Iterator[Lab]:
    with Lab(str(SCENARIOS / "break-password-writeback.yml"), serve=False) as lab:
        yield lab


def test_the_audit_batch_asks_for_five_events_and_the_drill_keeps_its_default() -> None:
    calls = {c.name: c for c in probe_calls()}
    assert dict(calls["password-sync"].parameters) == {"MaxEvents": 5} == AUDIT_PARAMETERS["password-sync"]
    assert dict(probe_calls(("password-sync",), {"password-sync": {"SinceUtc": "x"}})[0].parameters) == {
        "SinceUtc": "x"}
    text = load_probe("password-sync").text
    assert "[int]$MaxEvents = 200" in text
    # The newest start/stop: both ids, newest first, one event, no StartTime (it may be days old).
    assert "-Ids @(31015, 31016) -Since $null -Max 1" in text
    assert "if ($null -ne $Since) { $filter['StartTime']" in text


def test_newest_start_stop_is_read_whatever_its_age_and_lists_are_capped(writeback_broken: Lab) -> None:
    active = writeback_broken.servers["aadc01"].engine
    window = probe_data(active, "password-sync", SinceUtc="", MaxEvents=2)
    # Seeded (oldest first): 31015 -4d, 31019 -3h, 32002 -150m, 31016 -2h; the window is 24 h, newest first.
    assert [e["id"] for e in window["writeback_events"]] == [31016, 32002]
    assert window["writeback_state_event"]["id"] == 31016
    drill = probe_data(active, "password-sync", SinceUtc="")
    assert [e["id"] for e in drill["writeback_events"]] == [31016, 32002, 31019]  # 31015 is older than 24 h
    standby = probe_data(writeback_broken.servers["aadc02"].engine, "password-sync", MaxEvents=5)
    assert standby["writeback_state_event"]["id"] == 31015
    assert [p["last_successful_cycle_end_utc"] for p in standby["partitions"]] == [None]


def test_max_events_below_one_fails_the_probe_like_the_script(writeback_broken: Lab) -> None:
    envelope = probe(writeback_broken.servers["aadc01"].engine, "password-sync", MaxEvents=0)
    assert envelope["ok"] is False and "MaxEvents 0 must be 1 or more" in envelope["error"]["message"]
