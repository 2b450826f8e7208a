"""Identifiers that are opaque, URL-safe, unique, and sort by creation time (ULID layout)."""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid(now_ms: int, randomness: bytes) -> str:
    value = (now_ms << 80) | int.from_bytes(randomness, "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 0x1F])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A new id such as `wf_01JH…`: the prefix names the kind, the rest sorts by creation time."""
    return f"{prefix}_{_ulid(time.time_ns() // 1_000_000, os.urandom(10))}"


WORKFLOW = "wf"
EXECUTION = "ex"
WEBHOOK = "wh"
MESSAGE = "msg"
CORRELATION = "cor"
