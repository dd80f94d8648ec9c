"""Live events are emitted after the commit of what they describe, never after a rollback."""
from __future__ import annotations

from app import events
from app.extensions import db


def test_events_wait_for_commit_and_die_with_rollback(ctx, monkeypatch):
    sent = []
    monkeypatch.setattr(events, "_emit", lambda name, payload, room: sent.append((name, room)))
    events.publish("post.created", {"post_id": 1}, "community:1")
    assert sent == []
    db.session.rollback()
    db.session.commit()
    assert sent == []
    events.publish("post.created", {"post_id": 2}, "community:1")
    db.session.commit()
    assert sent == [("post.created", "community:1")]
