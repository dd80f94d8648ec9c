"""Socket.IO handlers. Only signed-in, active people connect; the server picks the rooms.

Connecting: the Origin must be in KRING_ALLOWED_ORIGINS and the Flask-Login session cookie must
hold an active person. The socket joins `user:<id>` and `session:<token>` (its browser). The
connect `auth` payload may name rooms with the last id the client has in each:

    {"rooms": {"community:3": 120, "post:9": {"after": 55, "have": [53, 55]}, "post:4": null}}

Each room is authorized through app.services.access; allowed rooms are joined and what the
client missed since that id is replayed to it (app.services.chat.replay), followed by the
room's `presence.state`; refused ones are answered with `room.refused` {room, error}. These go
out after the connect acknowledgement, as few frames as possible (`live.batch`, see frames()). An int is "the last id I have"; {"after", "have"}
adds the newest ids it holds (which may have arrived out of order); null joins without replay.

Client events (each answered in its ack, see app.live.guard for the error shapes):
  join      {room, after?, have?}   -> {ok, room, presence}        (+ replay before the ack)
  leave     {room}                  -> {ok}
  presence  {room}                  -> {ok, room, presence: {count, people}}
  typing    {room, typing: bool}    -> {ok}   (room hears `typing`, the sender does not)
  chat.*    see app.live.chat
Any other event name answers {ok: false, code: "unknown_event"}.
"""
from __future__ import annotations

import logging

from flask import current_app, request, session
from flask_login import current_user
from flask_socketio import join_room, rooms
from sqlalchemy import select

from app import events, inputs
from app.errors import DomainError, ValidationError
from app.extensions import db, socketio
from app.live import chat as _chat_handlers  # noqa: F401 - registers the chat.* events
from app.live import patches as _patches  # noqa: F401 - polling responses python clients can decode
from app.live.guard import error, live_event, ok, person
from app.live.manager import NAMESPACE, state_of
from app.models import User
from app.services import chat

log = logging.getLogger(__name__)

MAX_ROOMS = 20
PRESENCE_LIST = 50
SESSION_TOKEN = events.SESSION_TOKEN  # key in the Flask session: the browser's live-session token


# --- helpers ------------------------------------------------------------------------------

def presence_of(room: str) -> dict:
    """{count, people}: who is in the room now (the first PRESENCE_LIST, with display fields)."""
    state = state_of(current_app)
    ids = state.presence.users(room)
    shown = ids[:PRESENCE_LIST]
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(shown)))} if shown else {}
    return {"count": len(ids), "people": [events.person(people[i]) for i in shown if i in people]}


def _cursor(value) -> tuple[int | None, list[int]]:
    """(after, have) from a room's cursor in the auth payload or a join event."""
    if value is None:
        return None, []
    if isinstance(value, bool):
        raise ValueError("bad cursor")
    if isinstance(value, int):
        if value > inputs.MAX_ID:
            raise ValueError("bad cursor")
        return max(0, value), []
    if isinstance(value, dict):
        after = value.get("after", value.get("last"))
        have = value.get("have") or []
        if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after > inputs.MAX_ID):
            raise ValueError("bad cursor")
        if not isinstance(have, list) or len(have) > 200:
            raise ValueError("bad cursor")
        return (max(0, after) if after is not None else None), [i for i in have if isinstance(i, int)]
    raise ValueError("bad cursor")


def enter(user, room, after: int | None, have: list[int]) -> tuple[str, list[tuple[str, dict]]]:
    """Authorize, join and count in presence. Returns the room and what the socket missed in it
    (its replay: [(event, payload)], already claimed in the replay fence, so the caller must
    send all of it to this socket). Raises NotFound when the person may not read the room."""
    state = state_of(current_app)
    sid = request.sid
    room = chat.authorize_room(user, room)
    info = state.info(sid)
    if info is not None and room not in info.rooms and len(info.rooms) >= MAX_ROOMS:
        raise ValidationError({"room": f"At most {MAX_ROOMS} rooms per connection: leave one first."})
    if after is not None:
        state.fence_open(sid, room)  # before joining: a live copy arriving now is remembered
    join_room(room)
    state.track(sid, room, chat.community_of_room(room))
    if state.presence.add(room, user.id, sid):
        events.signal("presence.joined", {"room": room, "user": events.person(user)}, room, skip_sid=sid)
    missed: list[tuple[str, dict]] = []
    if after is not None:
        result = chat.replay(user, room, after, have)
        missed = [(name, data) for name, data in result.events if state.fence_claim(sid, room, name, data)]
        if result.truncated:
            missed.append(("replay.truncated", {"room": room}))
    return room, missed


FRAME_EVENTS = 1_000  # events per live.batch frame of a replay


