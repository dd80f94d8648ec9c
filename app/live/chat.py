"""Socket.IO events of the live discussion channel: the doors to app.services.chat.

  chat.send    {room: "community:<id>", body, key, parent_id?}
               -> {ok, message, duplicate}   acknowledged only after the message is stored;
               a retry with the same key answers the stored message (duplicate: true)
  chat.edit    {id, body}                    -> {ok, message}
  chat.delete  {id}                          -> {ok, message}
  chat.history {room, before?}               -> {ok, messages (oldest first), older}
  chat.thread  {id}                          -> {ok, root, replies}

The sender must be in the message's room (joined through the server's access checks).
"""
from __future__ import annotations

from flask_socketio import rooms

from app.live.guard import error, live_event, ok
from app.services import access, chat


def _in_room(room: str) -> bool:
    return room in rooms()


def _community_room(data) -> tuple[str, int] | None:
    parsed = chat.parse_room(data.get("room"))
    if parsed is None or parsed[0] != "community":
        return None
    return f"community:{parsed[1]}", parsed[1]


@live_event("chat.send", limit=(20, 10), max_bytes=20_000, writes=True)
def on_send(user, data):
    target = _community_room(data)
    if target is None:
        return error("bad_request", "Say which community channel: {room: \"community:<id>\"}.")
    room, community_id = target
    if not _in_room(room):
        return error("not_in_room", "Join the channel before you write in it.")
    key = data.get("key")
    if key is None:
        return error("bad_request", "Every message needs a key (the client's id for it), so a retry is not stored twice.")
    message, created = chat.post(user, community_id, data.get("body"), parent_id=data.get("parent_id"),
                                 client_key=key)
    return ok(message=getattr(message, "live_payload", None) or chat.payload(message), duplicate=not created)


def _own_room_message(user, data):
    message_id = data.get("id")
    acc, message = access.chat_message_for(user, message_id)
    if not _in_room(message.room):
        return None
    return message


@live_event("chat.edit", limit=(20, 60), max_bytes=20_000, writes=True)
def on_edit(user, data):
    if _own_room_message(user, data) is None:
        return error("not_in_room", "Join the channel first.")
    message = chat.edit(user, data.get("id"), data.get("body"))
    return ok(message=chat.payload(message))


@live_event("chat.delete", limit=(20, 60), writes=True)
def on_delete(user, data):
    if _own_room_message(user, data) is None:
        return error("not_in_room", "Join the channel first.")
    message = chat.delete(user, data.get("id"))
    return ok(message=chat.payload(message))


@live_event("chat.history", limit=(20, 10))
def on_history(user, data):
    target = _community_room(data)
    if target is None:
        return error("bad_request", "Say which community channel: {room: \"community:<id>\"}.")
    room, community_id = target
    if not _in_room(room):
        return error("not_in_room", "Join the channel first.")
    acc = chat.access.community_by_id_for(user, community_id, "read")
    page = chat.history(user, acc.community.slug, before=data.get("before"))
    return ok(room=room, messages=[chat.payload(m) for m in page.messages], older=page.older)


@live_event("chat.thread", limit=(30, 10))
def on_thread(user, data):
    found = chat.thread(user, data.get("id"))
    if not _in_room(found.root.room):
        return error("not_in_room", "Join the channel first.")
    return ok(root=chat.payload(found.root), replies=[chat.payload(m) for m in found.replies])
