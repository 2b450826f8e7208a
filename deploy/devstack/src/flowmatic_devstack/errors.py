"""The one error type the CLI turns into a single line on stderr (no traceback)."""

from __future__ import annotations


class DevstackError(Exception):
    """A failure the user can act on: the message says what went wrong and, where known, what to do."""
