"""password-hash-sync (issue 16 point 2): recent PHS cycles and heartbeat on the active, same setting on
every server."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from factbuilders import NOW, change, healthy_pair, run

from entra_standby.errors import FactUnavailableError
from entra_standby.facts.collection import PairFacts
from entra_standby.facts.password_sync import LogEvent, PartitionPasswordSync
from entra_standby.rules import Severity, load_all

CHECK = "password-hash-sync"


def _features(pair: PairFacts, host: str, **features: bool | None) -> PairFacts:
    config = pair.server(host).config
    return change(pair, host, "config", features={**config.features, **features})


def _partition(pair: PairFacts, host: str = "aadc01", **fields: object) -> PairFacts:
    facts = pair.server(host).password_sync
    partition = dataclasses.replace(facts.partitions[0], **fields)  # type: ignore[arg-type]
    return change(pair, host, "password-sync", partitions=(partition,))


def test_recent_cycles_and_heartbeat_pass() -> None:
    assert run(CHECK, healthy_pair()) == []


def test_stale_last_successful_cycle_is_high_with_partition_age_and_limit() -> None:
    old = NOW - timedelta(hours=5)
    [finding] = run(CHECK, _partition(healthy_pair(), last_successful_cycle_end_utc=old,
                                      last_cycle_end_utc=old))
    assert finding.severity is Severity.HIGH
    assert ("aadc01: partition DC=contoso,DC=com: the last successful password hash sync cycle ended 5.0 h "
            "ago") in finding.message
    assert finding.values["limit_minutes"] == 120 and finding.values["age_minutes"] == 300


def test_threshold_is_configurable() -> None:
    old = NOW - timedelta(minutes=100)
    pair = _partition(healthy_pair(thresholds={"phs_max_age_minutes": 60}), last_successful_cycle_end_utc=old)
    assert [f.values["limit_minutes"] for f in run(CHECK, pair)] == [60]
    assert run(CHECK, _partition(healthy_pair(), last_successful_cycle_end_utc=old)) == []


def test_never_synced_partition_and_failed_newest_cycle_are_named() -> None:
    [never] = run(CHECK, _partition(healthy_pair(), last_successful_cycle_end_utc=None,
                                    last_cycle_status="FailedNotRetryable"))
    assert "never completed a successful password hash sync cycle (last status FailedNotRetryable)" in \
        never.message
    failed = _partition(healthy_pair(), last_cycle_end_utc=NOW - timedelta(minutes=1),
                        last_successful_cycle_end_utc=NOW - timedelta(minutes=3), last_cycle_status="Failed")
    [finding] = run(CHECK, failed)
    assert finding.severity is Severity.MEDIUM and "ended 'Failed'" in finding.message


def test_no_partition_listed_on_the_active_fails() -> None:
    [finding] = run(CHECK, change(healthy_pair(), "aadc01", "password-sync", partitions=()))
    assert "lists no AD partition" in finding.message


@pytest.mark.parametrize("events", [(), (LogEvent(654, NOW - timedelta(hours=3), "Directory Synchronization"),
                                         )])
def test_missing_or_old_heartbeat_654_fails(events: tuple[LogEvent, ...]) -> None:
    [finding] = run(CHECK, change(healthy_pair(), "aadc01", "password-sync", phs_events=events))
    assert ("no password hash sync heartbeat (event 654, source 'Directory Synchronization') in the last "
            "120 min") in finding.message
    assert ("none read" in finding.message) == (not events)


def test_standby_in_staging_is_not_held_to_recent_cycles() -> None:
    """A staging server runs no PHS: frozen or empty timestamps and no heartbeat are its normal state."""
    pair = _partition(healthy_pair(), "aadc02", last_successful_cycle_end_utc=NOW - timedelta(days=90))
    pair = change(pair, "aadc02", "password-sync", phs_events=())
    assert run(CHECK, pair) == []


def test_setting_differing_from_the_active_is_high_both_ways() -> None:
    [off_here] = run(CHECK, _features(healthy_pair(), "aadc02", password_hash_sync=False))
    assert off_here.severity is Severity.HIGH
    assert "aadc02: password hash sync is off here but on on active aadc01: after a failover it would stop" \
        in off_here.message
    on_here = _features(healthy_pair(), "aadc01", password_hash_sync=False)
    assert [f.values["standby"] for f in run(CHECK, on_here)] == [True]


def test_off_everywhere_is_skipped_with_a_reason_and_yields_nothing() -> None:
    pair = _features(_features(healthy_pair(), "aadc01", password_hash_sync=False), "aadc02",
                     password_hash_sync=False)
    skip = load_all()[CHECK].skip_if
    assert skip is not None and "password hash sync is off on every server" in (skip(pair) or "")
    assert skip(healthy_pair()) is None
    assert run(CHECK, pair) == []


def test_unreadable_feature_falls_back_on_the_tenant_flag_else_no_verdict() -> None:
    pair = _features(healthy_pair(), "aadc02", password_hash_sync=None)
    with pytest.raises(FactUnavailableError, match="password_hash_sync could not be read"):
        run(CHECK, pair)
    flagged = change(pair, "aadc02", "config", company_features={"password_hash_sync": True})
    assert run(CHECK, flagged) == []
    assert load_all()[CHECK].skip_if(pair) is None  # type: ignore[misc]  # unreadable: never skipped


@pytest.mark.parametrize(("host", "field"), [("aadc01", "partitions_error"), ("aadc01", "phs_events_error"),
                                             ("aadc02", "partitions_error")])
def test_unreadable_phs_state_is_cannot_confirm_never_a_pass(host: str, field: str) -> None:
    pair = change(healthy_pair(), host, "password-sync", **{field: "Unable to connect to the Synchronization "
                                                                   "Service."})
    with pytest.raises(FactUnavailableError, match="could not be read: Unable to connect"):
        run(CHECK, pair)


def test_standby_missing_a_partition_the_active_syncs_is_low() -> None:
    other = PartitionPasswordSync("x", "DC=fabrikam,DC=com")
    pair = change(healthy_pair(), "aadc02", "password-sync", partitions=(other,))
    [finding] = run(CHECK, pair)
    assert finding.severity is Severity.LOW and finding.values["missing_partitions"] == ["DC=contoso,DC=com"]
