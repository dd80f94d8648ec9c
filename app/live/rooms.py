"""Server-side room bookkeeping: which sockets belong to a person, and removing them."""
from __future__ import annotations

import logging

from app.extensions import socketio

log = logging.getLogger(__name__)
NAMESPACE = "/"


def _sids_of(user_id: int) -> list[str]:
    server = socketio.server
    if server is None:
        return []
    try:
        return [sid for sid, _eio in server.manager.get_participants(NAMESPACE, f"user:{user_id}")]
    except KeyError:
        return []


def disconnect_user(user_id: int) -> None:
    """Disconnect every socket of the person connected to this process."""
    for sid in _sids_of(user_id):
        try:
            socketio.server.disconnect(sid, namespace=NAMESPACE)
        except Exception:  # noqa: BLE001
            log.exception("could not disconnect %s", sid)


def leave_community(user_id: int, community_id: int) -> None:
    """Remove the person's sockets from the community's rooms."""
    for sid in _sids_of(user_id):
        socketio.server.leave_room(sid, f"community:{community_id}", namespace=NAMESPACE)
