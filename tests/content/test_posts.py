"""Posts: writing rules, revisions, soft delete, the community page (sort, filter, keyset
pagination, unread markers), the home feed, and constant query counts."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app import clock
from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import Community, Post, Revision, Topic, User
from app.services import access
from app.services.content import posts, reads
from app.services.platform import jobs
from tests.conftest import post as post_form
from tests.helpers import fresh, topic_of


@pytest.fixture
def world(ctx, make):
    manager = make.user("employee", is_global_manager=True)
    community = make.community("open", manager=manager, topics=("Returns", "Packaging"))
    member = make.user("customer")
    make.member(community, member)
    return {"manager": fresh(manager), "community": db.session.get(Community, community.id), "member": fresh(member)}


def test_create_renders_sanitised_html_and_files_under_topics(world):
    c = world["community"]
    p = posts.create(world["member"], c.slug, "idea", "  Free   returns  ", "**Please** <script>x()</script>",
                     [topic_of(c, "Returns").id])
    assert p.title == "Free returns" and p.status == "new"
    assert "<strong>Please</strong>" in p.body_html and "script" not in p.body_html
    assert [t.name for t in p.topics] == ["Returns"]


@pytest.mark.parametrize("kind,title,body,topics,field", [
    ("idea", "Hi", "", "ok", "title"),
    ("idea", "x" * 201, "", "ok", "title"),
    ("idea", "Valid title", "b" * 20_001, "ok", "body"),
    ("poll", "Valid title", "", "ok", "kind"),
    ("idea", "Valid title", "", "none", "topics"),
    ("idea", "Valid title", "", "foreign", "topics"),
    ("idea", "Valid title", "", "garbage", "topics"),
])
def test_bad_posts_get_field_errors(world, make, kind, title, body, topics, field):
    c = world["community"]
    other = make.community("open", topics=("Elsewhere",))
    topic_ids = {"ok": [topic_of(c, "Returns").id], "none": [], "garbage": ["abc"],
                 "foreign": [db.session.scalar(select(Topic.id).where(Topic.community_id == other.id))]}[topics]
    with pytest.raises(ValidationError) as err:
        posts.create(world["member"], c.slug, kind, title, body, topic_ids)
    assert field in err.value.errors


def test_cannot_post_where_one_cannot_read(world, make):
    internal = make.community("internal", topics=("X",))
    with pytest.raises(NotFound):
        posts.create(world["member"], internal.slug, "idea", "Sneaky idea", "", [])


def test_edit_keeps_every_earlier_version(world):
    c = world["community"]
    p = posts.create(world["member"], c.slug, "discussion", "First title", "one", [topic_of(c, "Returns").id])
    posts.edit(world["member"], p.id, "Second title", "two", [topic_of(c, "Returns").id])
    posts.edit(world["member"], p.id, "Third title", "three", [topic_of(c, "Packaging").id])
    versions = db.session.scalars(select(Revision).where(Revision.post_id == p.id).order_by(Revision.id)).all()
    assert [(v.title, v.body) for v in versions] == [("First title", "one"), ("Second title", "two")]
    assert db.session.get(Post, p.id).edited_at is not None
    _pacc, listed = posts.revisions(world["member"], p.id)
    assert [r.title for r in listed] == ["Second title", "First title"]


def test_only_author_and_moderators_edit_and_moderators_give_a_reason(world, make):
    c = world["community"]
    p = posts.create(world["member"], c.slug, "discussion", "Mine to edit", "", [topic_of(c, "Returns").id])
    stranger = fresh(make.user("employee"))
    with pytest.raises(Forbidden):
        posts.edit(stranger, p.id, "Hijacked title", "", [topic_of(c, "Returns").id])
    with pytest.raises(Forbidden):
        posts.revisions(stranger, p.id)
    with pytest.raises(ValidationError) as err:
        posts.edit(world["manager"], p.id, "Moderated title", "", [topic_of(c, "Returns").id])
    assert "reason" in err.value.errors
    posts.edit(world["manager"], p.id, "Moderated title", "", [topic_of(c, "Returns").id], reason="Removed a phone number")
    assert db.session.get(Post, p.id).title == "Moderated title"


def test_soft_delete_and_restore(world, make):
    c = world["community"]
    p = posts.create(world["member"], c.slug, "question", "Where is my parcel?", "", [topic_of(c, "Returns").id])
    reader = fresh(make.user("employee"))
    posts.delete(world["member"], p.id)
    assert db.session.get(Post, p.id) is not None  # nothing is removed
    with pytest.raises(NotFound):
        access.post_for(reader, p.id)
    assert access.post_for(world["member"], p.id).post.is_deleted  # the author still sees it
    with pytest.raises(Forbidden):
        posts.restore(world["member"], p.id)
    posts.restore(world["manager"], p.id)
    assert access.post_for(reader, p.id).post.deleted_at is None


def _seed(world, n, start=datetime(2026, 3, 1)):
    c = world["community"]
    made = []
    for i in range(n):
        clock.set_now(start + timedelta(minutes=i))
        made.append(posts.create(world["member"], c.slug, ["idea", "question", "discussion"][i % 3],
                                 f"Post number {i:03d}", "", [topic_of(c, "Returns").id if i % 2 else topic_of(c, "Packaging").id]))
    clock.reset()
    return made


def test_keyset_pages_cover_every_post_once_in_order(world):
    made = _seed(world, 45)
    acc = access.access_to(world["member"], world["community"])
    for sort in posts.SORTS:
        seen, cursor = [], None
        while True:
            page = posts.community_page(world["member"], acc, sort=sort, cursor=cursor, limit=10)
            seen += [r.post.id for r in page.rows]
            cursor = page.next_cursor
            if not cursor:
                break
        assert sorted(seen) == sorted(p.id for p in made), sort
        assert len(seen) == len(set(seen)), sort
    newest = posts.community_page(world["member"], acc, sort="new", limit=3).rows
    assert [r.post.title for r in newest] == ["Post number 044", "Post number 043", "Post number 042"]


def test_filters_and_garbage_cursor(world):
    _seed(world, 12)
    acc = access.access_to(world["member"], world["community"])
    ideas = posts.community_page(world["member"], acc, kind="idea").rows
    assert ideas and all(r.post.kind == "idea" for r in ideas)
    topic = topic_of(world["community"], "Packaging")
    in_topic = posts.community_page(world["member"], acc, topic=topic).rows
    assert len(in_topic) == 6 and all(topic in r.post.topics for r in in_topic)
    assert len(posts.community_page(world["member"], acc, status="planned").rows) == 0
    assert posts.community_page(world["member"], acc, cursor="!!garbage!!").rows  # first page


def test_unread_markers(world, make):
    """"New activity" only on what the viewer saw and what changed since, never on a post they
    never opened (a first visit is not a wall of markers), never for their own comment."""
    from app.services.content import comments

    c = world["community"]
    start = datetime(2026, 5, 4, 9, 0)
    clock.set_now(start)
    p = posts.create(world["member"], c.slug, "question", "Unread question", "", [topic_of(c, "Returns").id])
    reader = fresh(make.user("employee"))
    acc = access.access_to(reader, c)
    assert not posts.community_page(reader, acc).rows[0].unread  # never opened: no "since"
    clock.set_now(start + timedelta(minutes=1))
    posts.mark_read(reader, db.session.get(Post, p.id))
    assert not posts.community_page(reader, acc).rows[0].unread
    clock.set_now(start + timedelta(minutes=2))
    comments.add(world["manager"], p.id, "Someone else answers")
    assert posts.community_page(reader, acc).rows[0].unread
    clock.set_now(start + timedelta(minutes=3))
    posts.mark_read(reader, p.id)
    clock.set_now(start + timedelta(minutes=4))
    comments.add(reader, p.id, "My own answer")
    assert not posts.community_page(reader, acc).rows[0].unread  # their own comment is not news to them
    clock.reset()


def test_home_feed_follows_membership_and_follows_and_access(world, make):
    from app.services.community import follows

    c = world["community"]
    elsewhere = make.community("open", topics=("Other",))
    secret = make.community("private", topics=("Hidden",))
    mine = posts.create(world["member"], c.slug, "idea", "In my community", "", [topic_of(c, "Returns").id])
    other_staff = fresh(make.user("employee", is_global_manager=True))
    followed = posts.create(other_staff, elsewhere.slug, "discussion", "Followed elsewhere", "",
                            [db.session.scalar(select(Topic.id).where(Topic.community_id == elsewhere.id))])
    posts.create(other_staff, elsewhere.slug, "discussion", "Not followed", "",
                 [db.session.scalar(select(Topic.id).where(Topic.community_id == elsewhere.id))])
    posts.create(other_staff, secret.slug, "discussion", "Secret stuff", "",
                 [db.session.scalar(select(Topic.id).where(Topic.community_id == secret.id))])
    follows.follow(world["member"], "post", followed.id)
    titles = [r.post.title for r in posts.home_feed(world["member"]).rows]
    assert titles == ["Followed elsewhere", "In my community"]  # newest activity first
    assert mine.title == "In my community"


def test_new_post_notifies_followers_who_may_read_it(world, make):
    from app.models import Notification
    from app.services.community import follows

    c = world["community"]
    follower = fresh(make.user("employee"))
    follows.follow(follower, "topic", topic_of(c, "Returns").id)
    posts.create(world["member"], c.slug, "idea", "Notify the followers", "hello @" + follower.handle, [topic_of(c, "Returns").id])
    jobs.drain()
    kinds = [n.kind for n in db.session.scalars(select(Notification).where(Notification.user_id == follower.id))]
    assert kinds == ["mention"]  # one notification, the most specific


# --- pages --------------------------------------------------------------------------------

def test_new_post_page_posts_and_shows(app, make, login_as):
    manager = make.user("employee", is_global_manager=True)
    c = make.community("open", manager=manager, topics=("Returns",))
    client = login_as(make.user("customer"))
    with app.app_context():
        topic_id = db.session.scalar(select(Topic.id).where(Topic.community_id == c.id))
    assert client.get(f"/c/{c.slug}/new?kind=idea").status_code == 200
    resp = post_form(client, f"/c/{c.slug}/new", {"kind": "idea", "title": "x", "body": "", "topics": [str(topic_id)]})
    assert resp.status_code == 400 and "at least 5 characters" in resp.get_data(as_text=True)
    resp = post_form(client, f"/c/{c.slug}/new", {"kind": "idea", "title": "Preview me", "body": "*hi*",
                                                   "topics": [str(topic_id)], "preview": "1"})
    assert resp.status_code == 200 and "<em>hi</em>" in resp.get_data(as_text=True)
    resp = post_form(client, f"/c/{c.slug}/new", {"kind": "idea", "title": "Bigger tents",
                                                   "body": "Please make **bigger** tents", "topics": [str(topic_id)]},
                     follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "Bigger tents" in html and "<strong>bigger</strong>" in html
    listing = client.get(f"/c/{c.slug}?sort=new").get_data(as_text=True)
    assert "Bigger tents" in listing


def test_community_page_topic_page_and_feed_run_constant_queries(app, make, login_as, count_queries):
    from app.services.content import comments, ideas

    manager = make.user("employee", is_global_manager=True)
    c = make.community("open", manager=manager, topics=("Returns", "Packaging"))
    reader = make.user("employee")
    make.member(c, reader)
    authors = [make.user(kind) for kind in ("employee", "customer", "partner")]

    def add_posts(n):
        with app.app_context():
            topics = list(db.session.scalars(select(Topic.id).where(Topic.community_id == c.id)))
            for i in range(n):
                author = db.session.get(User, authors[i % 3].id)
                p = posts.create(author, c.slug, ["idea", "question", "discussion"][i % 3], f"Post {i} title",
                                 "", topics if i % 2 else topics[:1])
                if p.kind == "idea":
                    ideas.toggle_vote(db.session.get(User, reader.id), p.id)
                comments.add(db.session.get(User, reader.id), p.id, "A comment")
                if i % 4 == 0:
                    posts.mark_read(db.session.get(User, reader.id), p)
        reads.flush(app)

    paths = [f"/c/{c.slug}", f"/c/{c.slug}?sort=new", f"/c/{c.slug}/t/returns", "/", "/feed"]

    def measure():
        client = login_as(reader)
        counts = {}
        for path in paths:
            client.get(path)
            with count_queries() as q:
                assert client.get(path).status_code == 200
            counts[path] = q.count
        return counts

    add_posts(3)
    small = measure()
    add_posts(27)
    assert measure() == small


def test_the_feed_runs_constant_queries_across_many_communities(app, make, login_as, count_queries):
    """Each feed row names its community: loaded with the posts, not one query per community."""
    reader = make.user("employee")
    author = make.user("employee")

    def add_community(i):
        c = make.community("open", topics=("General",), name=f"Circle {i}", slug=f"circle-{i}")
        make.member(c, reader)
        make.member(c, author)
        with app.app_context():
            topic = db.session.scalar(select(Topic.id).where(Topic.community_id == c.id))
            posts.create(db.session.get(User, author.id), c.slug, "discussion", f"News from circle {i}", "", [topic])

    def measure():
        client = login_as(reader)
        client.get("/feed")
        with count_queries() as q:
            html = client.get("/feed").get_data(as_text=True)
        return q.count, html

    add_community(0)
    few, _ = measure()
    for i in range(1, 6):
        add_community(i)
    many, html = measure()
    assert all(f"Circle {i}" in html for i in range(6))
    assert many == few


def test_new_activity_marker_on_the_community_page_and_the_home_feed(app, make, login_as):
    """The badge on the pages: none on a read item, none on a never-opened one, one on an item
    that got a comment after the viewer read it — on the community page and the home feed."""
    from app.services.content import comments

    manager = make.user("employee", is_global_manager=True)
    community = make.community("open", manager=manager)
    reader = make.user("employee")
    make.member(community, reader)
    start = datetime(2026, 5, 4, 9, 0)
    with app.app_context():
        clock.set_now(start)
        m = fresh(manager)
        read = posts.create(m, community.slug, "discussion", "Read and quiet", "", []).id
        busy = posts.create(m, community.slug, "discussion", "Read then answered", "", []).id
        posts.create(m, community.slug, "discussion", "Never opened", "", [])
    client = login_as(reader)
    clock.set_now(start + timedelta(minutes=1))
    for post_id in (read, busy):
        assert client.get(f"/p/{post_id}").status_code == 200  # reading it sets the marker
    with app.app_context():
        clock.set_now(start + timedelta(minutes=2))
        comments.add(fresh(manager), busy, "A new comment after the reader was here")
    clock.set_now(start + timedelta(minutes=3))

    def marked(html: str) -> set[str]:
        cards = re.findall(r'<li class="post-card card[^"]*">.*?</li>\s*(?=<li class="post-card|</ol>)', html, re.S)
        return {re.search(r'class="post-title"><a [^>]*>([^<]+)</a>', card).group(1)
                for card in cards if "New activity" in card}

    try:
        for url in (f"/c/{community.slug}", "/"):
            html = client.get(url).get_data(as_text=True)
            assert "Read and quiet" in html and "Never opened" in html, url
            assert marked(html) == {"Read then answered"}, url
    finally:
        clock.reset()
