"""The notification centre: the list and its keyset pages, opening one (a POST that marks it
read), marking all read, per-kind settings, the unread count in the header, notifications
hidden after losing access, and a constant number of queries for the list."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Community, Notification, Post, User
from app.services import notifications
from app.services.community import communities
from app.services.content import ideas, posts
from app.services.platform import jobs
from tests.conftest import post as post_form
from tests.helpers import fresh


def _notify(person, post, text="Something happened", actor=None, comment=None):
    made = notifications.create("status", [person.id], actor_id=actor.id if actor else None, post=post,
                                comment=comment, text=text)
    db.session.commit()
    return db.session.scalar(select(Notification).where(Notification.user_id == person.id)
                             .order_by(Notification.id.desc())) if made else None


@pytest.fixture
def world(ctx, make):
    manager = make.user("employee")
    open_c = make.community("open", manager=manager)
    secret = make.community("private", manager=manager)
    person = make.user("customer")
    make.member(secret, person)
    m = fresh(manager)
    return {"manager": m, "person": fresh(person),
            "open": posts.create(m, open_c.slug, "idea", "An open idea", "", []),
            "secret": posts.create(m, secret.slug, "idea", "A secret idea", "", []),
            "secret_slug": secret.slug}


def test_notifications_disappear_after_losing_access(world):
    person = world["person"]
    _notify(person, world["open"], "About the open idea")
    _notify(person, world["secret"], "About the secret idea")
    assert notifications.unread_count(person) == 2
    communities.remove_member(world["manager"], world["secret_slug"], person.id)
    assert notifications.unread_count(person) == 1
    assert [n.text for n in notifications.page(person).items] == ["About the open idea"]


def test_no_notification_about_a_post_one_cannot_read(world, make):
    outsider = fresh(make.user("employee"))
    assert _notify(outsider, world["secret"]) is None
    assert _notify(outsider, world["open"]) is not None


def test_turning_a_kind_off_stops_it(world):
    person = world["person"]
    prefs = notifications.preferences(person)
    assert prefs["status"] == {"in_app": True, "email": False}
    prefs["status"]["in_app"] = False
    notifications.set_preferences(person, prefs)
    assert notifications.preferences(person)["status"]["in_app"] is False
    ideas.toggle_vote(person, world["open"].id)
    ideas.change_status(world["manager"], world["open"].id, "planned", "Planned")
    jobs.drain()
    assert notifications.page(person).items == []


def test_email_for_a_kind_when_chosen(world):
    from app.services.platform import mail

    person = world["person"]
    notifications.set_preferences(person, {"status": {"in_app": True, "email": True}})
    ideas.toggle_vote(person, world["open"].id)
    ideas.change_status(world["manager"], world["open"].id, "planned", "We build it")
    jobs.drain()
    assert [m["To"] for m in mail.outbox()] == [person.email]
    assert "Planned: An open idea" in mail.outbox()[0]["Subject"]


# --- pages --------------------------------------------------------------------------------

@pytest.fixture
def site(app, make):
    """A manager's open community with an idea, and a person with two notifications about it."""
    manager = make.user("employee")
    community = make.community("open", manager=manager)
    person = make.user("customer")
    with app.app_context():
        m = db.session.get(User, manager.id)
        idea = posts.create(m, community.slug, "idea", "Tents for everyone", "", [])
        p = db.session.get(User, person.id)
        first = _notify(p, idea, "First news", actor=m).id
        second = _notify(p, idea, "Second news", actor=m).id
        idea_id = idea.id
    return {"manager": manager, "person": person, "community": community, "idea": idea_id,
            "first": first, "second": second}


def _header_count(html: str) -> str:
    match = re.search(r'href="/notifications"[^>]*>(.*?)</a>', html, re.S)
    assert match, "no notifications link in the header"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def test_header_shows_the_unread_count(site, login_as, app):
    client = login_as(site["person"])
    assert _header_count(client.get("/communities").get_data(as_text=True)) == "Notifications (2 unread)"
    post_form(client, f"/notifications/{site['first']}/open")
    assert _header_count(client.get("/communities").get_data(as_text=True)) == "Notifications (1 unread)"
    post_form(client, "/notifications/read-all")
    assert _header_count(client.get("/communities").get_data(as_text=True)) == "Notifications"
    anonymous = app.test_client()
    assert "/notifications" not in anonymous.get("/signin").get_data(as_text=True)


def test_list_marks_unread_and_opening_marks_read(site, login_as, app):
    client = login_as(site["person"])
    html = client.get("/notifications").get_data(as_text=True)
    assert html.index("Second news") < html.index("First news")  # newest first
    assert html.count("is-unread") == 2 and "Unread: " in html
    assert client.get(f"/notifications/{site['second']}/open").status_code == 405  # GET never changes data
    resp = post_form(client, f"/notifications/{site['second']}/open")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/p/{site['idea']}")
    html = client.get("/notifications").get_data(as_text=True)
    assert html.count("is-unread") == 1
    assert "Nothing unread" not in client.get("/notifications?unread=1").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Notification, site["second"]).read_at is not None
        assert db.session.get(Notification, site["first"]).read_at is None


