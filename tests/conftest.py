"""Fixtures that build on each other: app -> db -> client -> factories -> signed-in clients.

The database is fresh for every test: a new SQLite file by default, or, with
TEST_DATABASE_URL set (CI's second pass), the PostgreSQL schema created once and emptied
after each test. No app context stays pushed during a test (a pushed one would be shared by
the test client's requests, and with it Flask-Login's cached user); use the `ctx` fixture
for service-level tests, or `with app.app_context():`.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
from sqlalchemy import select, text

from app import clock, create_app
from app.extensions import db
from app.models import Community, Membership, Topic, User
from app.services import chat
from app.services.community import communities
from app.services.content import comments, ideas, posts
from app.services.experts import experts
from app.services.people import people
from config import TestConfig

PASSWORD = "correct horse battery"
PG_URL = os.environ.get("TEST_DATABASE_URL")
REDIS_URL = os.environ.get("TEST_REDIS_URL")


def _pg_url() -> str | None:
    if not PG_URL:
        return None
    if PG_URL.startswith("postgresql://"):
        return "postgresql+psycopg://" + PG_URL[len("postgresql://"):]
    return PG_URL


@pytest.fixture(scope="session")
def _pg_schema():
    """Create the PostgreSQL schema once per run (only when TEST_DATABASE_URL is set)."""
    url = _pg_url()
    if not url:
        yield None
        return
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.create_all()
    yield url


def _empty_pg() -> None:
    """Empty every table. The app's own background work is stopped first (the worker thread by
    its test, the live upkeep loop by the `app` fixture); a request thread of the browser tests'
    server cannot be joined and may still be finishing a request, and PostgreSQL can then pick
    the TRUNCATE as a deadlock's victim: the tables are emptied again, up to three times."""
    from sqlalchemy.exc import OperationalError

    names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    for attempt in range(3):
        try:
            db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            db.session.commit()
            return
        except OperationalError as exc:
            db.session.rollback()
            if "deadlock detected" not in str(exc) or attempt == 2:
                raise


@pytest.fixture
def app(tmp_path, _pg_schema):
    """A Kring app on a fresh database, with its instance folder in tmp_path."""
    from app.services.platform import mail

    url = _pg_schema or f"sqlite:///{tmp_path / 'kring.db'}"
    application = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=url,
        INSTANCE_DIR=tmp_path,
        UPLOAD_DIR=tmp_path / "uploads",
        MAIL_OUTBOX_DIR=tmp_path / "outbox",
        SERVER_NAME=None,
    )
    with application.app_context():
        if _pg_schema:
            _empty_pg()
        else:
            db.create_all()
    mail.outbox().clear()
    clock.reset()
    yield application
    live = application.extensions.get("kring_live")
    if live is not None:
        assert live.stop(), "the live upkeep loop did not stop"
    from app.services.content import reads

    reads.flush(application)  # queued read markers, before the database goes
    with application.app_context():
        db.session.remove()
        if _pg_schema:
            _empty_pg()
        db.engine.dispose()
    clock.reset()


@pytest.fixture
def ctx(app):
    """An app context for service-level tests (do not combine with the test client)."""
    with app.app_context():
        yield app
        db.session.rollback()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@contextmanager
def _context(app):
    """Reuse a pushed app context, or push one for the duration."""
    from flask import has_app_context

    if has_app_context():
        yield
    else:
        with app.app_context():
            yield


