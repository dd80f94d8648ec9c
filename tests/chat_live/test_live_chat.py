"""The live discussion service: who may write, idempotent sends, threads, edits and deletions,
history pages, replay of what a client missed, mentions, promotion to a post, and the live
events all of it publishes after the commit."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from app import clock, events
from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import ChatMessage, Notification, Post
from app.services import chat, notifications
from app.services.community import communities
from app.services.content import comments, posts
from app.services.platform import jobs
from tests.helpers import fresh


@pytest.fixture
def sent(monkeypatch):
    """Live events emitted after commits, as (name, room, payload)."""
    out = []
    monkeypatch.setattr(events, "_emit", lambda name, payload, room: out.append((name, room, payload)))
    return out


def test_a_message_is_stored_sanitised_and_broadcast_after_the_commit(ctx, make, sent):
    alice = make.user("employee")
    c = make.community("open")
    message, created = chat.post(fresh(alice), c.id, "Hi **all** <script>alert(1)</script>", client_key="key-00000001")
    assert created and message.id
    assert "<strong>all</strong>" in message.body_html and "<script" not in message.body_html
    assert [(n, r) for n, r, _ in sent] == [("chat.message", f"community:{c.id}")]
    payload = sent[0][2]
    assert payload["id"] == message.id and payload["author"]["name"] == alice.display_name
    assert payload["body_html"] == message.body_html and payload["key"] == "key-00000001"


def test_a_retry_with_the_same_key_returns_the_stored_message(ctx, make, sent):
    alice, bob = make.user("employee"), make.user("employee")
    c, other = make.community("open"), make.community("open")
    first, created = chat.post(fresh(alice), c.id, "once", client_key="same-key-123")
    again, created_again = chat.post(fresh(alice), c.id, "once (retry)", client_key="same-key-123")
    assert created and not created_again and again.id == first.id and again.body == "once"
    assert db.session.query(ChatMessage).count() == 1 and len(sent) == 1
    # the key is per author: Bob may use the same one
    assert chat.post(fresh(bob), c.id, "mine", client_key="same-key-123")[1]
    with pytest.raises(ValidationError) as exc:
        chat.post(fresh(alice), other.id, "elsewhere", client_key="same-key-123")
    assert "key" in exc.value.errors
    with pytest.raises(ValidationError):
        chat.post(fresh(alice), c.id, "bad key", client_key="short")


@pytest.mark.parametrize("body, field_text", [
    ("", "Write something"), ("   \n ", "Write something"), ("x" * 4001, "at most 4,000"),
    ("nul\x00", "cannot be stored"), (None, "Write a message"), (42, "Write a message"),
])
def test_bad_bodies_are_refused_with_a_clear_message(ctx, make, body, field_text):
    c = make.community("open")
    with pytest.raises(ValidationError) as exc:
        chat.post(fresh(make.user("employee")), c.id, body)
    assert field_text in exc.value.errors["body"]


def test_only_readers_of_the_community_may_write(ctx, make):
    customer, outsider = make.user("customer"), make.user("employee")
    internal, private = make.community("internal"), make.community("private")
    with pytest.raises(NotFound):
        chat.post(fresh(customer), internal.id, "hello")
    with pytest.raises(NotFound):
        chat.post(fresh(outsider), private.id, "hello")
    make.member(private, outsider)
    assert chat.post(fresh(outsider), private.id, "hello")[1]
    with pytest.raises(NotFound):
        chat.history(fresh(customer), internal.slug)


def test_replies_form_one_thread_and_keep_the_count(ctx, make, sent):
    alice, bob = make.user("employee"), make.user("employee")
    c, other = make.community("open"), make.community("open")
    root, _ = chat.post(fresh(alice), c.id, "root")
    reply, _ = chat.post(fresh(bob), c.id, "reply", parent_id=root.id)
    nested, _ = chat.post(fresh(alice), c.id, "reply to the reply", parent_id=reply.id)
    assert nested.parent_id == root.id
    db.session.refresh(root)
    assert root.reply_count == 2 and root.last_reply_at is not None
    updates = [p for n, _, p in sent if n == "chat.updated" and p["id"] == root.id]
    assert [u["reply_count"] for u in updates] == [1, 2]
    found = chat.thread(fresh(bob), nested.id)
    assert found.root.id == root.id and [m.id for m in found.replies] == [reply.id, nested.id]
    chat.delete(fresh(bob), reply.id)
    db.session.refresh(root)
    assert root.reply_count == 1
    with pytest.raises(ValidationError):
        chat.post(fresh(alice), other.id, "wrong channel", parent_id=root.id)
    chat.delete(fresh(alice), root.id)
    with pytest.raises(ValidationError) as exc:
        chat.post(fresh(bob), c.id, "too late", parent_id=root.id)
    assert "deleted" in exc.value.errors["parent_id"]


def test_authors_edit_their_own_messages_and_moderators_delete_any(ctx, make, sent):
    manager, alice, bob = make.user("employee"), make.user("employee"), make.user("employee")
    c = make.community("open", manager=manager)
    message, _ = chat.post(fresh(alice), c.id, "first draft")
    with pytest.raises(Forbidden):
        chat.edit(fresh(bob), message.id, "hijacked")
    with pytest.raises(Forbidden):
        chat.edit(fresh(manager), message.id, "moderators do not rewrite people")
    edited = chat.edit(fresh(alice), message.id, "second *draft*")
    assert edited.edited_at and "<em>draft</em>" in edited.body_html
    assert sent[-1][0] == "chat.updated" and sent[-1][2]["edited_at"]
    with pytest.raises(Forbidden):
        chat.delete(fresh(bob), message.id)
    deleted = chat.delete(fresh(manager), message.id)
    assert deleted.deleted_by_id == manager.id and deleted.body == "second *draft*"  # kept for the record
    assert sent[-1][2]["deleted"] is True and sent[-1][2]["body_html"] == ""
    with pytest.raises(ValidationError):
        chat.edit(fresh(alice), message.id, "after deletion")
    with pytest.raises(ValidationError):
        chat.delete(fresh(alice), message.id)


def test_history_pages_go_back_and_forth(ctx, make):
    alice = make.user("employee")
    c = make.community("open")
    ids = [chat.post(fresh(alice), c.id, f"message {i}")[0].id for i in range(120)]
    chat.post(fresh(alice), c.id, "a reply is not a page row", parent_id=ids[-1])
    latest = chat.history(fresh(alice), c.slug)
    assert [m.id for m in latest.messages] == ids[-50:] and latest.newer is None
    older = chat.history(fresh(alice), c.slug, before=latest.older)
    assert [m.id for m in older.messages] == ids[20:70] and older.newer == ids[69]
    oldest = chat.history(fresh(alice), c.slug, before=older.older)
    assert [m.id for m in oldest.messages] == ids[:20] and oldest.older is None
    forward = chat.history(fresh(alice), c.slug, after=older.newer)
    assert [m.id for m in forward.messages] == ids[70:120]
    assert chat.history(fresh(alice), c.slug, before="garbage").messages == latest.messages


def test_the_history_query_uses_its_index(ctx, make):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    c = make.community("open")
    plan = db.session.execute(text(
        "EXPLAIN QUERY PLAN SELECT id FROM chat_messages WHERE community_id = :c AND parent_id IS NULL "
        "AND id < :b ORDER BY id DESC LIMIT 51"), {"c": c.id, "b": 10}).all()
    assert "ix_chat_messages_community_parent_id" in " ".join(str(row) for row in plan)


def test_replay_gives_exactly_what_was_missed(ctx, make):
    alice, bob = make.user("employee"), make.user("employee")
    c, other = make.community("open"), make.community("open")
    ids = [chat.post(fresh(alice), c.id, f"m{i}")[0].id for i in range(6)]
    chat.post(fresh(alice), other.id, "another channel")
    got = chat.replay(fresh(bob), f"community:{c.id}", ids[2])
    assert [p["id"] for n, p in got.events if n == "chat.message"] == ids[3:]
    # ids that arrived out of order: the client has 3 and 5 (and all before 3), so 4 is missing
    got = chat.replay(fresh(bob), f"community:{c.id}", ids[5], have=[ids[3], ids[5]])
    assert [p["id"] for n, p in got.events if n == "chat.message"] == [ids[4]]
    # an edit made while the client was away is replayed as an update
    clock.set_now(datetime.utcnow() + timedelta(minutes=5))
    chat.edit(fresh(alice), ids[1], "m1 edited")
    got = chat.replay(fresh(bob), f"community:{c.id}", ids[5])
    assert [(n, p["id"]) for n, p in got.events] == [("chat.updated", ids[1])]
    with pytest.raises(NotFound):
        chat.replay(fresh(make.user("customer")), f"community:{make.community('internal').id}", 0)
    with pytest.raises(NotFound):
        chat.replay(fresh(bob), "lobby:1", 0)


def test_replay_of_a_post_room_gives_the_new_comments(ctx, make):
    alice, bob = make.user("employee"), make.user("employee")
    c = make.community("open")
    post = posts.create(fresh(alice), c.slug, "discussion", "A post title", "body")
    first = comments.add(fresh(bob), post.id, "one")
    second = comments.add(fresh(bob), post.id, "two")
    got = chat.replay(fresh(alice), f"post:{post.id}", first.id)
    assert [(n, p["comment_id"]) for n, p in got.events] == [("comment.added", second.id)]


def test_replay_is_capped(ctx, make, monkeypatch):
    monkeypatch.setattr(chat, "REPLAY_MAX", 3)
    alice = make.user("employee")
    c = make.community("open")
    for i in range(5):
        chat.post(fresh(alice), c.id, f"m{i}")
    got = chat.replay(fresh(alice), f"community:{c.id}", 0)
    assert got.truncated and len(got.events) == 3


def test_mentions_notify_readers_once_per_message(ctx, make, sent):
    alice, bob = make.user("employee"), make.user("employee")
    customer = make.user("customer")
    c = make.community("internal")
    message, _ = chat.post(fresh(alice), c.id, f"@{bob.handle} and @{customer.handle}, look")
    jobs.drain()
    notes = db.session.query(Notification).filter_by(kind="chat_mention").all()
    assert [n.user_id for n in notes] == [bob.id]  # the customer may not read an internal community
    assert notes[0].community_id == c.id and "live discussion" in notes[0].text
    live = [p for n, r, p in sent if n == "notification.created" and r == f"user:{bob.id}"]
    assert live and live[0]["unread"] == 1 and live[0]["notification"]["kind"] == "chat_mention"
    chat.edit(fresh(alice), message.id, f"@{bob.handle} (edited) look")
    jobs.drain()
    assert db.session.query(Notification).filter_by(kind="chat_mention").count() == 1
    assert chat.mention_target(fresh(bob), notes[0].id).id == message.id
    with pytest.raises(NotFound):
        chat.mention_target(fresh(alice), notes[0].id)


def test_a_chat_mention_disappears_when_the_community_can_no_longer_be_read(ctx, make):
    manager, alice, bob = make.user("employee"), make.user("employee"), make.user("employee")
    c = make.community("private", manager=manager)
    make.member(c, alice)
    make.member(c, bob)
    chat.post(fresh(alice), c.id, f"hey @{bob.handle}")
    jobs.drain()
    assert notifications.unread_count(fresh(bob)) == 1
    communities.remove_member(fresh(manager), c.slug, bob.id)
    assert notifications.unread_count(fresh(bob)) == 0
    assert notifications.page(fresh(bob)).items == []


def test_reading_notifications_tells_the_other_tabs(ctx, make, sent):
    alice, bob = make.user("employee"), make.user("employee")
    c = make.community("open")
    chat.post(fresh(alice), c.id, f"hi @{bob.handle}")
    jobs.drain()
    notifications.mark_read(fresh(bob))
    assert [p for n, r, p in sent if n == "notification.read" and r == f"user:{bob.id}"] == [{"unread": 0}]


def test_a_message_becomes_a_post_for_its_author_or_a_moderator(ctx, make, sent):
    manager, alice, bob = make.user("employee"), make.user("employee"), make.user("employee")
    c = make.community("open", manager=manager, topics=("Ideas",))
    message, _ = chat.post(fresh(alice), c.id, "We could add a *repair kit* to every tent")
    with pytest.raises(Forbidden):
        chat.promote(fresh(bob), message.id, "idea", "Repair kit in every tent", "body", [])
    title, body = chat.promote_defaults(message, c)
    assert title.startswith("We could add a repair kit") and f"@{alice.handle}" in body
    topic = c.topics[0] if c.topics else db.session.get(type(c), c.id).topics[0]
    with pytest.raises(ValidationError):
        chat.promote(fresh(alice), message.id, "idea", title, body, [])  # the community files posts under topics
    db.session.rollback()
    post = chat.promote(fresh(manager), message.id, "idea", "Repair kit in every tent", body, [topic.id])
    assert post.kind.value == "idea" and post.author_id == manager.id and post.community_id == c.id
    assert db.session.get(ChatMessage, message.id).promoted_post_id == post.id
    assert ("chat.updated", f"community:{c.id}") in [(n, r) for n, r, _ in sent]
    assert ("post.created", f"community:{c.id}") in [(n, r) for n, r, _ in sent]
    with pytest.raises(ValidationError):
        chat.promote(fresh(alice), message.id, "discussion", "Again, please", body, [topic.id])
    with pytest.raises(ValidationError):
        chat.promote(fresh(alice), chat.post(fresh(alice), c.id, "x")[0].id, "poll", "A poll kind", "b", [topic.id])
    assert db.session.query(Post).count() == 1


def test_posts_comments_and_ideas_publish_their_live_events(ctx, make, sent):
    manager, alice, bob = make.user("employee"), make.user("employee"), make.user("employee")
    c = make.community("open", manager=manager)
    from app.services.content import ideas

    idea = posts.create(fresh(alice), c.slug, "idea", "Solar chargers please", "body")
    comment = comments.add(fresh(bob), idea.id, "yes!")
    comments.edit(fresh(bob), comment.id, "yes, please!")
    comments.delete(fresh(bob), comment.id)
    ideas.toggle_vote(fresh(bob), idea.id)
    ideas.change_status(fresh(manager), idea.id, "planned", "We **plan** it for spring.")
    names = [(n, r) for n, r, _ in sent]
    post_room, community_room = f"post:{idea.id}", f"community:{c.id}"
    for expected in [("post.created", community_room), ("comment.added", post_room), ("comment.updated", post_room),
                     ("comment.removed", post_room), ("idea.voted", post_room), ("idea.voted", community_room),
                     ("idea.status_changed", post_room), ("idea.status_changed", community_room)]:
        assert expected in names, expected
    voted = next(p for n, r, p in sent if n == "idea.voted")
    assert voted["vote_count"] == 1 and voted["voter_id"] == bob.id and voted["voted"] is True
    status = next(p for n, r, p in sent if n == "idea.status_changed")
    assert status["status"] == "planned" and "<strong>plan</strong>" in status["response_html"]
    assert status["actor"]["id"] == manager.id
    created = next(p for n, r, p in sent if n == "post.created")
    assert created["title"] == "Solar chargers please" and created["url"] == f"/p/{idea.id}"


def test_nothing_is_broadcast_when_the_transaction_rolls_back(ctx, make, sent, monkeypatch):
    alice = make.user("employee")
    c = make.community("open")
    monkeypatch.setattr(chat, "_enqueue_mentions", lambda m: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        chat.post(fresh(alice), c.id, "never stored")
    db.session.rollback()
    assert sent == [] and db.session.query(ChatMessage).count() == 0
