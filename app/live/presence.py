"""Who is here now, per room (community:<id>, post:<id>).

An entry is one socket of one person in one room, with an expiry. The process that holds the
socket refreshes its entries every ttl/3 seconds and removes them when the socket leaves; the
entries of a process that crashed are no longer refreshed and expire after `ttl` seconds
(`purge()` reports who vanished, so the rooms can be told).

MemoryPresence keeps the entries in this process (no REDIS_URL: one process sees everything);
RedisPresence keeps them in Redis sorted sets (score = expiry time), shared by every process:

    <prefix>presence:<room>   ZSET member "<user_id>:<sid>", score = expires at (unix time)
    <prefix>presence:rooms    SET of rooms that have entries (for purge)

`add` returns True when it is the person's first socket in the room, `remove` when it was
their last: only then do the other people in the room hear presence.joined / presence.left.
"""
from __future__ import annotations

import threading
import time


def _member(user_id: int, sid: str) -> str:
    return f"{user_id}:{sid}"


def _user(member) -> int:
    if isinstance(member, bytes):
        member = member.decode()
    return int(member.split(":", 1)[0])


def _ordered_users(members) -> list[int]:
    seen: dict[int, None] = {}
    for member in members:
        seen.setdefault(_user(member), None)
    return list(seen)


class MemoryPresence:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.lock = threading.Lock()
        self.rooms: dict[str, dict[str, float]] = {}

    def _live(self, room: str, now: float) -> dict[str, float]:
        entries = self.rooms.get(room, {})
        return {m: exp for m, exp in entries.items() if exp > now}

    def add(self, room: str, user_id: int, sid: str) -> bool:
        now = time.time()
        with self.lock:
            before = {_user(m) for m in self._live(room, now)}
            self.rooms.setdefault(room, {})[_member(user_id, sid)] = now + self.ttl
            return user_id not in before

    def remove(self, room: str, user_id: int, sid: str) -> bool:
        now = time.time()
        with self.lock:
            entries = self.rooms.get(room, {})
            if entries.pop(_member(user_id, sid), None) is None:
                return False
            if not entries:
                self.rooms.pop(room, None)
            return user_id not in {_user(m) for m in self._live(room, now)}

    def users(self, room: str) -> list[int]:
        now = time.time()
        with self.lock:
            live = self._live(room, now)
            return _ordered_users(sorted(live, key=lambda m: live[m]))

    def refresh(self, entries) -> None:
        expires = time.time() + self.ttl
        with self.lock:
            for room, user_id, sid in entries:
                member = _member(user_id, sid)
                if member in self.rooms.get(room, {}):
                    self.rooms[room][member] = expires

    def purge(self) -> dict[str, set[int]]:
        now = time.time()
        gone: dict[str, set[int]] = {}
        with self.lock:
            for room, entries in list(self.rooms.items()):
                expired = [m for m, exp in entries.items() if exp <= now]
                for m in expired:
                    del entries[m]
                left = {_user(m) for m in expired} - {_user(m) for m in entries}
                if left:
                    gone[room] = left
                if not entries:
                    del self.rooms[room]
        return gone


class RedisPresence:
    def __init__(self, redis, prefix: str, ttl: float) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl = ttl

    def _key(self, room: str) -> str:
        return f"{self.prefix}presence:{room}"

    @property
    def _rooms_key(self) -> str:
        return f"{self.prefix}presence:rooms"

    def add(self, room: str, user_id: int, sid: str) -> bool:
        now = time.time()
        key = self._key(room)
        pipe = self.redis.pipeline()
        pipe.zrangebyscore(key, now, "+inf")
        pipe.zadd(key, {_member(user_id, sid): now + self.ttl})
        pipe.expire(key, int(self.ttl * 2) + 1)
        pipe.sadd(self._rooms_key, room)
        before = pipe.execute()[0]
        return user_id not in {_user(m) for m in before}

    def remove(self, room: str, user_id: int, sid: str) -> bool:
        now = time.time()
        key = self._key(room)
        pipe = self.redis.pipeline()
        pipe.zrem(key, _member(user_id, sid))
        pipe.zrangebyscore(key, now, "+inf")
        removed, rest = pipe.execute()
        return bool(removed) and user_id not in {_user(m) for m in rest}

    def users(self, room: str) -> list[int]:
        return _ordered_users(self.redis.zrangebyscore(self._key(room), time.time(), "+inf"))

    def refresh(self, entries) -> None:
        if not entries:
            return
        expires = time.time() + self.ttl
        pipe = self.redis.pipeline()
        for room, user_id, sid in entries:
            key = self._key(room)
            pipe.zadd(key, {_member(user_id, sid): expires}, xx=True)
            pipe.expire(key, int(self.ttl * 2) + 1)
        pipe.execute()

    def purge(self) -> dict[str, set[int]]:
        """Remove expired entries (a crashed process's); report who is no longer in each room.
        Several processes may purge at once: each entry is removed (and reported) once."""
        now = time.time()
        gone: dict[str, set[int]] = {}
        for raw in self.redis.smembers(self._rooms_key):
            room = raw.decode() if isinstance(raw, bytes) else raw
            key = self._key(room)
            expired = self.redis.zrangebyscore(key, "-inf", now)
            if expired:
                pipe = self.redis.pipeline()
                for member in expired:
                    pipe.zrem(key, member)
                removed = [m for m, n in zip(expired, pipe.execute(), strict=True) if n]
                rest = {_user(m) for m in self.redis.zrangebyscore(key, now, "+inf")}
                left = {_user(m) for m in removed} - rest
                if left:
                    gone[room] = left
            if not self.redis.zcard(key):
                self.redis.srem(self._rooms_key, room)
        return gone
