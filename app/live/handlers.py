"""Socket.IO handlers. Only signed-in, active people connect; the server picks the rooms."""
from __future__ import annotations

from flask import request
from flask_login import current_user
from flask_socketio import join_room

from app.extensions import socketio


@socketio.on("connect")
def on_connect(auth=None):
    """Refuse anonymous or suspended people and foreign origins; join `user:<id>`."""
    origin = request.headers.get("Origin")
    allowed = socketio.server.eio.cors_allowed_origins if socketio.server else []
    if origin is None or (allowed and origin.lower() not in allowed):
        return False
    if not current_user.is_authenticated or not current_user.is_active:
        return False
    join_room(f"user:{current_user.id}")
    return True
