"""Scale-out settings: with REDIS_URL, rate-limit counters live in Redis (shared by every
process), and PostgreSQL works through DATABASE_URL (the whole suite's second pass)."""
from __future__ import annotations

import uuid

import pytest

from app import create_app
from config import TestConfig
from tests.conftest import REDIS_URL, csrf_token

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="needs Redis (set TEST_REDIS_URL)")


def test_rate_limit_counters_live_in_redis(tmp_path):
    import redis

    prefix = f"kring-test-{uuid.uuid4().hex[:8]}"
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'r.db'}", INSTANCE_DIR=tmp_path,
                     RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX=prefix,
                     RATELIMIT_SIGNIN="2/minute")
    from app.extensions import db

    with app.app_context():
        db.create_all()
    client = app.test_client()
    token = csrf_token(client, "/signin")
    form = {"csrf_token": token, "email": "nobody@acme.example", "password": "wrong-password-1"}
    assert client.post("/signin", data=form).status_code == 400
    assert client.post("/signin", data=form).status_code == 400
    blocked = client.post("/signin", data=form)
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    server = redis.Redis.from_url(REDIS_URL)
    keys = server.keys(f"*{prefix}*")
    assert keys, "the limiter did not write its counters to Redis"
    server.delete(*keys)  # another process sees the same store: clearing it lifts the block
    assert client.post("/signin", data=form).status_code == 400
    for key in server.keys(f"*{prefix}*"):
        server.delete(key)


def test_socketio_emits_travel_through_the_redis_message_queue(tmp_path):
    """With REDIS_URL, an emit from server code (a CLI command, a job) is published on Redis,
    where every server process's Socket.IO manager picks it up."""
    import json
    import time

    import redis

    from app.extensions import socketio

    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'r.db'}", INSTANCE_DIR=tmp_path,
                     REDIS_URL=REDIS_URL)
    server = redis.Redis.from_url(REDIS_URL)
    pubsub = server.pubsub()
    pubsub.subscribe("flask-socketio")
    pubsub.get_message(timeout=1)  # the subscribe confirmation
    try:
        with app.app_context():
            socketio.emit("session.ended", {"user_id": 42}, to="user:42")
        deadline = time.time() + 5
        message = None
        while time.time() < deadline and message is None:
            message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        assert message is not None, "nothing was published on Redis"
        data = json.loads(message["data"])
        assert data["event"] == "session.ended" and data["room"] == "user:42" and data["data"] == [{"user_id": 42}]
    finally:
        pubsub.close()
        # leave the extension on an in-process server for the tests that follow
        create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'r2.db'}", INSTANCE_DIR=tmp_path)
