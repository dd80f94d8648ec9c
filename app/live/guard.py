"""The one decorator every client event goes through, and the shape of its acks.

`@live_event(name, limit=(n, seconds), max_bytes=...)` registers a Socket.IO handler that:
1. re-authenticates the person on every event: the user is loaded again from the session
   copy taken at connect, and the loader refuses a bumped session version or a suspension (a
   refused socket is disconnected);
2. accepts exactly one JSON object, at most `max_bytes` long (else "bad_request"/"too_large"),
   whose text follows the text rule and whose numbers fit a 64-bit column
   (app.inputs.check_payload; else "invalid" naming the key);
3. counts the event against the person's rate limit (else "rate_limited" with retry_after);
4. calls the handler with (user, data) and answers its dict as the ack;
5. turns domain errors into error acks (ValidationError -> "invalid" with field errors,
   NotFound -> "not_found", Forbidden -> "forbidden") and any other exception into
   "server_error", after rolling back, so one bad event never breaks the handler or anyone
   else's connection.

Acks: {"ok": true, ...} or {"ok": false, "code": ..., "error": "a sentence for people"}.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time

from flask import current_app, request
from flask_login import current_user

from app import events, inputs
from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import db, socketio
from app.live.manager import state_of

log = logging.getLogger(__name__)


def ok(**data) -> dict:
    return {"ok": True, **data}


def error(code: str, message: str, **extra) -> dict:
    return {"ok": False, "code": code, "error": message, **extra}


def person():
    """The signed-in, active person of this socket (checked again now), or None."""
    user = current_user
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return user._get_current_object()


_sqlite_lock = threading.Lock()
_writers = threading.Lock()  # guards the two below
_in_flight = 0               # writing events being handled in this process
_pending: list = []          # their committed live events, not sent yet
_pending_since = 0.0
HOLD_SECONDS = 0.5  # the longest a committed message waits for the writers around it (bursts only)


@contextlib.contextmanager
def sqlite_writes():
    """On SQLite, one writing socket event at a time in this process: waiting writers queue
    here instead of in SQLite's busy handler, which sleeps in growing steps (a burst of
    messages would otherwise wait tens of milliseconds each). PostgreSQL needs no queue."""
    if db.engine.dialect.name != "sqlite":
        yield
        return
    with _sqlite_lock:
        yield


@contextlib.contextmanager
def writing():
    """Handle one writing event; its live events go out together with those of the writing
    events handled at the same moment (the last one to finish sends them all, or the first
    one after HOLD_SECONDS). A burst of 200 messages then reaches each socket as a few
    batches, not as 200 separate wake-ups of its sender thread (which costs the server more
    than the messages themselves: bench/live.py measured 48% of a bare server's deliveries/s
    in a burst when each message went out on its own, 75-90% with this); a message on its
    own, the steady case, goes out at once."""
    global _in_flight, _pending_since
    with _writers:
        _in_flight += 1
    mine: list = []
    try:
        with events.held() as collected, sqlite_writes():
            try:
                yield
            finally:
                mine = list(collected)
    finally:
        with _writers:
            _in_flight -= 1
            if mine:
                if not _pending:
                    _pending_since = time.monotonic()
                _pending.extend(mine)
            if _in_flight and time.monotonic() - _pending_since < HOLD_SECONDS:
                batch = []
            else:
                batch = list(_pending)
                _pending.clear()
        events.send_all(batch)


def _size(data) -> int:
    try:
        return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError):
        return 1 << 30


def live_event(name: str, *, limit: tuple[int, float] = (30, 10), max_bytes: int = 1_000, writes: bool = False):
    """Register `fn(user, data) -> dict` as the handler of client event `name` (see above).
    `writes`: the event changes data, so on SQLite the writing events of this process queue
    for the write lock one at a time (see sqlite_writes; the lock itself is taken at the
    transaction's first write, app/setup.py)."""

    def register(fn):
        @functools.wraps(fn)
        def handler(*args):
            if writes:
                with writing():
                    return _handle(args)
            return _handle(args)

        def _handle(args):
            try:
                user = person()
                state = state_of(current_app)
                info = state.info(request.sid)
                if user is None or info is None or info.user_id != user.id:
                    socketio.server.disconnect(request.sid, namespace="/", ignore_queue=True)
                    return error("unauthorized", "Your session has ended. Sign in again.")
                if len(args) != 1 or not isinstance(args[0], dict):
                    return error("bad_request", f"“{name}” takes one JSON object.")
                data = args[0]
                if _size(data) > max_bytes:
                    return error("too_large", f"That is too large for “{name}” (at most {max_bytes:,} bytes).")
                if state.limits_on:
                    wait = state.limiter.hit(f"{user.id}:{name}", limit[0], limit[1])
                    if wait:
                        return error("rate_limited", f"Slow down: at most {limit[0]} of these every "
                                     f"{limit[1]:g} seconds. Try again in {wait} s.", retry_after=wait)
                inputs.check_payload(data, "data")  # the text rule; numbers a column holds
                return fn(user, data)
            except ValidationError as exc:
                db.session.rollback()
                return error("invalid", exc.message, errors=exc.errors)
            except NotFound as exc:
                db.session.rollback()
                return error("not_found", exc.message or "Not found.")
            except Forbidden as exc:
                db.session.rollback()
                return error("forbidden", exc.message or "You may not do this.")
            except Exception:  # noqa: BLE001 - never let one event break the connection
                log.exception("live event %s failed", name)
                db.session.rollback()
                return error("server_error", "Something went wrong on our side. Try again in a moment.")

        socketio.on(name)(handler)
        return handler

    return register
