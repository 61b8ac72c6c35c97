"""Maintenance windows: inside/outside, the next opening, midnight crossings and DST changes (in UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from entra_standby.drill.settings import MaintenanceWindow
from entra_standby.drill.windows import require_window, warning_text, window_status
from entra_standby.errors import DrillError

SAT, SUN = 5, 6
WEEKEND_BERLIN = MaintenanceWindow(days=(SAT, SUN), start=time(2, 0), end=time(6, 0),
                                   timezone="Europe/Berlin")
FRIDAY_NIGHT_NY = MaintenanceWindow(days=(4,), start=time(22, 0), end=time(2, 0), timezone="America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_inside_a_window_in_winter_berlin_is_utc_plus_one() -> None:
    # Saturday 2026-11-28: 02:00-06:00 CET = 01:00-05:00 UTC
    status = window_status([WEEKEND_BERLIN], utc(2026, 11, 28, 1, 30))
    assert status.inside and status.window == WEEKEND_BERLIN
    assert (status.start_utc, status.end_utc) == (utc(2026, 11, 28, 1), utc(2026, 11, 28, 5))
    assert "inside" in status.description and "closes 2026-11-28 05:00 UTC" in status.description


def test_edges_start_is_inside_end_is_outside() -> None:
    assert window_status([WEEKEND_BERLIN], utc(2026, 11, 28, 1, 0)).inside
    at_end = window_status([WEEKEND_BERLIN], utc(2026, 11, 28, 5, 0))
    assert not at_end.inside
    assert at_end.start_utc == utc(2026, 11, 29, 1)  # Sunday's window is the next one


def test_outside_names_the_next_opening_in_utc() -> None:
    status = window_status([WEEKEND_BERLIN], utc(2026, 11, 25, 18, 0))  # a Wednesday
    assert not status.inside
    assert status.window == WEEKEND_BERLIN
    assert status.start_utc == utc(2026, 11, 28, 1)
    assert "next opens 2026-11-28 01:00 UTC" in status.description
    assert "Sat 02:00 Europe/Berlin" in status.description and "in 2d 7h 0m" in status.description
    assert "\n" not in status.description


def test_summer_time_shifts_the_utc_hours() -> None:
    # Saturday 2026-07-04: 02:00-06:00 CEST = 00:00-04:00 UTC
    assert window_status([WEEKEND_BERLIN], utc(2026, 7, 4, 0, 30)).inside
    assert not window_status([WEEKEND_BERLIN], utc(2026, 7, 4, 4, 30)).inside


def test_window_across_the_spring_dst_change() -> None:
    # Berlin springs forward on Sunday 2026-03-29 at 02:00 CET -> 03:00 CEST: 02:00 local does not exist.
    # The window opens when the clocks jump (01:00 UTC) and still closes at 06:00 local (04:00 UTC).
    sunday = window_status([WEEKEND_BERLIN], utc(2026, 3, 29, 2, 0))
    assert sunday.inside
    assert (sunday.start_utc, sunday.end_utc) == (utc(2026, 3, 29, 1), utc(2026, 3, 29, 4))
    # The day before (CET) and the Saturday after (CEST) keep their local hours.
    saturday = window_status([WEEKEND_BERLIN], utc(2026, 3, 28, 4, 30))
    assert saturday.inside and saturday.end_utc == utc(2026, 3, 28, 5)
    assert not window_status([WEEKEND_BERLIN], utc(2026, 3, 29, 4, 30)).inside  # 06:30 CEST
    after = window_status([WEEKEND_BERLIN], utc(2026, 4, 4, 0, 30))  # 02:30 CEST on Saturday
    assert after.inside and after.start_utc == utc(2026, 4, 4, 0)


def test_window_across_the_autumn_dst_change() -> None:
    # Berlin falls back on Sunday 2026-10-25 at 03:00 CEST -> 02:00 CET: the window 02:00-06:00 local
    # opens at the first 02:00 (00:00 UTC) and closes at 06:00 CET (05:00 UTC): five real hours.
    status = window_status([WEEKEND_BERLIN], utc(2026, 10, 25, 4, 30))
    assert status.inside
    assert (status.start_utc, status.end_utc) == (utc(2026, 10, 25, 0), utc(2026, 10, 25, 5))


def test_window_crossing_midnight_belongs_to_its_start_day() -> None:
    # Friday 22:00 EST (UTC-5) = Saturday 03:00 UTC; it closes Saturday 02:00 EST = 07:00 UTC.
    inside = window_status([FRIDAY_NIGHT_NY], utc(2026, 11, 28, 6, 59))  # Saturday 01:59 in New York
    assert inside.inside
    assert (inside.start_utc, inside.end_utc) == (utc(2026, 11, 28, 3), utc(2026, 11, 28, 7))
    # Saturday 22:30 in New York is not a window: Saturday is not a day it opens.
    assert not window_status([FRIDAY_NIGHT_NY], utc(2026, 11, 29, 3, 30)).inside


def test_window_crossing_midnight_and_a_dst_change() -> None:
    # New York falls back on Sunday 2026-11-01 at 02:00 EDT -> 01:00 EST. A Saturday-night window
    # 23:00-03:00 opens at 03:00 UTC (EDT) and closes at 03:00 EST = 08:00 UTC: five real hours.
    window = MaintenanceWindow(days=(SAT,), start=time(23, 0), end=time(3, 0), timezone="America/New_York")
    status = window_status([window], utc(2026, 11, 1, 7, 30))
    assert status.inside
    assert (status.start_utc, status.end_utc) == (utc(2026, 11, 1, 3), utc(2026, 11, 1, 8))


def test_equal_start_and_end_is_a_whole_day() -> None:
    window = MaintenanceWindow(days=(0,), start=time(0, 0), end=time(0, 0), timezone="UTC")  # Monday
    assert window_status([window], utc(2026, 11, 23, 23, 59)).inside
    status = window_status([window], utc(2026, 11, 24, 0, 0))
    assert not status.inside and status.start_utc == utc(2026, 11, 30)


def test_several_windows_pick_the_soonest_and_an_open_one_wins() -> None:
    daily_noon = MaintenanceWindow(days=tuple(range(7)), start=time(12), end=time(13), timezone="UTC")
    now = utc(2026, 11, 25, 18, 0)
    status = window_status([WEEKEND_BERLIN, daily_noon], now)
    assert not status.inside and status.window == daily_noon
    assert status.start_utc == utc(2026, 11, 26, 12)
    assert window_status([WEEKEND_BERLIN, daily_noon], utc(2026, 11, 26, 12, 30)).window == daily_noon


def test_no_windows_is_never_inside() -> None:
    status = window_status([], utc(2026, 11, 28, 1, 30))
    assert not status.inside and status.window is None and status.start_utc is None
    assert "no maintenance window" in status.description


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        window_status([WEEKEND_BERLIN], datetime(2026, 11, 28, 1, 30))


def test_an_aware_non_utc_now_is_compared_as_the_same_instant() -> None:
    berlin_0230 = datetime(2026, 11, 28, 2, 30, tzinfo=WEEKEND_BERLIN.zone)
    assert window_status([WEEKEND_BERLIN], berlin_0230).inside
    assert not window_status([WEEKEND_BERLIN], berlin_0230 + timedelta(hours=4)).inside


def test_require_window_refuses_outside_unless_ignored() -> None:
    now = utc(2026, 11, 25, 18, 0)
    with pytest.raises(DrillError) as info:
        require_window([WEEKEND_BERLIN], now, pair="contoso-prod")
    line = str(info.value)
    assert "contoso-prod" in line and "next opens 2026-11-28 01:00 UTC" in line
    assert "--ignore-maintenance-window" in line and "\n" not in line
    status = require_window([WEEKEND_BERLIN], now, pair="contoso-prod", ignore=True)
    assert not status.inside
    assert warning_text(status, "contoso-prod").startswith("WARNING: pair 'contoso-prod'")
    with pytest.raises(DrillError, match="add maintenance_windows"):
        require_window([], now, pair="contoso-prod")
    assert require_window([WEEKEND_BERLIN], utc(2026, 11, 28, 2, 0), pair="p").inside
