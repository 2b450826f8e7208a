"""`If-Match` for workflow versions: `"3"`, `W/"3"` or a bare `3`."""

from __future__ import annotations

import re

_VERSION_TAG = re.compile(r'^\s*(?:W/)?(?:"(\d{1,18})"|(\d{1,18}))\s*$')


class MalformedPreconditionError(ValueError):
    """An `If-Match` header that names no version."""


def expected_version(if_match: str | None) -> int | None:
    """The version a write expects, None when unconditional (`If-Match` absent or `*`)."""
    if if_match is None or if_match.strip() == "*":
        return None
    match = _VERSION_TAG.match(if_match)
    if match is None:
        raise MalformedPreconditionError('If-Match must name one version, e.g. "3"')
    return int(match.group(1) or match.group(2))
