"""Rate limits for socket events: at most N events of a kind per person per window.

Counted per person (all their tabs and processes together, so ten tabs do not get ten times
the allowance), in fixed windows, by the `limits` library (the one under Flask-Limiter) in the
same storage as the HTTP limits: RATELIMIT_STORAGE_URI (Redis with REDIS_URL, shared by every
server process; memory:// when Kring runs embedded, counted in this process).

`SocketLimiter.hit(key, limit, window)` counts one event and returns 0 when it is allowed, else
the number of seconds until the window ends (for the "try again in N s" in the error ack).
"""
from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond, storage, strategies


def storage_uri(config) -> str:
    """The storage URI for socket limits: Flask-Limiter's RATELIMIT_STORAGE_URI, else
    REDIS_URL, else memory://."""
    return config.get("RATELIMIT_STORAGE_URI") or config.get("REDIS_URL") or "memory://"


class SocketLimiter:
    """Fixed-window counters in one `limits` storage, under `prefix` (the live channel's)."""

    def __init__(self, uri: str, prefix: str = "") -> None:
        self.storage = storage.storage_from_string(uri)
        self.strategy = strategies.FixedWindowRateLimiter(self.storage)
        self.prefix = f"{prefix}rl"

    def hit(self, key: str, limit: int, window: float) -> int:
        """Count one event of `key`: 0 when it is within `limit` per `window` seconds, else
        the seconds (at least 1) until the window ends. Raises what the storage raises (Redis
        away)."""
        item = RateLimitItemPerSecond(limit, max(1, math.ceil(window)))
        if self.strategy.hit(item, self.prefix, key):
            return 0
        reset = self.strategy.get_window_stats(item, self.prefix, key).reset_time
        return max(1, math.ceil(reset - time.time()))
