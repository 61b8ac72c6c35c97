"""Is now inside one of a pair's maintenance windows, and if not, when does the next one open?

Windows are weekly local hours in an IANA time zone; everything is compared in UTC after converting each
occurrence with zoneinfo, so a window keeps its local hours across daylight-saving changes. A local time
that does not exist (the spring-forward gap) or exists twice (fall back) is read with ``fold=0``: a
window starting in the gap opens when the clocks jump, and an ambiguous end is the earlier instant, so
a window is never longer than the operator wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ..errors import DrillError
from .settings import MaintenanceWindow

__all__ = ["WindowStatus", "occurrences", "require_window", "warning_text", "window_status"]

# A weekly window opens at least once in any 7 days; one extra day on each side covers a window that
# crosses midnight (it belongs to the day it opens) and zones up to a day away from UTC.
_LOOK_BACK_DAYS = 1
_LOOK_AHEAD_DAYS = 8


@dataclass(frozen=True)
class WindowStatus:
    """The answer for one instant: inside a window (which, until when) or the next one to open."""

    inside: bool
    window: MaintenanceWindow | None  # the window open now, or the next to open; None: no window at all
    start_utc: datetime | None  # when that occurrence opens (in the past when inside)
    end_utc: datetime | None  # when it closes
    description: str  # one line for a human

    def __str__(self) -> str:
        return self.description


def occurrences(window: MaintenanceWindow, first_day: date,
                last_day: date) -> list[tuple[datetime, datetime]]:
    """The (start, end) UTC instants of every opening of ``window`` on local days first_day..last_day."""
    zone = window.zone
    out: list[tuple[datetime, datetime]] = []
    day = first_day
    while day <= last_day:
        if day.weekday() in window.days:
            start = datetime.combine(day, window.start, tzinfo=zone).astimezone(UTC)
            end_day = day + timedelta(days=1) if window.crosses_midnight else day
            end = datetime.combine(end_day, window.end, tzinfo=zone).astimezone(UTC)
            if end > start:  # a window wholly inside a spring-forward gap does not open that day
                out.append((start, end))
        day += timedelta(days=1)
    return out


def window_status(windows: tuple[MaintenanceWindow, ...] | list[MaintenanceWindow],
                  now_utc: datetime) -> WindowStatus:
    """Whether ``now_utc`` (timezone-aware) falls in any window; otherwise the soonest one to open."""
    if now_utc.tzinfo is None or now_utc.utcoffset() is None:
        raise ValueError("window_status needs a timezone-aware time (datetime.now(UTC))")
    now = now_utc.astimezone(UTC)
    if not windows:
        return WindowStatus(False, None, None, None,
                            "no maintenance window is defined for this pair (maintenance_windows: in the "
                            "inventory), so no time is inside one")
    open_now: tuple[datetime, datetime, MaintenanceWindow] | None = None
    upcoming: tuple[datetime, datetime, MaintenanceWindow] | None = None
    for window in windows:
        today = now.astimezone(window.zone).date()
        for start, end in occurrences(window, today - timedelta(days=_LOOK_BACK_DAYS),
                                      today + timedelta(days=_LOOK_AHEAD_DAYS)):
            if start <= now < end:
                if open_now is None or end > open_now[1]:  # the one that stays open longest
                    open_now = (start, end, window)
            elif start > now and (upcoming is None or start < upcoming[0]):
                upcoming = (start, end, window)
    if open_now is not None:
        start, end, window = open_now
        return WindowStatus(True, window, start, end,
                            f"inside maintenance window {window} (opened {_utc(start)}, closes {_utc(end)}, "
                            f"in {_span(end - now)})")
    if upcoming is None:  # only windows that never open (every occurrence inside a DST gap)
        return WindowStatus(False, None, None, None,
                            "outside every maintenance window, and none opens in the next week")
    start, end, window = upcoming
    local = start.astimezone(window.zone)
    return WindowStatus(False, window, start, end,
                        f"outside every maintenance window; the next opens {_utc(start)} "
                        f"({local:%a %H:%M} {window.timezone}, in {_span(start - now)}): {window}")


def require_window(windows: tuple[MaintenanceWindow, ...] | list[MaintenanceWindow], now_utc: datetime, *,
                   pair: str, ignore: bool = False) -> WindowStatus:
    """The status, or ``DrillError`` when outside every window and not told to ignore them.

    With ``ignore=True`` the status is returned whatever it says; the caller prints the warning.
    """
    status = window_status(windows, now_utc)
    if status.inside or ignore:
        return status
    if status.window is None:
        fix = (f"add maintenance_windows: to pair '{pair}' (or defaults) in the inventory, or pass "
               "--ignore-maintenance-window")
    else:
        fix = f"run it after {_utc(status.start_utc)}, or pass --ignore-maintenance-window"
    raise DrillError(f"pair '{pair}': {status.description}", fix=fix)


def warning_text(status: WindowStatus, pair: str) -> str:
    """The one-line warning a front door prints when --ignore-maintenance-window lets a drill run outside."""
    return f"WARNING: pair '{pair}': --ignore-maintenance-window: {status.description}"


def _utc(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _span(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {mins}m"
    if hours:
        return f"{hours}h {mins}m"
    return f"{mins}m" if mins else "under a minute"
