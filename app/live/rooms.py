"""Server-side room control: removing a person's sockets from rooms, or disconnecting them.

Every function sends a control message through the Socket.IO manager (app.live.manager): with
REDIS_URL it travels over the message queue, so each server process acts on the sockets it
holds, and it works from the CLI and job workers as well as from a request.

Rooms a socket is put in (by the server, never chosen freely by the client):
  user:<id>         every socket of the person, on connect
  session:<token>   every socket of one signed-in browser (its sign-out ends them)
  community:<id>    after access.community_by_id_for(..., "read") allowed it
  post:<id>         after access.post_for(..., "read") allowed it

Who may be in a room changes with a community's visibility, a person's kind, staff flags or
suspension, a membership and a post's state: app.events notices each such change at flush and
calls `narrow` when it commits, before the commit returns. `install()` (app.setup.init_sockets)
hands these functions, and presence, to app.events, which never imports this layer.
"""
from __future__ import annotations

import logging
import uuid

from flask import current_app, has_app_context

from app import events
from app.extensions import socketio
from app.live.handlers import presence_of
from app.live.manager import CONTROL, NAMESPACE, setting, state_of

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


def narrow(scopes) -> None:
    """Re-check, in every server process, the sockets a committed change may have taken rights
    from, and take them out of the rooms they may no longer read (or disconnect them): scopes
    are ("community", id) for the rooms of a community, ("post", id) for a post's room,
    ("user", id) for every socket of a person. Returns when every process has acted: with
    REDIS_URL each live server process answers on a list of its own, and this waits for them
    all (at most KRING_LIVE_CONTROL_WAIT seconds, 5, when one does not answer: it crashed, or
    its entry is about to expire); in one process the control is carried out on the spot."""
    if socketio.server is None or not scopes:
        return
    data = {"action": "narrow", "scopes": [list(scope) for scope in scopes]}
    state = state_of(current_app) if has_app_context() and "kring_live" in current_app.extensions else None
    if state is None or state.redis is None:
        _control(data)
        return
    try:
        expected = state.live_servers()
        data["ack"] = f"{state.prefix}ack:{uuid.uuid4().hex}"
    except Exception:  # noqa: BLE001 - Redis away: the upkeep re-check is the safety net
        log.exception("could not count the live server processes")
        _control(data)
        return
    _control(data)
    if expected:
        state.wait_for_acks(data["ack"], expected, setting(state.app, "KRING_LIVE_CONTROL_WAIT", 5.0, float))


def install() -> None:
    """Give app.events the live layer's reactions (disconnect a person or a browser, narrow,
    presence), so committed changes reach the sockets. Called once at start-up by
    app.setup.init_sockets; returns nothing."""
    events.set_live_hooks(disconnect_user=disconnect_user, disconnect_browser=disconnect_browser_session,
                          narrow=narrow, presence=presence_of)
