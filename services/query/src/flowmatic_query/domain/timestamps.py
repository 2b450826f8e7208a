"""Timestamps as the public API writes them."""

from __future__ import annotations

from datetime import UTC, datetime


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z` and millisecond precision, e.g. `2026-02-08T12:00:00.123Z`."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
