"""Server-side room control: removing a person's sockets from rooms, or disconnecting them.

Every function sends a control message through the Socket.IO manager (app.live.manager): with
REDIS_URL it travels over the message queue, so each server process acts on the sockets it
holds, and it works from the CLI and job workers as well as from a request.

Rooms a socket is put in (by the server, never chosen freely by the client):
  user:<id>         every socket of the person, on connect
  session:<token>   every socket of one signed-in browser (its sign-out ends them)
  community:<id>    after access.community_by_id_for(..., "read") allowed it
  post:<id>         after access.post_for(..., "read") allowed it
"""
from __future__ import annotations

import logging

from app.extensions import socketio
from app.live.manager import CONTROL, NAMESPACE

log = logging.getLogger(__name__)


def _control(data: dict) -> None:
    if socketio.server is None:
        return
    try:
        socketio.server.emit(CONTROL, data, to=data.get("room") or f"user:{data.get('user_id')}", namespace=NAMESPACE)
    except Exception:  # noqa: BLE001 - the committed action that asked for it must not fail
        log.exception("could not send live control %s", data.get("action"))


def disconnect_user(user_id: int) -> None:
    """Disconnect every socket of the person, in every server process."""
    _control({"action": "disconnect", "room": f"user:{user_id}"})


def disconnect_browser_session(token: str) -> None:
    """Disconnect the sockets of one signed-in browser (it signed out), in every process."""
    if token:
        _control({"action": "disconnect", "room": f"session:{token}"})


def leave_community(user_id: int, community_id: int) -> None:
    """If the person may no longer read the community, take their sockets out of its room and
    of the rooms of its posts, in every server process."""
    _control({"action": "leave_community", "user_id": user_id, "community_id": community_id})
