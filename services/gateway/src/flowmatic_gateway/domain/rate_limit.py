"""Per-webhook rate limits: a token bucket per webhook id, refilled continuously; pure, the time is passed in."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Buckets of webhooks that went quiet are dropped once there are this many, so memory stays bounded.
MAX_TRACKED_BUCKETS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated_at: float


class TokenBuckets:
    """`rate` deliveries per second per key on average, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, now: float) -> float | None:
        """Spend one token of `key`'s bucket: None when it had one, else the seconds until one is available."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        elapsed = max(0.0, now - bucket.updated_at)
        bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
        bucket.updated_at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled completely is the same as a new one: dropping it changes nothing.
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated_at) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_header(wait_seconds: float) -> str:
    """`Retry-After` in whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait_seconds)))
