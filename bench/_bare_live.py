"""The baseline for bench/live.py: a bare python-socketio server in the same async mode as
Kring (threading, simple-websocket), served the same way (gunicorn, one gthread worker).

Every connection joins one room; "send" broadcasts to that room a payload shaped like Kring's
chat.message (id, key, author, body_html, times) and acknowledges. No authentication, no
database, no access checks: the difference to Kring is what Kring's full path costs.

    gunicorn -w 1 -k gthread --threads 800 bench._bare_live:app
"""
from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime

import socketio

sio = socketio.Server(async_mode="threading", cors_allowed_origins="*")
app = socketio.WSGIApp(sio)
_ids = itertools.count(1)
_lock = threading.Lock()
ROOM = "community:1"


@sio.event
def connect(sid, environ, auth=None):
    sio.enter_room(sid, ROOM)


@sio.on("chat.send")
def send(sid, data):
    with _lock:
        ident = next(_ids)
    now = datetime.now(UTC).replace(tzinfo=None).isoformat() + "Z"
    message = {"room": ROOM, "id": ident, "community_id": 1, "parent_id": None, "key": data.get("key"),
               "author": {"id": 1, "name": "Bench Person", "handle": "bench.person", "kind": "employee",
                          "initial": "B", "avatar": None},
               "body_html": f"<p>{data.get('body', '')}</p>", "deleted": False, "created_at": now,
               "edited_at": None, "reply_count": 0, "last_reply_at": None, "promoted_post_id": None}
    sio.emit("chat.message", message, to=ROOM)
    return {"ok": True, "message": message, "duplicate": False}
