"""The rebuild's progress line: records done of the total the log's end offsets promised, and the rate."""

from __future__ import annotations

BAR_WIDTH = 30


def render_progress(done: int, total: int, elapsed_seconds: float) -> str:
    """E.g. `[##########--------------------]  34% 34,000/100,000 records  5,210/s`.

    `done` may pass `total` (records written while rebuilding are projected too); the bar stops at full."""
    fraction = 1.0 if total <= 0 else min(done / total, 1.0)
    filled = round(fraction * BAR_WIDTH)
    rate = done / elapsed_seconds if elapsed_seconds > 0 else 0.0
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    return f"[{bar}] {fraction:4.0%} {done:,}/{total:,} records  {rate:,.0f}/s"
