"""Rate limits for socket events: at most N events of a kind per person per window.

Counted per person (all their tabs and processes together, so ten tabs do not get ten times
the allowance), in fixed windows. MemoryLimiter counts in this process; RedisLimiter counts in
Redis (with REDIS_URL), shared by every server process.

`hit(key, limit, window)` counts one event and returns 0 when it is allowed, else the number of
seconds until the window ends (for the "try again in N s" in the error ack).
"""
from __future__ import annotations

import math
import threading
import time


class MemoryLimiter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, tuple[int, int]] = {}

    def hit(self, key: str, limit: int, window: float) -> int:
        now = time.time()
        slot = int(now // window)
        with self.lock:
            if len(self.counts) > 50_000:  # forget old windows now and then
                self.counts = {k: v for k, v in self.counts.items() if v[0] >= slot - 1}
            start, count = self.counts.get(key, (slot, 0))
            if start != slot:
                start, count = slot, 0
            count += 1
            self.counts[key] = (start, count)
        if count > limit:
            return max(1, math.ceil((slot + 1) * window - now))
        return 0


class RedisLimiter:
    def __init__(self, redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def hit(self, key: str, limit: int, window: float) -> int:
        now = time.time()
        slot = int(now // window)
        name = f"{self.prefix}rl:{key}:{slot}"
        pipe = self.redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, int(window) + 1)
        count = pipe.execute()[0]
        if count > limit:
            return max(1, math.ceil((slot + 1) * window - now))
        return 0