def test_opening_a_comment_notification_lands_on_the_comment(site, login_as, app):
    from app.models import Comment

    with app.app_context():
        comment = Comment(post_id=site["idea"], author_id=site["manager"].id, body="hi", body_html="<p>hi</p>")
        db.session.add(comment)
        db.session.commit()
        note = _notify(db.session.get(User, site["person"].id), db.session.get(Post, site["idea"]),
                       comment=comment)
        note_id, comment_id = note.id, comment.id
    resp = post_form(login_as(site["person"]), f"/notifications/{note_id}/open")
    assert resp.headers["Location"].endswith(f"/p/{site['idea']}#c{comment_id}")


def test_someone_elses_notification_is_not_found(site, login_as, make):
    client = login_as(make.user("employee"))
    assert post_form(client, f"/notifications/{site['first']}/open").status_code == 404
    assert post_form(client, "/notifications/999999/open").status_code == 404


def test_read_all(site, login_as):
    client = login_as(site["person"])
    resp = post_form(client, "/notifications/read-all", follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "Marked 2 notifications as read." in html and "is-unread" not in html
    assert "Nothing was unread." in post_form(client, "/notifications/read-all", follow_redirects=True).get_data(as_text=True)


def test_settings_page_saves_choices(site, login_as, app):
    client = login_as(site["person"])
    html = client.get("/notifications/settings").get_data(as_text=True)
    assert '<input checked id="in_app_status"' in html and '<input id="email_status"' in html  # the defaults
    data = {f"in_app_{k}": "y" for k in notifications.KINDS if k != "status"}
    data["email_mention"] = "y"
    resp = post_form(client, "/notifications/settings", data, follow_redirects=True)
    assert resp.status_code == 200 and "settings are saved" in resp.get_data(as_text=True)
    with app.app_context():
        prefs = notifications.preferences(db.session.get(User, site["person"].id))
    assert prefs["status"] == {"in_app": False, "email": False}
    assert prefs["mention"] == {"in_app": True, "email": True}


def test_older_notifications_load_by_keyset(site, login_as, app):
    with app.app_context():
        person, idea = db.session.get(User, site["person"].id), db.session.get(Post, site["idea"])
        for i in range(33):
            _notify(person, idea, f"Numbered news {i:02d}")
    client = login_as(site["person"])
    html = client.get("/notifications").get_data(as_text=True)
    assert "Numbered news 32" in html and "Numbered news 03" in html and "Numbered news 02" not in html
    older = re.search(r'href="(/notifications\?before=\d+)"', html).group(1)
    html = client.get(older).get_data(as_text=True)
    assert "Numbered news 02" in html and "First news" in html and "Numbered news 03" not in html
    assert "Load older" not in html
    assert client.get("/notifications?before=junk").status_code == 200


def test_anonymous_is_sent_to_sign_in(app):
    resp = app.test_client().get("/notifications")
    assert resp.status_code == 302 and "/signin" in resp.headers["Location"]


def test_list_runs_a_constant_number_of_queries(app, make, login_as, count_queries):
    """3 or 30 notifications, from different people about different posts: same query count."""
    manager = make.user("employee")
    community = make.community("open", manager=manager)
    person = make.user("customer")
    actors = [make.user("employee") for _ in range(3)]

    def add(n):
        with app.app_context():
            c = db.session.get(Community, community.id)
            for i in range(n):
                actor = db.session.get(User, actors[i % 3].id)
                p = posts.create(actor, c.slug, "idea", f"Idea number {i:03d}", "", [])
                _notify(db.session.get(User, person.id), p, f"News {i}", actor=actor)

    client = login_as(person)
    add(3)
    client.get("/notifications")  # warm up (first request work)
    with count_queries() as few:
        html = client.get("/notifications").get_data(as_text=True)
    assert html.count('class="notification card') == 3
    add(27)
    with count_queries() as many:
        html = client.get("/notifications").get_data(as_text=True)
    assert html.count('class="notification card') == 30
    assert many.count == few.count


def test_email_only_preference_sends_mail_without_an_in_app_notification(ctx, make):
    from app.models import Community, Notification, Topic, User
    from app.services import notifications
    from app.services.content import posts
    from app.services.platform import jobs, mail

    manager = make.user("employee", is_global_manager=True)
    c = make.community("open", manager=manager, topics=("General",))
    author = db.session.get(User, make.user("employee").id)
    reader = db.session.get(User, make.user("employee", name="Mail Only").id)
    notifications.set_preferences(reader, {kind: {"in_app": kind != "mention", "email": kind == "mention"}
                                           for kind in notifications.KINDS})
    topic = db.session.scalar(select(Topic.id).where(Topic.community_id == db.session.get(Community, c.id).id))
    posts.create(author, c.slug, "discussion", "Hello by mail", "Hi @mail.only", [topic])
    jobs.drain()
    jobs.drain()  # the mail job the notification job queued
    assert db.session.scalar(select(db.func.count()).select_from(Notification).where(
        Notification.user_id == reader.id)) == 0
    assert [m["To"] for m in mail.outbox()] == [reader.email]


# --- text: plain in storage and in the live payload, escaped once on the page ---------------

TRICKY = "R&D <b>\"quoted\"</b> & 'single' > less"


def test_tricky_text_is_stored_plain_and_shown_as_typed(app, make, login_as, monkeypatch):
    """Titles, names, chat lines and official responses with & < > " ' reach the person as they
    were typed: stored and sent live as plain text, escaped exactly once by the page."""
    import html as html_lib

    from app import events
    from app.services import chat
    from app.services.community import follows
    from app.services.content import comments

    sent = []
    monkeypatch.setattr(events, "_emit", lambda name, payload, room: sent.append((name, room, payload)))
    manager = make.user("employee", name="Ann & <Bo> \"Q\" O'Neil")
    community = make.community("open", manager=manager, name="R&D <lab> \"A\" 'B'")
    reader = make.user("employee")
    with app.app_context():
        m, r = db.session.get(User, manager.id), db.session.get(User, reader.id)
        follows.follow(r, "community", community.id)
        idea = posts.create(m, community.slug, "idea", TRICKY, "", [])
        jobs.drain()  # new post in a followed community
        follows.follow(r, "post", idea.id)
        comments.add(m, idea.id, "A comment")
        ideas.toggle_vote(r, idea.id)
        ideas.change_status(m, idea.id, "planned", TRICKY)
        chat.post(m, community.id, f"@{r.handle} look: {TRICKY}")
        jobs.drain()
        rows = list(db.session.scalars(select(Notification).where(Notification.user_id == reader.id)))
        stored = [n.text for n in rows]
        assert {"new_post", "comment", "status", "chat_mention"} <= {n.kind for n in rows}
    for text in stored:
        assert "&amp;" not in text and "&lt;" not in text and "&#" not in text and "&quot;" not in text
        assert "R&D" in text
    live = [p["notification"]["text"] for n, room, p in sent
            if n == "notification.created" and room == f"user:{reader.id}"]
    assert sorted(live) == sorted(stored)  # the live payload is the same plain text
    page_html = login_as(reader).get("/notifications").get_data(as_text=True)
    shown = [html_lib.unescape(re.sub(r"<[^>]+>", "", b)).removeprefix("Unread: ")
             for b in re.findall(r'class="link-button notification-open">(.*?)</button>', page_html, re.S)]
    assert sorted(shown) == sorted(stored)  # escaped once: unescaping once gives back the text
    assert "<b>" not in page_html.split('notification-list')[1]


# --- order ----------------------------------------------------------------------------------

def test_the_list_is_newest_first_with_ties_by_id_across_pages(app, make, login_as):
    """Made out of time order (a late job, demo content) and with equal times: the list, and
    its keyset pages, still go newest first, equal times newest id first, nothing twice."""
    from datetime import datetime, timedelta

    from app import clock

    manager = make.user("employee")
    community = make.community("open", manager=manager)
    person = make.user("employee")
    base = datetime(2026, 3, 1, 12, 0)
    offsets = [5, 1, 9, 1, 7, 3, 9, 0, 2, 1] * 4  # minutes after base, made in this order
    with app.app_context():
        idea = posts.create(db.session.get(User, manager.id), community.slug, "idea", "Order of news", "", [])
        p = db.session.get(User, person.id)
        for i, minutes in enumerate(offsets):
            clock.set_now(base + timedelta(minutes=minutes))
            _notify(p, idea, f"News {i:02d}")
        clock.reset()
        expected = [n.id for n in sorted(db.session.scalars(select(Notification).where(
            Notification.user_id == person.id)), key=lambda n: (n.created_at, n.id), reverse=True)]
        got, before = [], None
        while True:
            chunk = notifications.page(p, before=before, limit=7)
            got += [n.id for n in chunk.items]
            if not chunk.next_before:
                break
            before = chunk.next_before
    assert got == expected
    client = login_as(person)
    shown, url = [], "/notifications"
    while url:
        html = client.get(url).get_data(as_text=True)
        shown += [int(i) for i in re.findall(r'action="/notifications/(\d+)/open"', html)]
        more = re.search(r'href="(/notifications\?before=\d+)"', html)
        url = more.group(1) if more else None
    assert shown == expected