class Factory:
    """Builds people, communities, topics, posts, ideas, comments, votes, chat messages, experts
    and profiles through the services (not raw inserts).

    Objects are returned loaded; outside a pushed context they are detached copies, fine for
    reading ids and columns in view tests."""

    def __init__(self, app):
        self.app = app
        self._n = 0

    def _done(self, obj):

        db.session.refresh(obj)
        if not getattr(self, "_keep", False) and not _pushed_by_test(self.app):
            db.session.expunge(obj)
        return obj

    def user(self, kind: str = "employee", *, email: str | None = None, name: str | None = None,
             verified: bool = True, is_admin: bool = False, is_global_manager: bool = False,
             department=None, **extra):
        from app.services.people import accounts

        self._n += 1
        domain = {"employee": "acme.example", "customer": "customer.example",
                  "partner": "partner.example"}[kind]
        email = email or f"{kind}{self._n}@{domain}"
        name = name or f"{kind.title()} {self._n}"
        with _context(self.app):
            user = accounts.create_user(email, PASSWORD, name, kind, verified=verified,
                                        is_admin=is_admin, is_global_manager=is_global_manager,
                                        department=department, **extra)
            return self._done(user)

    def admin(self, **kw):
        return self.user("employee", is_admin=True, **kw)

    def community(self, visibility: str = "open", *, manager=None, name: str | None = None,
                  slug: str = "", topics: tuple[str, ...] = ()):
        """A community whose only manager is `manager` (default: a new social-team employee).

        A plain employee can be named manager: the factory's admin creates the community,
        appoints them and steps out again."""
        from app.models import User
        from app.services.community import communities

        self._n += 1
        with _context(self.app):
            if manager is None:
                manager = self.user("employee", is_global_manager=True)
            actor = db.session.get(User, manager.id)
            creator = actor if actor.is_staff else db.session.get(User, self.admin_id())
            community = communities.create(creator, name or f"Community {self._n}",
                                           "About this community.", visibility, slug)
            if creator.id != actor.id:
                communities.add_member(creator, community.slug, actor, "manager")
                communities.remove_member(creator, community.slug, creator.id)
            for topic in topics:
                communities.create_topic(actor, community.slug, topic)
            return self._done(community)

    def member(self, community, user, role: str = "member"):
        """Make `user` a member of `community` with `role` (added by a staff account)."""
        from app.models import Community, User
        from app.services.community import communities

        with _context(self.app):
            staff = db.session.get(User, self.admin_id())
            person = db.session.get(User, user.id)
            c = db.session.get(Community, community.id)
            return self._done(communities.add_member(staff, c.slug, person, role))

    def topic(self, community, name: str, description: str = "", *, actor=None):
        """Return a new topic of `community`, created by `actor` (default: the factory's admin).

        Raises what communities.create_topic raises (ValidationError for a bad or taken name)."""
        with _context(self.app):
            c = db.session.get(Community, community.id)
            by = db.session.get(User, actor.id if actor is not None else self.admin_id())
            return self._done(communities.create_topic(by, c.slug, name, description))

    def post(self, author, community, title: str = "A post to talk about", body: str = "",
             kind: str = "discussion", topics=None, **extra):
        """Return a new post by `author` in `community`, made with posts.create.

        `topics` are topic ids; None files it under the community's first topic (none when
        the community has no topic). `extra` goes to posts.create (files, pending,
        confirm_sensitive). Raises what posts.create raises."""
        with _context(self.app):
            person = db.session.get(User, author.id)
            c = db.session.get(Community, community.id)
            if topics is None:
                first = db.session.scalar(select(Topic.id).where(Topic.community_id == c.id).order_by(Topic.id))
                topics = [first] if first is not None else []
            return self._done(posts.create(person, c.slug, kind, title, body, list(topics), **extra))

    def idea(self, author, community, title: str = "Bigger tents please", body: str = "We need **room**.",
             kind: str = "idea", topics=None, **extra):
        """Return a new idea (or another `kind`) by `author`.

        Same as `post` otherwise; raises what posts.create raises."""
        return self.post(author, community, title, body, kind, topics, **extra)

    def comment(self, author, post, body: str = "A comment.", parent=None, **extra):
        """Return a new comment by `author` on `post` (a reply to `parent`, a Comment, if
        given), made with comments.add. Raises what comments.add raises."""
        with _context(self.app):
            person = db.session.get(User, author.id)
            parent_id = parent.id if parent is not None else None
            return self._done(comments.add(person, post.id, body, parent_id, **extra))

    def vote(self, user, post) -> tuple[bool, int]:
        """Toggle `user`'s vote on the idea `post`; return (voted, vote count) as
        ideas.toggle_vote does. Raises what it raises (ValidationError for a non-idea)."""
        with _context(self.app):
            return ideas.toggle_vote(db.session.get(User, user.id), post.id)

    def chat_message(self, author, community, body: str = "Hello everyone", parent=None, client_key=None):
        """Return a new chat message by `author` in `community`'s channel (a thread reply to
        `parent`, a ChatMessage, if given), made with chat.post. Raises what chat.post raises."""
        with _context(self.app):
            person = db.session.get(User, author.id)
            parent_id = parent.id if parent is not None else None
            message, _created = chat.post(person, community.id, body, parent_id=parent_id, client_key=client_key)
            return self._done(message)

    def expert(self, community, topic, person, note: str = "", *, actor=None):
        """Return the assignment making `person` an expert of `topic` (a Topic or its name),
        made with experts.assign by `actor` (default: the community's first manager).
        Raises what experts.assign raises."""
        with _context(self.app):
            c = db.session.get(Community, community.id)
            if isinstance(topic, str):
                t = db.session.scalar(select(Topic).where(Topic.community_id == c.id, Topic.name == topic))
            else:
                t = db.session.get(Topic, topic.id)
            if actor is None:
                by = db.session.scalar(select(User).join(Membership, Membership.user_id == User.id)
                                       .where(Membership.community_id == c.id, Membership.role == "manager")
                                       .order_by(Membership.id))
            else:
                by = db.session.get(User, actor.id)
            return self._done(experts.assign(by, c.slug, t.slug, db.session.get(User, person.id), note))

    def profile(self, user, **fields):
        """Return `user` with the given profile fields changed through people.update_profile
        (display_name, job_title, bio, ...). Raises what it raises (ValidationError)."""
        with _context(self.app):
            return self._done(people.update_profile(db.session.get(User, user.id), **fields))

    def admin_id(self) -> int:
        if not hasattr(self, "_admin_id"):
            self._admin_id = self.admin(email="factory-admin@acme.example", name="Factory Admin").id
        return self._admin_id


