"""Kring's Socket.IO client managers and the per-process live state.

python-socketio's managers keep the rooms; these subclasses add two things on the path where
an emitted event is delivered to this process's sockets:

- **Control messages** (event CONTROL, never delivered to a client): "disconnect every socket in
  room R" and "re-check the rooms of these communities, posts and people" (a narrowing, sent
  by every commit that may take rights away: app.live.rooms.narrow). They are
  emitted like any event, so with REDIS_URL they travel through the message queue and every
  server process acts on its own sockets (sign-out, suspension, removal from a community work
  across processes; the CLI and job workers can send them too).
- **Batches**: a `live.batch` (several events of one room committed together) goes out as one
  frame per socket, except to a room where a replay fence is open: there it is sent event by
  event, so the fences see every message id.
- **Replay fences**: while a (re)connecting socket gets the messages it missed from the
  database, a live broadcast of the same message may reach it too. For a short time after a
  room is entered with a replay, every chat.message / comment.added id sent to that socket in
  that room is remembered, and whichever of the two paths comes second is skipped, so each
  message reaches the socket exactly once.

`LiveState` (one per app, `app.extensions["kring_live"]`) holds the sockets of this process
(person, rooms and their community), the fences, the presence store and the rate limiter, and
runs a small background loop that keeps this process's presence entries fresh (so entries of a
crashed process expire) and re-checks every socket's access once a minute.

Over 500 lines: both managers and the state they share are one delivery path, read together.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field

import socketio as sio
from flask import Flask, current_app, has_app_context

from app.events import BATCH  # several events of one room in one frame
from app.extensions import db, socketio
from app.live import limits, presence
from app.models import User
from app.services import chat

log = logging.getLogger(__name__)

CONTROL = "kring.control"
NAMESPACE = "/"
FENCED = {"chat.message": "id", "comment.added": "comment_id"}
FENCE_SECONDS = 60.0


def setting(app: Flask, name: str, default, cast=str):
    """A live setting: from the app config, else the environment, else `default`."""
    value = app.config.get(name)
    if value is None:
        value = os.environ.get(name)
    if value is None:
        return default
    if cast is bool and isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return cast(value)


@dataclass
class SocketInfo:
    user_id: int
    session_version: int
    rooms: dict[str, int | None] = field(default_factory=dict)  # room -> its community id


@dataclass
class _Fence:
    seen: set = field(default_factory=set)
    until: float = 0.0


class LiveState:
    """What this server process knows about its own live connections."""

    def __init__(self, app: Flask, redis_url: str | None, channel: str) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.sockets: dict[str, SocketInfo] = {}
        self.fences: dict[str, dict[str, _Fence]] = {}
        self.on_connect: dict[str, list] = {}  # sid -> frames to send once its connect is acknowledged
        self.server_id = uuid.uuid4().hex[:12]
        self.redis = None
        prefix = self.prefix = f"kring:{channel}:"
        ttl = self.ttl = setting(app, "KRING_LIVE_PRESENCE_TTL", 60.0, float)
        self.refresh_every = max(1.0, ttl / 3)
        if redis_url:
            import redis

            self.redis = redis.Redis.from_url(redis_url)
            self.presence = presence.RedisPresence(self.redis, prefix, ttl)
        else:
            self.presence = presence.MemoryPresence(ttl)
        self.limiter = limits.SocketLimiter(limits.storage_uri(app.config), prefix)
        self.limits_on = setting(app, "KRING_LIVE_RATELIMIT", True, bool)
        self.server = None  # the python-socketio server, set by the manager
        self._loop_started = False
        self._upkeep = None  # the upkeep loop's task (a thread, or a greenlet under gevent)
        self._stopping = threading.Event()

    # --- sockets of this process ----------------------------------------------------------
    def register(self, sid: str, user_id: int, session_version: int) -> None:
        with self.lock:
            self.sockets[sid] = SocketInfo(user_id, session_version)

    def track(self, sid: str, room: str, community_id: int | None) -> None:
        with self.lock:
            info = self.sockets.get(sid)
            if info is not None:
                info.rooms[room] = community_id

    def untrack(self, sid: str, room: str) -> None:
        with self.lock:
            info = self.sockets.get(sid)
            if info is not None:
                info.rooms.pop(room, None)
            fences = self.fences.get(room)
            if fences:
                fences.pop(sid, None)

    def unregister(self, sid: str) -> SocketInfo | None:
        with self.lock:
            info = self.sockets.pop(sid, None)
            for fences in self.fences.values():
                fences.pop(sid, None)
            self.on_connect.pop(sid, None)
            return info

    def send_when_connected(self, sid: str, frames: list) -> None:
        """Frames [(event, payload)] for `sid` to send right after its connect acknowledgement
        (the connect handler runs before it; python-socketio sends the ack when it returns)."""
        if frames:
            with self.lock:
                self.on_connect[sid] = list(frames)

    def connected(self, sid: str) -> list:
        """The frames waiting for `sid`'s acknowledged connect (and forget them)."""
        with self.lock:
            return self.on_connect.pop(sid, [])

    def info(self, sid: str) -> SocketInfo | None:
        with self.lock:
            return self.sockets.get(sid)

    # --- replay fences --------------------------------------------------------------------
    def fence_open(self, sid: str, room: str) -> None:
        with self.lock:
            self.fences.setdefault(room, {})[sid] = _Fence(set(), time.monotonic() + FENCE_SECONDS)

    def fence_claim(self, sid: str, room: str, event: str, data: dict) -> bool:
        """For the replay path: True when `data` was not sent to `sid` yet (and now counts as sent)."""
        key = FENCED.get(event)
        if key is None:
            return True
        with self.lock:
            fence = self.fences.get(room, {}).get(sid)
            if fence is None:
                return True
            ident = data.get(key)
            if ident in fence.seen:
                return False
            fence.seen.add(ident)
            return True

    def fenced(self, room) -> bool:
        """Whether a socket of `room` is inside a replay fence now: a live.batch for the room
        is then sent event by event, so that each event goes through fence_skips."""
        now = time.monotonic()
        with self.lock:
            fences = self.fences.get(room) if isinstance(room, str) else None
            return bool(fences) and any(fence.until >= now for fence in fences.values())

    def fence_skips(self, event: str, data, room) -> list[str]:
        """For the live path: the sockets of `room` that already got this message by replay."""
        key = FENCED.get(event)
        if key is None or not isinstance(room, str) or not isinstance(data, dict) or room not in self.fences:
            return []
        ident = data.get(key)
        skip = []
        now = time.monotonic()
        with self.lock:
            fences = self.fences.get(room) or {}
            for sid, fence in list(fences.items()):
                if fence.until < now:
                    del fences[sid]
                elif ident in fence.seen:
                    skip.append(sid)
                else:
                    fence.seen.add(ident)
            if not fences:
                self.fences.pop(room, None)
        return skip

    # --- control messages -----------------------------------------------------------------
    def control(self, data) -> None:
        """Act on a control message for the sockets of this process."""
        if not isinstance(data, dict) or self.server is None:
            return
        action = data.get("action")
        try:
            if action == "disconnect":
                self._disconnect_room(data.get("room"))
            elif action == "narrow":
                self.narrow(data.get("scopes"))
        except Exception:  # noqa: BLE001 - a control message must never kill the listener
            log.exception("live control %r failed", action)
        finally:
            ack = data.get("ack")
            if isinstance(ack, str) and ack.startswith(self.prefix + "ack:") and self.redis is not None:
                try:
                    self.redis.pipeline().rpush(ack, self.server_id).expire(ack, 60).execute()
                except Exception:  # noqa: BLE001
                    log.exception("could not acknowledge live control %r", action)

    def _participants(self, room: str) -> list[str]:
        try:
            return [sid for sid, _eio in self.server.manager.get_participants(NAMESPACE, room)]
        except KeyError:
            return []

    def _disconnect_room(self, room) -> None:
        if not isinstance(room, str):
            return
        for sid in self._participants(room):
            self.server.disconnect(sid, namespace=NAMESPACE, ignore_queue=True)

    def narrow(self, scopes) -> None:
        """Re-check the rooms of this process's sockets that a change touched (see
        app.live.rooms.narrow for the scopes)."""
        wanted: dict[str, set[int]] = {"community": set(), "post": set(), "user": set()}
        for scope in scopes or ():
            if (isinstance(scope, list | tuple) and len(scope) == 2 and scope[0] in wanted
                    and isinstance(scope[1], int)):
                wanted[scope[0]].add(scope[1])
        posts = {f"post:{i}" for i in wanted["post"]}
        with self.lock:
            selected = {}
            for sid, info in self.sockets.items():
                if info.user_id in wanted["user"]:
                    rooms = list(info.rooms)
                else:
                    rooms = [room for room, cid in info.rooms.items() if cid in wanted["community"] or room in posts]
                if rooms or info.user_id in wanted["user"]:
                    selected[sid] = rooms
        if selected:
            self.recheck(selected)

    # --- the live server processes (REDIS_URL): who must acknowledge a narrowing -----------
    def _servers_key(self) -> str:
        return self.prefix + "servers"

    def announce(self) -> None:
        """Note this process as a live server for the next ttl (refreshed with presence)."""
        if self.redis is not None:
            self.redis.hset(self._servers_key(), self.server_id, time.time() + self.ttl)

    def retire(self) -> None:
        if self.redis is not None:
            try:
                self.redis.hdel(self._servers_key(), self.server_id)
            except Exception:  # noqa: BLE001 - Redis away: the entry expires by itself
                log.exception("could not retire live server %s", self.server_id)

    def live_servers(self) -> set[str]:
        """The ids of the live server processes sharing this channel now (stale entries removed)."""
        now = time.time()
        entries = {sid.decode() if isinstance(sid, bytes) else sid: float(until)
                   for sid, until in self.redis.hgetall(self._servers_key()).items()}
        stale = [sid for sid, until in entries.items() if until < now]
        if stale:
            self.redis.hdel(self._servers_key(), *stale)
        return {sid for sid, until in entries.items() if until >= now}

    def wait_for_acks(self, key: str, expected: set[str], timeout: float) -> set[str]:
        """Wait until every process in `expected` acknowledged the control message at `key` (or
        `timeout` seconds passed); returns those that did."""
        deadline = time.monotonic() + timeout
        acked: set[str] = set()
        try:
            while not expected <= acked:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                got = self.redis.blpop([key], timeout=max(0.01, min(left, 1.0)))
                if got is not None:
                    acked.add(got[1].decode() if isinstance(got[1], bytes) else got[1])
        finally:
            try:
                self.redis.delete(key)
            except Exception:  # noqa: BLE001 - the key expires by itself
                log.exception("could not delete %s", key)
        if not expected <= acked:
            log.warning("live narrowing: %d of %d server processes answered within %.1f s",
                        len(expected & acked), len(expected), timeout)
        return acked & expected

    def with_db(self, fn):
        """Run fn() with a database session: the caller's, when this thread already works in
        this app (a request that just committed; a second session would wait for its lock),
        else in an app context of its own (the Redis listener, the upkeep loop)."""
        if has_app_context() and current_app._get_current_object() is self.app:
            return fn()
        with self.app.app_context():
            try:
                return fn()
            finally:
                db.session.remove()

    def leave(self, sid: str, user_id: int, room: str) -> None:
        """Take a socket out of a room (and the room's presence), telling the room when the
        person is no longer there at all."""
        self.server.leave_room(sid, room, namespace=NAMESPACE)
        self.untrack(sid, room)
        if self.presence.remove(room, user_id, sid):
            self.server.emit("presence.left", {"room": room, "user_id": user_id}, to=room, namespace=NAMESPACE)

    # --- background upkeep ----------------------------------------------------------------
    def start_upkeep(self) -> None:
        """Start this process's upkeep loop once (presence refresh, access re-checks)."""
        with self.lock:
            if self._loop_started or self.server is None:
                return
            self._loop_started = True
        try:
            self.announce()
        except Exception:  # noqa: BLE001 - Redis away: announced again at the next refresh
            log.exception("could not announce live server %s", self.server_id)
        # (The serving process's garbage-collector setup, which the p99 of message delivery
        # depends on, is app.ready_to_serve, called by wsgi.py.)
        self._upkeep = self.server.start_background_task(self._upkeep_loop)

    def stop(self, timeout: float = 5.0) -> bool:
        """End the upkeep loop and wait for its round to finish (an app being shut down, or a
        test's app before its tables are emptied). False when it still runs after `timeout`."""
        self._stopping.set()
        self.retire()
        task = self._upkeep
        if task is None:
            return True
        task.join(timeout)
        alive = task.is_alive() if hasattr(task, "is_alive") else not task.dead  # a thread, or a greenlet
        return not alive

    def _upkeep_loop(self) -> None:
        """Every second: refresh presence when due (every ttl/3) and re-check a slice of the
        sockets, so that each is re-checked every KRING_LIVE_RECHECK_SECONDS (60) without a
        pause for everyone while hundreds are checked at once."""
        server = self.server
        recheck_every = setting(self.app, "KRING_LIVE_RECHECK_SECONDS", 60.0, float)
        last_refresh = time.monotonic()
        queue: list[str] = []
        # stop when asked (stop()), or when a newer app replaced this one (tests)
        while not self._stopping.wait(1.0) and socketio.server is server:
            try:
                if time.monotonic() - last_refresh >= self.refresh_every:
                    last_refresh = time.monotonic()
                    self.refresh_presence()
                if not queue:
                    with self.lock:
                        queue = list(self.sockets)
                    per_tick = max(1, -(-len(queue) // max(1, int(recheck_every))))
                if queue:
                    batch, queue = queue[:per_tick], queue[per_tick:]
                    self.recheck(batch)
            except Exception:  # noqa: BLE001 - upkeep must survive a bad moment (Redis restart)
                log.exception("live upkeep round failed")

    def refresh_presence(self) -> None:
        self.announce()
        with self.lock:
            entries = [(room, info.user_id, sid) for sid, info in self.sockets.items() for room in info.rooms]
        self.presence.refresh(entries)
        for room, user_ids in self.presence.purge().items():
            for user_id in user_ids:
                self.server.emit("presence.left", {"room": room, "user_id": user_id}, to=room, namespace=NAMESPACE)

    def recheck(self, sids=None) -> None:
        """Drop sockets (all, or those in `sids`) whose person was suspended or signed out
        everywhere, and rooms they may no longer read (a missed control message, a community
        made private). `sids` may map each socket to the rooms to check (a narrowing)."""
        with self.lock:
            snapshot = {sid: (info.user_id, info.session_version,
                              list(info.rooms) if not isinstance(sids, dict) else
                              [room for room in sids[sid] if room in info.rooms])
                        for sid, info in self.sockets.items() if sids is None or sid in sids}
        if not snapshot:
            return
        verdicts: dict[tuple[int, str], int | None | bool] = {}  # (person, room) -> community id, or False
        with self.app.app_context():
            try:
                for sid, (user_id, version, rooms) in snapshot.items():
                    user = db.session.get(User, user_id)
                    if user is None or user.session_version != version or not user.is_active:
                        db.session.rollback()
                        self.server.disconnect(sid, namespace=NAMESPACE, ignore_queue=True)
                        continue
                    for room in rooms:
                        if (user_id, room) not in verdicts:
                            try:
                                chat.authorize_room(user, room)
                                verdicts[user_id, room] = chat.community_of_room(room)
                            except Exception:  # noqa: BLE001 - NotFound and friends: no longer readable
                                verdicts[user_id, room] = False
                    # one short transaction per socket: on SQLite nobody waits for this check
                    db.session.rollback()
                    for room in rooms:
                        verdict = verdicts[user_id, room]
                        if verdict is False:
                            self.leave(sid, user_id, room)
                        else:
                            self.track(sid, room, verdict)  # a post moved to another community
            finally:
                db.session.remove()


class _Live:
    """What both managers add: the live state started with the server, and what a connect
    handler left for its socket sent once the connection is acknowledged."""

    live: LiveState

    def initialize(self):
        super().initialize()
        self.live.server = self.server
        self.live.start_upkeep()

    def connect(self, sid, namespace):
        """python-socketio calls this right after it queued the connect acknowledgement: now
        send what the connect handler left for the socket (its replay and presence)."""
        sid = super().connect(sid, namespace)
        for name, data in self.live.connected(sid):
            self.emit(name, data, namespace, room=sid, ignore_queue=True)
        return sid


class KringManager(_Live, sio.Manager):
    """The in-process manager (no REDIS_URL)."""

    def emit(self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None, **kwargs):
        room = to or room
        if event == CONTROL:
            self.live.server = self.server
            self.live.control(data)
            return None
        if event == BATCH and self.live.fenced(room):
            for name, payload in _batch_events(data):
                self.emit(name, payload, namespace, room=room, skip_sid=skip_sid, **kwargs)
            return None
        skip = self.live.fence_skips(event, data, room)
        if skip:
            skip_sid = _merge(skip_sid, skip)
        return super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs)


class KringRedisManager(_Live, sio.RedisManager):
    """The manager with REDIS_URL: rooms shared by every process through Redis pub/sub."""

    def _handle_emit(self, message):
        event = message.get("event")
        data = message.get("data")
        first = data[0] if isinstance(data, list) and data else data
        if event == CONTROL:
            self.live.server = self.server
            self.live.control(first)
            return
        if event == BATCH and self.live.fenced(message.get("room")):
            for name, payload in _batch_events(first):
                self._handle_emit(dict(message, event=name, data=[payload]))
            return
        skip = self.live.fence_skips(event, first, message.get("room"))
        if skip:
            message = dict(message, skip_sid=_merge(message.get("skip_sid"), skip))
        super()._handle_emit(message)


def _batch_events(data) -> list[tuple[str, dict]]:
    """The (event, payload) pairs of a live.batch payload (app.events.send_all)."""
    events = data.get("events") if isinstance(data, dict) else None
    return [(e[0], e[1]) for e in events or () if isinstance(e, list | tuple) and len(e) == 2]


def _merge(skip_sid, more: list[str]) -> list[str]:
    if skip_sid is None:
        return list(more)
    if isinstance(skip_sid, list):
        return skip_sid + list(more)
    return [skip_sid, *more]


def create(app: Flask):
    """The client manager for `app`'s Socket.IO server (with its LiveState)."""
    redis_url = app.config.get("REDIS_URL")
    channel = setting(app, "KRING_SOCKETIO_CHANNEL", "flask-socketio")
    state = LiveState(app, redis_url, channel)
    if redis_url:
        manager = KringRedisManager(redis_url, channel=channel)
    else:
        manager = KringManager()
    manager.live = state
    app.extensions["kring_live"] = state
    return manager


def state_of(app: Flask) -> LiveState:
    return app.extensions["kring_live"]
