"""Presence and socket rate limits in Redis (shared by every server process), with expiry."""
from __future__ import annotations

import time
import uuid

import pytest

from tests.conftest import REDIS_URL

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="needs Redis (set TEST_REDIS_URL)")


@pytest.fixture
def redis_prefix():
    import redis

    server = redis.Redis.from_url(REDIS_URL)
    prefix = f"kring-test-{uuid.uuid4().hex[:8]}:"
    yield server, prefix
    for key in server.scan_iter(f"{prefix}*"):
        server.delete(key)


def test_presence_is_shared_and_expires_without_refresh(redis_prefix):
    from app.live.presence import RedisPresence

    server, prefix = redis_prefix
    one, two = RedisPresence(server, prefix, ttl=60), RedisPresence(server, prefix, ttl=60)
    assert one.add("community:1", 1, "a1") is True
    assert two.add("community:1", 2, "b1") is True
    assert two.add("community:1", 1, "a2") is False  # Alice's second tab, on another process
    assert sorted(one.users("community:1")) == [1, 2]
    assert one.remove("community:1", 1, "a1") is False  # still there in her other tab
    short = RedisPresence(server, prefix, ttl=0.3)
    short.add("community:2", 3, "c1")
    short.refresh([("community:2", 3, "c1")])
    time.sleep(0.5)  # the process holding it "crashed": no refresh any more
    assert one.users("community:2") == []
    assert one.purge() == {"community:2": {3}}
    assert two.purge() == {}  # reported once, by whoever removed it


def test_rate_limits_count_across_processes(redis_prefix):
    from app.live.limits import SocketLimiter

    server, prefix = redis_prefix
    one, two = SocketLimiter(REDIS_URL, prefix), SocketLimiter(REDIS_URL, prefix)
    assert [one.hit("7:chat.send", 3, 60) for _ in range(2)] == [0, 0]
    assert two.hit("7:chat.send", 3, 60) == 0
    assert one.hit("7:chat.send", 3, 60) > 0
    assert two.hit("8:chat.send", 3, 60) == 0