def _pushed_by_test(app) -> bool:
    """True when the test itself holds an app context (the ctx fixture)."""
    return app.extensions.get("_test_ctx_pushed", False)


@pytest.fixture
def make(app):
    return Factory(app)


@pytest.fixture(autouse=True)
def _mark_ctx(request, app):
    app.extensions["_test_ctx_pushed"] = "ctx" in request.fixturenames
    yield


def login(client, user) -> None:
    """Sign `user` in on `client` (sets the Flask-Login session directly)."""
    with client.session_transaction() as sess:
        sess["_user_id"] = f"{user.id}:{user.session_version}"
        sess["_fresh"] = True


@pytest.fixture
def login_as(client):
    """login_as(user) -> the client, signed in as that user."""

    def _login(user):
        login(client, user)
        return client

    return _login


def csrf_token(client, path: str = "/") -> str:
    """Fetch a page and return the CSRF token from its first form."""
    import re

    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def post(client, url: str, data: dict | None = None, **kw):
    """POST a form with a valid CSRF token (taken from a page of the same session)."""
    data = dict(data or {})
    if "csrf_token" not in data:
        with client.session_transaction() as sess:
            signed_in = "_user_id" in sess
        data["csrf_token"] = csrf_token(client, "/" if signed_in else "/signin")
    return client.post(url, data=data, **kw)


@pytest.fixture
def count_queries(app):
    """`with count_queries() as q: ...` then `q.count`: SQL statements run inside the block, by
    this thread (the test client's requests run in it; background writers such as the read
    marker flush are not the page's queries)."""
    import threading

    from sqlalchemy import event

    class Counter:
        count = 0

    @contextmanager
    def counting():
        counter = Counter()
        with app.app_context():
            engine = db.engine

        me = threading.get_ident()

        def on_execute(*_args):
            if threading.get_ident() == me:
                counter.count += 1

        event.listen(engine, "before_cursor_execute", on_execute)
        try:
            yield counter
        finally:
            event.remove(engine, "before_cursor_execute", on_execute)

    return counting


def socket_received(sock) -> list[dict]:
    """What a Socket.IO test client got ({name, args}), with each `live.batch` opened into
    its events, in order: what a real client handles (app/static/js/live.js does the same)."""
    out = []
    for e in sock.get_received():
        if e["name"] == "live.batch":
            out += [{"name": name, "args": [data], "namespace": e.get("namespace")}
                    for name, data in e["args"][0]["events"]]
        else:
            out.append(e)
    return out


ORIGIN = {"Origin": "http://127.0.0.1:5000"}  # the origin the test app allows for sockets


@pytest.fixture
def connect(app):
    """connect(user, rooms=None) -> a socket test client signed in as `user`."""
    made = []

    def _connect(user, rooms=None, client=None):
        client = client or app.test_client()
        login(client, user)
        from app.extensions import socketio

        sock = socketio.test_client(app, flask_test_client=client, headers=ORIGIN,
                                    auth={"rooms": rooms} if rooms is not None else None)
        made.append(sock)
        return sock

    yield _connect
    for sock in made:
        if sock.is_connected():
            sock.disconnect()
