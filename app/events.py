"""The one place that reacts to committed changes: live events now; search outbox,
notifications and webhooks plug in here as later features land.

Event names: `session.ended`, `community.member_removed`, ... Rooms: `user:<id>`,
`community:<id>`, `post:<id>`. Payloads are JSON-safe dicts of ids and display fields.
Functions here are called by services *after* their commit.
"""
from __future__ import annotations

import logging

from app.extensions import socketio

log = logging.getLogger(__name__)


def _emit(event: str, payload: dict, room: str) -> None:
    try:
        socketio.emit(event, payload, to=room)
    except Exception:  # noqa: BLE001 - a live update must never break the committed action
        log.exception("could not emit %s to %s", event, room)


def user_sessions_ended(user_id: int) -> None:
    """Signed out everywhere, suspended or banned: tell and drop every socket of the person."""
    _emit("session.ended", {"user_id": user_id}, f"user:{user_id}")
    from app.live import rooms

    rooms.disconnect_user(user_id)


def member_removed(community_id: int, user_id: int) -> None:
    """A person lost access to a community: take their sockets out of its rooms."""
    _emit("community.member_removed", {"community_id": community_id, "user_id": user_id},
          f"user:{user_id}")
    from app.live import rooms

    rooms.leave_community(user_id, community_id)
