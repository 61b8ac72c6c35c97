"""password-writeback (issue 16 point 3): listening on the active, set the same on every server, quiet on a
standby."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factbuilders import NOW, change, healthy_pair, run

from entra_standby.errors import FactUnavailableError
from entra_standby.facts.collection import PairFacts
from entra_standby.facts.password_sync import LogEvent
from entra_standby.rules import Severity, load_all

CHECK = "password-writeback"
SOURCE = "PasswordResetService"


def _event(event_id: int, minutes_ago: float) -> LogEvent:
    return LogEvent(event_id, NOW - timedelta(minutes=minutes_ago), SOURCE)


def _features(pair: PairFacts, host: str, **features: bool | None) -> PairFacts:
    return change(pair, host, "config", features={**pair.server(host).config.features, **features})


def test_listening_active_with_recent_heartbeat_passes() -> None:
    assert run(CHECK, healthy_pair()) == []


def test_stopped_after_started_is_high() -> None:
    pair = change(healthy_pair(), "aadc01", "password-sync", writeback_state_event=_event(31016, 30))
    [finding] = run(CHECK, pair)
    assert finding.severity is Severity.HIGH
    assert "aadc01: the password writeback service stopped (31016 WriteBackServiceStopped at" in \
        finding.message


def test_started_after_a_stop_passes_and_the_window_counts_without_the_state_event() -> None:
    """The newest of 31015/31016 decides, whether read as the state event or in the window's list."""
    events = (_event(31019, 1), _event(31015, 10), _event(31016, 20))
    assert run(CHECK, change(healthy_pair(), "aadc01", "password-sync", writeback_events=events,
                             writeback_state_event=None)) == []
    stopped = (_event(31019, 1), _event(31016, 10), _event(31015, 20))
    [finding] = run(CHECK, change(healthy_pair(), "aadc01", "password-sync", writeback_events=stopped,
                                  writeback_state_event=None))
    assert "stopped" in finding.message


@pytest.mark.parametrize("events", [(), (_event(31019, 180),)])
def test_missing_or_old_heartbeat_31019_fails(events: tuple[LogEvent, ...]) -> None:
    [finding] = run(CHECK, change(healthy_pair(), "aadc01", "password-sync", writeback_events=events))
    assert ("aadc01: no password writeback heartbeat (31019 ServiceBusHeartBeat, source "
            "PasswordResetService) in the last 120 min") in finding.message


def test_relay_errors_after_the_last_heartbeat_are_named() -> None:
    events = (_event(32002, 5), _event(32002, 65), _event(31019, 300))
    [finding] = run(CHECK, change(healthy_pair(), "aadc01", "password-sync", writeback_events=events))
    assert ("since then 2 relay error(s) (32002; 32002 = outbound 443 to *.servicebus.windows.net "
            "blocked)") in finding.message
    assert finding.values["errors_since"] == [32002, 32002]


def test_heartbeat_threshold_is_configurable() -> None:
    pair = change(healthy_pair(thresholds={"pwwb_heartbeat_max_age_minutes": 30}), "aadc01",
                  "password-sync", writeback_events=(_event(31019, 45),))
    assert [f.values["limit_minutes"] for f in run(CHECK, pair)] == [30]


def test_standby_listening_too_is_high() -> None:
    pair = change(healthy_pair(), "aadc02", "password-sync", writeback_events=(_event(31019, 3),))
    [finding] = run(CHECK, pair)
    assert finding.severity is Severity.HIGH
    assert "aadc02: password writeback is listening on this standby too" in finding.message


def test_setting_differing_from_the_active_is_high() -> None:
    [finding] = run(CHECK, _features(healthy_pair(), "aadc02", password_writeback=False))
    assert "aadc02: password writeback is off here but on on active aadc01" in finding.message


def test_off_everywhere_is_skipped_and_an_active_with_it_off_is_not_held_to_events() -> None:
    pair = _features(_features(healthy_pair(), "aadc01", password_writeback=False), "aadc02",
                     password_writeback=False)
    pair = change(pair, "aadc01", "password-sync", writeback_events=(), writeback_state_event=None)
    skip = load_all()[CHECK].skip_if
    assert skip is not None and "password writeback is off on every server" in (skip(pair) or "")
    assert run(CHECK, pair) == []


@pytest.mark.parametrize(("host", "field"), [("aadc01", "writeback_events_error"),
                                             ("aadc01", "writeback_state_error"),
                                             ("aadc02", "writeback_events_error")])
def test_unreadable_events_are_cannot_confirm_never_a_pass(host: str, field: str) -> None:
    pair = change(healthy_pair(), host, "password-sync", **{field: "The RPC server is unavailable"})
    with pytest.raises(FactUnavailableError, match="could not be read: The RPC server is unavailable"):
        run(CHECK, pair)


def test_unreadable_setting_is_no_verdict() -> None:
    with pytest.raises(FactUnavailableError, match="password_writeback could not be read"):
        run(CHECK, _features(healthy_pair(), "aadc01", password_writeback=None))
