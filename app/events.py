"""The one place that reacts to committed changes.

Services call `publish(event, payload, room)` inside their transaction; the event is kept on
the database session and emitted only after that transaction commits (dropped on rollback), so
nobody ever sees a live update of something that was not stored. Emits go through Flask-SocketIO,
which with REDIS_URL publishes on the message queue: the CLI, jobs and the search indexer can
emit to clients of every server process.

Event names (payloads are JSON-safe dicts of ids and display fields):
  session.ended            {user_id}                                       room user:<id>
  community.member_removed {community_id, user_id}                         room user:<id>
Features add theirs here as they land (post.created, comment.added, idea.voted, ...).
Rooms: user:<id>, community:<id>, post:<id>.
"""
from __future__ import annotations

import logging

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from app.extensions import db, socketio

log = logging.getLogger(__name__)
_KEY = "kring_events"


def _emit(name: str, payload: dict, room: str) -> None:
    try:
        socketio.emit(name, payload, to=room)
    except Exception:  # noqa: BLE001 - a live update must never break the committed action
        log.exception("could not emit %s to %s", name, room)


def publish(name: str, payload: dict, room: str) -> None:
    """Emit `name` to `room` once the current transaction commits (never if it rolls back)."""
    session = db.session()
    if not session.in_transaction():
        session.begin()  # so a rollback before any SQL still drops the event
    session.info.setdefault(_KEY, []).append((name, payload, room))


@sa_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop(_KEY, None)
    for name, payload, room in pending or ():
        _emit(name, payload, room)


@sa_event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction: drop what it queued
        session.info.pop(_KEY, None)


def user_sessions_ended(user_id: int) -> None:
    """Signed out everywhere, suspended or banned: tell and drop every socket of the person.
    Called after the commit that ended the sessions."""
    _emit("session.ended", {"user_id": user_id}, f"user:{user_id}")
    from app.live import rooms

    rooms.disconnect_user(user_id)


def member_removed(community_id: int, user_id: int) -> None:
    """A person lost access to a community: take their sockets out of its rooms (after commit)."""
    _emit("community.member_removed", {"community_id": community_id, "user_id": user_id}, f"user:{user_id}")
    from app.live import rooms

    rooms.leave_community(user_id, community_id)
