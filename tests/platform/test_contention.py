"""Contention (issue 13): a slow request holds no write lock, page views need none, and read
markers still show as read on the next page.

On SQLite a transaction takes the write lock only at its first write (app/setup.py), so work
before it and rendering after the commit hold none; page views queue their read markers
(app.services.content.reads) instead of writing them. Requests wait only KRING_DB_LOCK_WAIT_MS for the
lock here, so a request that wrongly needed it would answer 503 at once instead of passing.
Threads meet on events, never on sleeps.
"""
from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta

import pytest
from flask import request
from sqlalchemy import func, select, text, update

from app import clock
from app.extensions import db
from app.models import Comment, Post, PostRead, User
from app.services.content import posts, reads
from tests.conftest import csrf_token, login

WAIT = 30  # seconds an event may take on a loaded machine before the test gives up


@pytest.fixture
def sqlite_app(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    app.config["KRING_DB_LOCK_WAIT_MS"] = 100  # a request that needs the lock gives up at once
    with app.app_context():
        db.engine.dispose()  # new connections take the short wait
    return app


@pytest.fixture
def place(sqlite_app, make):
    community = make.community("open")
    author, reader = make.user("employee", name="Author"), make.user("employee", name="Reader")
    for person in (author, reader):
        make.member(community, person)
    with sqlite_app.app_context():
        post_id = posts.create(db.session.get(User, author.id), community.slug, "question",
                               "A question to read", "Body").id
        db_path = db.engine.url.database
    return community, author, reader, post_id, db_path


def _client(app, person, path):
    client = app.test_client()
    login(client, person)
    return client, csrf_token(client, path)


class _LockHolder:
    """Another connection holding SQLite's write lock until released."""

    def __init__(self, path: str):
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self):
        self.conn.execute("ROLLBACK")
        self.conn.close()


def test_a_slow_render_holds_no_lock_and_another_persons_post_succeeds(sqlite_app, place):
    """Person A's request is stopped in the middle of rendering its page (a POST: the preview
    of a new post); meanwhile person B comments, and A's page then finishes too."""
    community, author, reader, post_id, _db = place
    entered, release = threading.Event(), threading.Event()
    stored = sqlite_app.jinja_env.filters["stored"]

    def slow_stored(value):
        if request.headers.get("X-Test-Slow"):
            entered.set()
            assert release.wait(WAIT), "the test never released the slow render"
        return stored(value)

    sqlite_app.jinja_env.filters["stored"] = slow_stored
    slow_client, slow_token = _client(sqlite_app, author, f"/c/{community.slug}/new")
    fast_client, fast_token = _client(sqlite_app, reader, f"/p/{post_id}")
    result = {}

    def slow_request():
        result["slow"] = slow_client.post(
            f"/c/{community.slug}/new", headers={"X-Test-Slow": "1"},
            data={"kind": "discussion", "title": "Previewed title", "body": "Previewed **body**",
                  "preview": "1", "csrf_token": slow_token})

    thread = threading.Thread(target=slow_request)
    thread.start()
    try:
        assert entered.wait(WAIT), "the slow request never reached its render"
        done = fast_client.post(f"/p/{post_id}/comments", data={"body": "Written meanwhile", "csrf_token": fast_token})
        assert done.status_code == 302, done.status_code
    finally:
        release.set()
        thread.join(WAIT)
    assert not thread.is_alive()
    assert result["slow"].status_code == 200
    assert "<strong>body</strong>" in result["slow"].get_data(as_text=True)
    with sqlite_app.app_context():
        assert db.session.scalar(select(Comment.body).where(Comment.post_id == post_id)) == "Written meanwhile"


def test_a_post_page_needs_no_lock_and_shows_as_read_on_the_next_page(sqlite_app, place):
    """Someone else holds the write lock: the post page still answers 200 (it writes nothing),
    the community page right after shows the post as read, and the marker and the view reach
    the table once the lock is free (a flush that finds it busy keeps them)."""
    community, _author, reader, post_id, db_path = place
    client, _token = _client(sqlite_app, reader, f"/c/{community.slug}")
    client.get(f"/p/{post_id}")  # seen once; then something happens on the post
    reads.flush(sqlite_app)
    with sqlite_app.app_context():
        post = db.session.get(Post, post_id)
        post.last_activity_at = clock.utcnow() + timedelta(seconds=5)
        db.session.commit()
    assert "is-unread" in client.get(f"/c/{community.slug}").get_data(as_text=True)
    holder = _LockHolder(db_path)
    try:
        clock.set_now(clock.utcnow() + timedelta(seconds=10))
        try:
            assert client.get(f"/p/{post_id}").status_code == 200
        finally:
            clock.reset()
        page = client.get(f"/c/{community.slug}")
        assert page.status_code == 200
        assert "is-unread" not in page.get_data(as_text=True)  # read, though not written yet
        assert reads.flush(sqlite_app) == 0  # busy: kept for later, not lost
    finally:
        holder.release()
    reads.flush(sqlite_app)
    with sqlite_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PostRead)
                                 .where(PostRead.post_id == post_id, PostRead.user_id == reader.id)) == 1
        assert db.session.scalar(select(PostRead.read_at).where(PostRead.post_id == post_id)) > \
            db.session.get(Post, post_id).last_activity_at
        assert db.session.get(Post, post_id).view_count == 1  # the second view counted none
    with sqlite_app.app_context():
        assert "is-unread" not in client.get(f"/c/{community.slug}").get_data(as_text=True)


