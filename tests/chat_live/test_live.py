"""Socket.IO connections: only signed-in, active people from an allowed origin connect, and
they are put in their own `user:<id>` room (so sign-out, suspension and removal reach them)."""
from __future__ import annotations

from datetime import timedelta

from app import clock
from app.extensions import db, socketio
from app.models import User
from app.services.people import accounts

ORIGIN = {"Origin": "http://127.0.0.1:5000"}


def test_anonymous_socket_is_refused(app, client):
    sock = socketio.test_client(app, flask_test_client=client, headers=ORIGIN)
    assert not sock.is_connected()


def test_signed_in_socket_connects_and_foreign_origin_is_refused(app, make, login_as):
    user = make.user("employee")
    client = login_as(user)
    ok = socketio.test_client(app, flask_test_client=client, headers=ORIGIN)
    assert ok.is_connected()
    ok.disconnect()
    evil = socketio.test_client(app, flask_test_client=client, headers={"Origin": "https://evil.example"})
    assert not evil.is_connected()
    no_origin = socketio.test_client(app, flask_test_client=client)
    assert not no_origin.is_connected()


def test_suspension_disconnects_live_sockets(app, make, login_as):
    user = make.user("customer")
    admin = make.admin()
    client = login_as(user)
    sock = socketio.test_client(app, flask_test_client=client, headers=ORIGIN)
    assert sock.is_connected()
    with app.app_context():
        accounts.suspend(db.session.get(User, admin.id), db.session.get(User, user.id),
                         clock.utcnow() + timedelta(days=1), "Spam")
    assert not sock.is_connected()  # the live socket was dropped at once
    again = socketio.test_client(app, flask_test_client=client, headers=ORIGIN)
    assert not again.is_connected()
