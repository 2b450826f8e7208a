"""Per-webhook rate limits: a token bucket per webhook id, refilled continuously; pure, the time is passed in.

Each webhook's limit is its trigger's own (`rateLimitPerSecond` / `rateLimitBurst`) when it sets one, else the
gateway's global default, else none. A bucket remembers the limit it was built for: when the limit changes (an
update of the workflow), the next delivery gets a new, full bucket of the new limit, so the change takes effect
at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Buckets of webhooks that went quiet are dropped once there are this many, so memory stays bounded.
MAX_TRACKED_BUCKETS = 10_000


@dataclass(frozen=True)
class RateLimit:
    """`per_second` deliveries per second on average, bursts of up to `burst`."""

    per_second: float
    burst: float

    def __post_init__(self) -> None:
        if not (self.per_second > 0 and math.isfinite(self.per_second)) or not self.burst >= 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")

    @classmethod
    def of_trigger(cls, per_second: float, burst: int | None) -> RateLimit:
        """A trigger's limit: its burst defaults to the rate rounded up (so at least 1)."""
        return cls(per_second, burst if burst is not None else max(1, math.ceil(per_second)))


@dataclass
class _Bucket:
    limit: RateLimit
    tokens: float
    updated_at: float

    def is_full_at(self, now: float) -> bool:
        return self.tokens + (now - self.updated_at) * self.limit.per_second >= self.limit.burst


class TokenBuckets:
    """One bucket per key, each under the limit passed with the delivery, else under `default`."""

    def __init__(self, default: RateLimit | None = None) -> None:
        self.default = default
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, now: float, limit: RateLimit | None = None) -> float | None:
        """Spend one token of `key`'s bucket under `limit` (or the default): None when it had one (or there is no
        limit at all), else the seconds until one is available."""
        effective = limit if limit is not None else self.default
        if effective is None:
            self._buckets.pop(key, None)  # unlimited now; a limit set later starts from a full bucket
            return None
        bucket = self._buckets.get(key)
        if bucket is None or bucket.limit != effective:
            if bucket is None and len(self._buckets) >= MAX_TRACKED_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(effective, effective.burst, now)
        elapsed = max(0.0, now - bucket.updated_at)
        bucket.tokens = min(effective.burst, bucket.tokens + elapsed * effective.per_second)
        bucket.updated_at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / effective.per_second

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled completely is the same as a new one: dropping it changes nothing.
        for key in [k for k, b in self._buckets.items() if b.is_full_at(now)]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_header(wait_seconds: float) -> str:
    """`Retry-After` in whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait_seconds)))