def frames(items: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """Events for one socket as few frames as possible: a lone event as itself, more as
    `live.batch` frames of up to FRAME_EVENTS: a replay of 300 messages is one packet, not 300
    (app.live.patches keeps a long-polling response to 16 packets, which python clients decode;
    so 300 packets would take 19 polls)."""
    if len(items) <= 1:
        return list(items)
    return [(events.BATCH, {"room": None, "events": [[name, data] for name, data in items[i:i + FRAME_EVENTS]]})
            for i in range(0, len(items), FRAME_EVENTS)]


def send_to(sid: str, items: list[tuple[str, dict]]) -> None:
    """Send events to one socket of this process, now."""
    manager = socketio.server.manager
    for name, data in frames(items):
        manager.emit(name, data, namespace=NAMESPACE, room=sid, ignore_queue=True)


# --- connecting ---------------------------------------------------------------------------

@socketio.on("connect")
def on_connect(auth=None):
    """Refuse anonymous or suspended people and foreign origins; join `user:<id>`, the
    browser's session room, and the rooms named in `auth` that access allows."""
    origin = request.headers.get("Origin")
    allowed = socketio.server.eio.cors_allowed_origins if socketio.server else []
    if origin is None or (allowed and origin.lower() not in allowed):
        return False
    if not current_user.is_authenticated or not current_user.is_active:
        return False
    user = current_user._get_current_object()
    state = state_of(current_app)
    state.server = socketio.server
    state.register(request.sid, user.id, user.session_version)
    join_room(f"user:{user.id}")
    token = session.get(SESSION_TOKEN)
    if isinstance(token, str) and token:
        join_room(f"session:{token}")
    wanted = auth.get("rooms") if isinstance(auth, dict) else None
    outbox: list[tuple[str, dict]] = []
    if isinstance(wanted, dict):
        for room, cursor in list(wanted.items())[:MAX_ROOMS]:
            try:
                after, have = _cursor(cursor)
                name, missed = enter(user, room, after, have)
                outbox += missed
                outbox.append(("presence.state", {"room": name, **presence_of(name)}))
            except Exception as exc:  # noqa: BLE001 - one bad room never refuses the connection
                db.session.rollback()
                if isinstance(exc, DomainError):
                    message = exc.message
                elif isinstance(exc, ValueError):
                    message = "Malformed room cursor."
                else:
                    log.exception("could not enter %r on connect", room)
                    message = "Something went wrong on our side; reload the page."
                outbox.append(("room.refused", {"room": str(room)[:80], "error": message or "Not allowed."}))
    # The rooms are joined now (nothing live is missed from here on); what the socket missed
    # goes out right after the connect acknowledgement (the managers' connect hook): a
    # Socket.IO client takes events only once it is connected.
    state.send_when_connected(request.sid, frames(outbox))
    return True


@socketio.on("disconnect")
def on_disconnect(reason=None):
    """Forget the socket; tell its rooms when the person is no longer in them at all."""
    state = state_of(current_app)
    info = state.unregister(request.sid)
    if info is None:
        return
    for room in info.rooms:
        try:
            if state.presence.remove(room, info.user_id, request.sid):
                events.signal("presence.left", {"room": room, "user_id": info.user_id}, room)
        except Exception:  # noqa: BLE001 - Redis away: the entry expires by itself
            log.exception("could not remove presence in %s", room)


# --- rooms --------------------------------------------------------------------------------

def _joined(room) -> str | None:
    return room if isinstance(room, str) and room in rooms() else None


@live_event("join", limit=(30, 10), max_bytes=4_000)
def on_join(user, data):
    try:
        after, have = _cursor({"after": data.get("after", data.get("last")), "have": data.get("have") or []})
    except ValueError:
        return error("bad_request", "“after” must be a message id and “have” a list of ids.")
    room, missed = enter(user, data.get("room"), after, have)
    send_to(request.sid, missed)  # the replay before the ack
    return ok(room=room, presence=presence_of(room))


@live_event("leave", limit=(30, 10))
def on_leave(user, data):
    room = _joined(data.get("room"))
    if room is None or room.startswith(("user:", "session:")):
        return error("not_in_room", "You are not in that room.")
    state_of(current_app).leave(request.sid, user.id, room)
    return ok(room=room)


@live_event("presence", limit=(30, 10))
def on_presence(user, data):
    room = _joined(data.get("room"))
    if room is None or not room.startswith(("community:", "post:")):
        return error("not_in_room", "Join the room first.")
    return ok(room=room, presence=presence_of(room))


@live_event("typing", limit=(20, 10), max_bytes=300)
def on_typing(user, data):
    room = _joined(data.get("room"))
    if room is None or not room.startswith(("community:", "post:")):
        return error("not_in_room", "Join the room first.")
    typing = data.get("typing", True)
    if not isinstance(typing, bool):
        return error("bad_request", "“typing” is true or false.")
    thread = data.get("thread")
    if thread is not None and (isinstance(thread, bool) or not isinstance(thread, int)):
        return error("bad_request", "“thread” is a message id.")
    events.signal("typing", {"room": room, "user": {"id": user.id, "name": user.display_name},
                             "typing": typing, "thread": thread}, room, skip_sid=request.sid)
    return ok()


@socketio.on("*")
def on_unknown(event, *args):
    """Events nobody handles get a clear answer (when the client asked for one)."""
    if person() is None:
        return error("unauthorized", "Your session has ended. Sign in again.")
    return error("unknown_event", f"Unknown event “{str(event)[:40]}”.")