def test_queued_markers_are_written_in_the_background(sqlite_app, place, monkeypatch):
    """Without anyone flushing, the timer writes the queue (in one transaction for all views)."""
    _community, author, reader, post_id, _db = place
    written = threading.Event()
    batches = []
    real_write = reads._write

    def write(batch):
        real_write(batch)
        batches.append(dict(batch))
        written.set()

    monkeypatch.setattr(reads, "_write", write)
    for person in (author, reader):
        client, _token = _client(sqlite_app, person, f"/p/{post_id}")
        assert client.get(f"/p/{post_id}").status_code == 200
    assert written.wait(WAIT), "the queued read markers were never written"
    with sqlite_app.app_context():
        readers = set(db.session.scalars(select(PostRead.user_id).where(PostRead.post_id == post_id)))
    assert {author.id, reader.id} <= readers | {u for b in batches for u, _p in b}
    reads.flush(sqlite_app)
    with sqlite_app.app_context():
        assert set(db.session.scalars(select(PostRead.user_id).where(PostRead.post_id == post_id))) \
            == {author.id, reader.id}


def test_a_page_served_while_the_markers_are_written_shows_the_post_as_read(sqlite_app, place, monkeypatch):
    """The flush has taken the queue but not committed yet: a page rendered in that moment
    still shows the post as read (the batch being written counts as queued), and the person's
    newer marker set meanwhile (their own comment) is written after it, not lost."""
    community, _author, reader, post_id, _db = place
    client, _token = _client(sqlite_app, reader, f"/c/{community.slug}")
    with sqlite_app.app_context():
        post = db.session.get(Post, post_id)
        post.last_activity_at = clock.utcnow() - timedelta(seconds=5)
        db.session.commit()
    assert client.get(f"/p/{post_id}").status_code == 200
    started, release = threading.Event(), threading.Event()
    real_write = reads._write

    def slow_write(batch):
        started.set()
        assert release.wait(WAIT)
        real_write(batch)

    monkeypatch.setattr(reads, "_write", slow_write)
    flusher = threading.Thread(target=reads.flush, args=(sqlite_app,))
    flusher.start()
    try:
        assert started.wait(WAIT), "the flush never started"
        assert "is-unread" not in client.get(f"/c/{community.slug}").get_data(as_text=True)
        later = clock.utcnow() + timedelta(minutes=1)
        with sqlite_app.app_context():
            reads.advance(reader.id, post_id, later)  # what the reader's own comment does
    finally:
        release.set()
        flusher.join(WAIT)
    assert not flusher.is_alive()
    monkeypatch.setattr(reads, "_write", real_write)
    reads.flush(sqlite_app)
    with sqlite_app.app_context():
        assert db.session.scalar(select(PostRead.read_at).where(PostRead.post_id == post_id,
                                                                PostRead.user_id == reader.id)) == later


def test_markers_of_deleted_posts_are_dropped_not_fatal(sqlite_app, place):
    _community, _author, reader, post_id, _db = place
    with sqlite_app.app_context():
        posts.mark_read(db.session.get(User, reader.id), post_id)
        posts.mark_read(db.session.get(User, reader.id), 10**9)  # no such post (any more)
    assert reads.flush(sqlite_app) == 2
    with sqlite_app.app_context():
        assert list(db.session.scalars(select(PostRead.post_id).where(PostRead.user_id == reader.id))) == [post_id]


def test_a_transaction_that_read_before_another_commit_can_still_write(sqlite_app, place):
    """A deferred SQLite transaction that read, then sees another connection commit, then
    writes would fail at once (SQLITE_BUSY_SNAPSHOT). Here the first write ends the read part
    and waits for the lock instead, so it succeeds."""
    _community, _author, _reader, post_id, db_path = place
    with sqlite_app.app_context():
        assert db.session.get(Post, post_id).title == "A question to read"  # read: a snapshot begins
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("UPDATE posts SET body = 'Changed elsewhere' WHERE id = ?", (post_id,))
        other.close()
        db.session.execute(update(Post).where(Post.id == post_id).values(view_count=Post.view_count + 5)
                           .execution_options(synchronize_session=False))
        db.session.commit()
        assert db.session.scalar(select(Post.view_count).where(Post.id == post_id)) == 5
        assert db.session.scalar(select(Post.body).where(Post.id == post_id)) == "Changed elsewhere"


def test_reading_holds_no_lock_and_the_first_write_takes_it(sqlite_app, place):
    """While a transaction only reads, another connection may take the write lock; after the
    transaction's first write, nobody can until it commits."""
    _community, _author, _reader, post_id, db_path = place

    def lock_free() -> bool:
        probe = sqlite3.connect(db_path, isolation_level=None, timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            probe.close()

    with sqlite_app.app_context():
        db.session.execute(text("SELECT count(*) FROM posts")).scalar()
        db.session.get(Post, post_id)
        assert lock_free()
        db.session.execute(update(Post).where(Post.id == post_id).values(view_count=7)
                           .execution_options(synchronize_session=False))
        assert not lock_free()
        db.session.commit()
        assert lock_free()
        with db.session.begin_nested():  # a savepoint means to write: the lock is taken before it
            db.session.execute(text("SELECT 1")).scalar()
            assert not lock_free()
        db.session.commit()
        assert lock_free()
