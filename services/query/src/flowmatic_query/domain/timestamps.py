"""Timestamps as the public API writes and reads them (RFC 3339)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# RFC 3339 date-time: `T` (or, as its section 5.6 allows, a space) between date and time, optional fraction,
# and a mandatory offset. A `+` sent unencoded in a query string arrives as a space, so " 01:00" is "+01:00".
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})(?:\.(?P<fraction>\d+))?"
    r"(?P<offset>[Zz]|(?P<sign>[+\- ])(?P<oh>\d{2}):(?P<om>\d{2}))"
)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z` and millisecond precision, e.g. `2026-02-08T12:00:00.123Z`."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 date-time with its offset, as an aware datetime; anything else raises ValueError.

    Fractions finer than microseconds are truncated."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 date-time such as 2026-02-08T12:00:00Z")
    zone = UTC
    if match["offset"] not in ("Z", "z"):
        hours, minutes = int(match["oh"]), int(match["om"])
        if hours > 23 or minutes > 59:
            raise ValueError(f"{text!r} is not a valid date-time: its offset is out of range")
        delta = timedelta(hours=hours, minutes=minutes)
        zone = timezone(-delta if match["sign"] == "-" else delta)
    year, month, day = (int(part) for part in match["date"].split("-"))
    microseconds = int((match["fraction"] or "0")[:6].ljust(6, "0"))
    try:
        return datetime(year, month, day, int(match["h"]), int(match["m"]), int(match["s"]), microseconds, zone)
    except ValueError as exc:  # an impossible date or time: month 13, 24:00, a leap second
        raise ValueError(f"{text!r} is not a valid date-time: {exc}") from exc
