"""Lab time: relative scenario times (``-25m``, ``+10m``, ``now``) and PowerShell's round-trip date format."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"^(?P<sign>[+-])(?P<amount>\d+(?:\.\d+)?)(?P<unit>[smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, start: datetime) -> datetime:
    """``now``, ``-25m``, ``+10m``, ``-3d``, ``-1.5h`` (relative to ``start``) or an ISO 8601 timestamp.

    Raises ``ValueError`` with a short explanation when the text is neither.
    """
    value = text.strip()
    if value == "now":
        return start
    match = _RELATIVE.match(value)
    if match:
        delta = timedelta(**{_UNITS[match["unit"]]: float(match["amount"])})
        return start + delta if match["sign"] == "+" else start - delta
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{text}' is not a time: use now, -25m, +10m, -6h, -3d, -2w or ISO 8601") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def resolve_time(value: str | datetime | None, start: datetime) -> datetime | None:
    """A scenario time: None stays None; a datetime (YAML reads unquoted timestamps as one) is taken as
    is, naive ones as UTC like ``parse_time`` does for text; anything else goes through ``parse_time``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_time(str(value), start)


def ps_date(value: datetime | None) -> str | None:
    """``DateTime.ToUniversalTime().ToString('o')``: seven fractional digits and a ``Z``."""
    if value is None:
        return None
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


def utc_now() -> datetime:
    return datetime.now(UTC)
