"""Comments: replies (one level), counters, soft delete and restore, likes, accepted answers,
edits with revisions, who may do what, notifications, the post page's thread and forms, and a
constant number of queries whatever the number of comments."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from app import clock
from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import Comment, Community, Post, Revision, User
from app.services import access
from app.services.community import follows
from app.services.content import comments, posts
from app.services.platform import jobs
from tests.conftest import post as post_form
from tests.helpers import fresh, notes_of


@pytest.fixture
def world(ctx, make):
    manager = make.user("employee", is_global_manager=True)
    community = make.community("open", manager=manager, topics=("Returns",))
    member = make.user("customer")
    make.member(community, member)
    other = make.user("employee")
    c = db.session.get(Community, community.id)
    w = {"manager": fresh(manager), "community": c, "member": fresh(member), "other": fresh(other)}
    w["question"] = make.post(w["member"], c, kind="question", title="How do I return a parcel?")
    w["discussion"] = make.post(w["member"], c, kind="discussion", title="Our new packaging")
    return w


# --- adding -------------------------------------------------------------------------------

def test_comment_is_sanitised_counted_and_makes_the_author_follow(world):
    p = world["discussion"]
    before_activity, before_hot = p.last_activity_at, p.hot
    clock.set_now(datetime.now() + timedelta(hours=2))
    c = comments.add(world["other"], p.id, "  **Nice** <script>alert(1)</script> [x](javascript:alert(1))  ")
    clock.reset()
    post = db.session.get(Post, p.id)
    assert "<strong>Nice</strong>" in c.body_html and "script" not in c.body_html and "javascript" not in c.body_html
    assert c.body.startswith("**Nice**")  # stripped, markdown kept as typed
    assert post.comment_count == 1 and post.last_activity_at > before_activity
    comments.add(world["manager"], p.id, "Me too")
    post = db.session.get(Post, p.id)
    assert post.comment_count == 2 and post.hot > before_hot  # engagement counts in "hot"
    assert follows.is_following(world["other"], "post", p.id)


@pytest.mark.parametrize("body", ["", "   \n  ", "x" * 10_001, "bad \x00 char"])
def test_bad_bodies_get_a_field_error_and_store_nothing(world, body):
    with pytest.raises(ValidationError) as err:
        comments.add(world["other"], world["discussion"].id, body)
    assert "body" in err.value.errors
    db.session.rollback()
    assert db.session.get(Post, world["discussion"].id).comment_count == 0
    assert comments.add(world["other"], world["discussion"].id, "y" * 10_000).body == "y" * 10_000


def test_counter_is_an_atomic_increment(world):
    """A concurrent writer's increment is not lost when our copy of the post is stale."""
    p = db.session.get(Post, world["discussion"].id)
    db.session.execute(update(Post).where(Post.id == p.id).values(comment_count=Post.comment_count + 5)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    comments.add(world["other"], p.id, "Hello")
    db.session.expire_all()
    assert db.session.get(Post, p.id).comment_count == 6


def test_replies_are_one_level_deep(world):
    pid = world["discussion"].id
    top = comments.add(world["member"], pid, "Top")
    reply = comments.add(world["other"], pid, "Reply", parent_id=top.id)
    nested = comments.add(world["manager"], pid, "Reply to the reply", parent_id=str(reply.id))
    assert reply.parent_id == top.id and nested.parent_id == top.id
    items = comments.thread(world["other"], access.post_for(world["other"], pid))
    assert len(items) == 1 and [r.comment.body for r in items[0].replies] == ["Reply", "Reply to the reply"]
    assert db.session.get(Post, pid).comment_count == 3


def test_reply_parent_must_be_on_the_post_and_live(world):
    elsewhere = comments.add(world["member"], world["question"].id, "On the question")
    with pytest.raises(ValidationError) as err:
        comments.add(world["other"], world["discussion"].id, "Wrong post", parent_id=elsewhere.id)
    assert "parent_id" in err.value.errors
    db.session.rollback()
    with pytest.raises(ValidationError):
        comments.add(world["other"], world["discussion"].id, "Garbage parent", parent_id="abc")
    db.session.rollback()
    comments.delete(world["member"], elsewhere.id)
    with pytest.raises(ValidationError) as err:
        comments.add(world["other"], world["question"].id, "Too late", parent_id=elsewhere.id)
    assert "deleted" in err.value.errors["parent_id"]


def test_deleted_posts_take_no_comments(world):
    pid = world["discussion"].id
    posts.delete(world["member"], pid)
    with pytest.raises(Forbidden):
        comments.add(world["member"], pid, "Still here?")  # the author still sees the post
    with pytest.raises(NotFound):
        comments.add(world["other"], pid, "Hello?")


@pytest.mark.parametrize("visibility", ["internal", "private"])
def test_customers_cannot_comment_where_they_cannot_read(world, make, visibility):
    staff = world["manager"]
    hidden = make.community(visibility, manager=staff, topics=("Inside",))
    p = make.post(staff, db.session.get(Community, hidden.id), kind="discussion", title="Inside information")
    c = comments.add(staff, p.id, "Staff only")
    with pytest.raises(NotFound):
        comments.add(world["member"], p.id, "Let me in")
    with pytest.raises(NotFound):
        comments.toggle_like(world["member"], c.id)
    with pytest.raises(NotFound):
        comments.edit(world["member"], c.id, "Changed")


# --- delete, restore, edit ----------------------------------------------------------------

def test_soft_delete_keeps_replies_and_shows_text_only_to_moderators(world):
    pid = world["discussion"].id
    top = comments.add(world["other"], pid, "Something regrettable")
    comments.add(world["member"], pid, "A reply that stays", parent_id=top.id)
    with pytest.raises(Forbidden):
        comments.delete(world["member"], top.id)  # not hers
    comments.delete(world["other"], top.id)
    assert db.session.get(Comment, top.id).body == "Something regrettable"  # nothing is lost
    assert db.session.get(Post, pid).comment_count == 1
    for viewer, sees in ((world["member"], False), (world["other"], False), (world["manager"], True)):
        [item] = comments.thread(viewer, access.post_for(viewer, pid))
        assert item.is_deleted and item.show_body is sees
        assert [r.comment.body for r in item.replies] == ["A reply that stays"]
        assert not item.can_reply and not item.can_like
    with pytest.raises(Forbidden):
        comments.edit(world["other"], top.id, "Trying to edit a deleted comment")
    with pytest.raises(Forbidden):
        comments.restore(world["other"], top.id)
    comments.restore(world["manager"], top.id)
    assert db.session.get(Comment, top.id).deleted_at is None
    assert db.session.get(Post, pid).comment_count == 2


def test_edits_keep_revisions_and_moderators_give_a_reason(world):
    c = comments.add(world["member"], world["discussion"].id, "First")
    comments.edit(world["member"], c.id, "Second")
    comments.edit(world["member"], c.id, "Second")  # unchanged: no new revision
    comments.edit(world["member"], c.id, "Third **bold**")
    comment = db.session.get(Comment, c.id)
    assert comment.edited_at and "<strong>bold</strong>" in comment.body_html
    with pytest.raises(Forbidden):
        comments.edit(world["other"], c.id, "Hijack")
    with pytest.raises(ValidationError) as err:
        comments.edit(world["manager"], c.id, "Moderated")
    assert "reason" in err.value.errors
    comments.edit(world["manager"], c.id, "Moderated", reason="Removed a phone number")
    rows = db.session.scalars(select(Revision).where(Revision.comment_id == c.id).order_by(Revision.id)).all()
    assert [r.body for r in rows] == ["First", "Second", "Third **bold**"]
    assert rows[-1].editor_id == world["manager"].id and rows[-1].reason == "Removed a phone number"
    _pacc, _c, listed = comments.revisions(world["member"], c.id)
    assert [r.body for r in listed] == ["Third **bold**", "Second", "First"]
    with pytest.raises(Forbidden):
        comments.revisions(world["other"], c.id)
    [note] = notes_of(world["member"], "moderation")
    assert "Removed a phone number" in note.text


# --- likes --------------------------------------------------------------------------------

def test_likes_toggle_and_never_on_ones_own_comment(world):
    c = comments.add(world["member"], world["discussion"].id, "Like me")
    assert comments.toggle_like(world["other"], c.id) == (True, 1)
    assert comments.toggle_like(world["manager"], c.id) == (True, 2)
    [item] = comments.thread(world["other"], access.post_for(world["other"], world["discussion"].id))
    assert item.liked and item.comment.like_count == 2
    assert comments.toggle_like(world["other"], c.id) == (False, 1)
    with pytest.raises(ValidationError) as err:
        comments.toggle_like(world["member"], c.id)
    assert "own comment" in err.value.message
    comments.delete(world["member"], c.id)
    with pytest.raises(ValidationError):
        comments.toggle_like(world["other"], c.id)


# --- accepted answers ---------------------------------------------------------------------

def test_accepting_answers(world):
    qid = world["question"].id
    first = comments.add(world["other"], qid, "Use the form")
    second = comments.add(world["manager"], qid, "Call us")
    reply = comments.add(world["member"], qid, "Thanks!", parent_id=first.id)
    with pytest.raises(Forbidden):
        comments.accept(world["other"], second.id)  # neither asker nor staff
    with pytest.raises(ValidationError):
        comments.accept(world["member"], reply.id)  # replies are not answers
    comments.accept(world["member"], first.id)
    assert db.session.get(Post, qid).accepted_comment_id == first.id
    comments.accept(world["manager"], second.id)  # staff may respond: replaces it
    assert db.session.get(Post, qid).accepted_comment_id == second.id
    items = comments.thread(world["member"], access.post_for(world["member"], qid))
    assert [i.comment.id for i in items] == [second.id, first.id]  # accepted first
    assert items[0].is_accepted and items[0].can_accept and not items[1].is_accepted
    comments.unaccept(world["member"], second.id)
    assert db.session.get(Post, qid).accepted_comment_id is None
    comments.accept(world["member"], first.id)
    comments.delete(world["other"], first.id)
    assert db.session.get(Post, qid).accepted_comment_id is None  # a deleted answer is not accepted


def test_only_questions_have_accepted_answers(world):
    c = comments.add(world["other"], world["discussion"].id, "An opinion")
    with pytest.raises(ValidationError):
        comments.accept(world["member"], c.id)
    [item] = comments.thread(world["member"], access.post_for(world["member"], world["discussion"].id))
    assert not item.can_accept


# --- notifications ------------------------------------------------------------------------

def test_comments_notify_followers_the_replied_to_and_mentioned_readers(world, make):
    pid = world["discussion"].id
    follower = fresh(make.user("employee"))
    follows.follow(follower, "post", pid)
    mentioned = fresh(make.user("customer", name="Mia Mention"))
    top = comments.add(world["other"], pid, "First thoughts")
    jobs.drain()
    assert [n.kind for n in notes_of(follower)] == ["comment"]
    assert [n.kind for n in notes_of(world["member"])] == ["comment"]  # the author follows her post
    comments.add(world["manager"], pid, f"Agreed, @{mentioned.handle}", parent_id=top.id)
    jobs.drain()
    assert [n.kind for n in notes_of(world["other"])] == ["reply"]  # not also "comment"
    assert [n.kind for n in notes_of(mentioned)] == ["mention"]
    assert len(notes_of(follower, "comment")) == 2
    assert not notes_of(world["manager"])  # never told about one's own comment


def test_mentions_do_not_reach_people_who_cannot_read(world, make):
    staff = world["manager"]
    internal = make.community("internal", manager=staff, topics=("Inside",))
    p = make.post(staff, db.session.get(Community, internal.id), kind="discussion", title="Internal matters")
    comments.add(staff, p.id, f"What do you think, @{world['member'].handle}?")
    jobs.drain()
    assert not notes_of(world["member"])


def test_accepting_notifies_the_answers_author(world):
    c = comments.add(world["other"], world["question"].id, "Here is how")
    comments.accept(world["member"], c.id)
    comments.accept(world["member"], c.id)  # again: nothing new
    jobs.drain()
    assert len(notes_of(world["other"], "accepted")) == 1


# --- pages --------------------------------------------------------------------------------

@pytest.fixture
def site(app, make):
    manager = make.user("employee", is_global_manager=True)
    community = make.community("open", manager=manager, topics=("Returns",))
    asker = make.user("customer")
    helper = make.user("employee")
    with app.app_context():
        q = make.post(db.session.get(User, asker.id), db.session.get(Community, community.id), kind="question", title="Where is my parcel?")
        qid = q.id
    return {"manager": manager, "asker": asker, "helper": helper, "qid": qid, "community": community}


def _comment(app, user, post_id, body, **kw):
    with app.app_context():
        return comments.add(db.session.get(User, user.id), post_id, body, **kw).id


def test_adding_a_comment_goes_to_its_anchor(site, login_as):
    client = login_as(site["helper"])
    resp = post_form(client, f"/p/{site['qid']}/comments", {"body": "Check the tracking page"})
    assert resp.status_code == 302 and re.search(r"/p/\d+#c\d+$", resp.headers["Location"])
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "1 answer<" in html and "Check the tracking page" in html
    assert re.search(r'id="c\d+"', html)


def test_a_refused_comment_re_renders_the_page_with_the_text_kept(site, login_as):
    client = login_as(site["helper"])
    typed = "My long answer " + "z" * 10_000
    resp = post_form(client, f"/p/{site['qid']}/comments", {"body": typed})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "Use at most 10,000 characters" in html and typed in html
    assert 'aria-invalid="true"' in html and "Where is my parcel?" in html


def test_a_refused_reply_opens_its_own_form_with_the_text(app, site, login_as):
    top = _comment(app, site["manager"], site["qid"], "Top answer")
    client = login_as(site["helper"])
    resp = post_form(client, f"/p/{site['qid']}/comments", {"body": "   ", "parent_id": str(top)})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert re.search(r'<details class="reply-box" open>\s*<summary>Reply', html)
    assert f'id="reply-{top}-error"' in html


def test_thread_markup_like_reply_and_deleted(app, site, login_as):
    top = _comment(app, site["manager"], site["qid"], "The answer is **42**")
    reply = _comment(app, site["asker"], site["qid"], "Thanks", parent_id=top)
    gone = _comment(app, site["asker"], site["qid"], "Oops, secret details")
    with app.app_context():
        comments.delete(db.session.get(User, site["asker"].id), gone)
    client = login_as(site["helper"])
    page = client.get(f"/p/{site['qid']}").get_data(as_text=True)
    assert "2 answers<" in page and "<strong>42</strong>" in page
    assert "This comment was deleted" in page and "secret details" not in page
    assert f'action="/comments/{top}/like"' in page and 'aria-pressed="false"' in page
    assert '<label for="comment-body">Answer <span class="required-mark"' in page and 'name="files" multiple' in page
    assert f'name="parent_id" value="{reply}"' in page  # a reply to a reply joins the thread
    resp = post_form(client, f"/comments/{top}/like", {})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"#c{top}")
    assert 'aria-pressed="true"' in client.get(f"/p/{site['qid']}").get_data(as_text=True)
    resp = post_form(client, f"/comments/{top}/like", {}, headers={"Accept": "application/json"})
    assert resp.get_json() == {"liked": False, "count": 0}
    moderator_page = login_as(site["manager"]).get(f"/p/{site['qid']}").get_data(as_text=True)
    assert "secret details" in moderator_page and f'action="/comments/{gone}/restore"' in moderator_page


def test_liking_ones_own_comment_explains_why_not(app, site, login_as):
    mine = _comment(app, site["helper"], site["qid"], "My answer")
    client = login_as(site["helper"])
    resp = post_form(client, f"/comments/{mine}/like", {}, follow_redirects=True)
    assert "You cannot like your own comment" in resp.get_data(as_text=True)


def test_accept_and_unaccept_buttons(app, site, login_as):
    answer = _comment(app, site["helper"], site["qid"], "Try the tracking page")
    assert 'Accept this answer' not in login_as(site["helper"]).get(f"/p/{site['qid']}").get_data(as_text=True)
    client = login_as(site["asker"])
    assert "Accept this answer" in client.get(f"/p/{site['qid']}").get_data(as_text=True)
    resp = post_form(client, f"/comments/{answer}/accept", {}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "Accepted answer" in html and "comment-accepted" in html and "Withdraw acceptance" in html
    post_form(client, f"/comments/{answer}/unaccept", {})
    assert "comment-accepted" not in client.get(f"/p/{site['qid']}").get_data(as_text=True)
    assert login_as(site["helper"]).post(f"/comments/{answer}/accept").status_code == 400  # no CSRF token


def test_edit_page_revisions_and_permissions(app, site, login_as):
    cid = _comment(app, site["helper"], site["qid"], "Frist answer")
    client = login_as(site["helper"])
    form = client.get(f"/comments/{cid}/edit")
    assert form.status_code == 200 and "Frist answer" in form.get_data(as_text=True)
    assert post_form(client, f"/comments/{cid}/edit", {"body": ""}).status_code == 400
    resp = post_form(client, f"/comments/{cid}/edit", {"body": "First answer"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"#c{cid}")
    page = client.get(f"/p/{site['qid']}").get_data(as_text=True)
    assert "First answer" in page and f"/comments/{cid}/revisions" in page
    assert "Frist answer" in client.get(f"/comments/{cid}/revisions").get_data(as_text=True)
    stranger = login_as(site["asker"])
    assert stranger.get(f"/comments/{cid}/edit").status_code == 403
    assert stranger.get(f"/comments/{cid}/revisions").status_code == 403
    moderator = login_as(site["manager"])
    resp = post_form(moderator, f"/comments/{cid}/edit", {"body": "Edited by staff", "reason": ""})
    assert resp.status_code == 400 and "Say why" in resp.get_data(as_text=True)


def test_delete_and_restore_views(app, site, login_as):
    cid = _comment(app, site["helper"], site["qid"], "Delete me")
    client = login_as(site["helper"])
    resp = post_form(client, f"/comments/{cid}/delete", {})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"#c{cid}")
    assert "0 answers" in client.get(f"/p/{site['qid']}").get_data(as_text=True)
    assert post_form(client, f"/comments/{cid}/restore", {}).status_code == 403
    assert post_form(login_as(site["manager"]), f"/comments/{cid}/restore", {}).status_code == 302
    assert "Delete me" in login_as(site["asker"]).get(f"/p/{site['qid']}").get_data(as_text=True)


def test_outsiders_get_404_and_anonymous_sign_in(app, make, site, client, login_as):
    staff = make.user("employee", is_global_manager=True)
    internal = make.community("internal", manager=staff, topics=("Inside",))
    with app.app_context():
        pid = make.post(db.session.get(User, staff.id), db.session.get(Community, internal.id)).id
    cid = _comment(app, staff, pid, "Internal")
    assert client.post(f"/p/{pid}/comments", data={"body": "x"}).status_code in (302, 400)
    customer = login_as(site["asker"])
    assert post_form(customer, f"/p/{pid}/comments", {"body": "Let me in"}).status_code == 404
    assert post_form(customer, f"/comments/{cid}/like", {}).status_code == 404
    assert customer.get(f"/comments/{cid}/edit").status_code == 404


def test_comment_with_an_image_and_a_refused_file(site, login_as):
    import io

    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (40, 20), (10, 120, 200)).save(png, "PNG")
    client = login_as(site["helper"])
    resp = post_form(client, f"/p/{site['qid']}/comments",
                     {"body": "See the picture", "files": (io.BytesIO(png.getvalue()), "label.png")},
                     content_type="multipart/form-data")
    assert resp.status_code == 302
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Files attached to this comment" in html and "label.png" in html
    resp = post_form(client, f"/p/{site['qid']}/comments",
                     {"body": "Keep this text", "files": (io.BytesIO(b"<svg onload=alert(1)>"), "evil.png")},
                     content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "Keep this text" in html and "1 answer<" in html


def test_post_page_queries_do_not_grow_with_comments(app, make, site, login_as, count_queries):
    people = [make.user("employee") for _ in range(6)]
    reader = make.user("employee")

    def seed(post_id, n):
        with app.app_context():
            ids = []
            for i in range(n):
                author = db.session.get(User, people[i % len(people)].id)
                parent = ids[-1] if i % 3 == 2 else None
                ids.append(comments.add(author, post_id, f"Comment {i} by @{people[0].handle}", parent_id=parent).id)
                if i % 2:
                    comments.toggle_like(db.session.get(User, reader.id), ids[-1])
            comments.delete(db.session.get(User, people[0].id), ids[0])
            comments.accept(db.session.get(User, site["asker"].id), ids[1])

    with app.app_context():
        asker = db.session.get(User, site["asker"].id)
        community = db.session.get(Community, site["community"].id)
        small = make.post(asker, community, kind="question", title="Small question").id
        big = make.post(asker, community, kind="question", title="Big question").id
    seed(small, 3)
    seed(big, 30)
    client = login_as(reader)
    counts = {}
    for pid in (small, big):
        assert client.get(f"/p/{pid}").status_code == 200  # warm: first visit records the read
        with count_queries() as q:
            html = client.get(f"/p/{pid}").get_data(as_text=True)
        counts[pid] = q.count
        assert "This comment was deleted" in html and "Accepted answer" in html
    assert counts[small] == counts[big], counts


def test_editing_a_comment_notifies_people_newly_mentioned_once(ctx, make):
    from app.models import Community, Notification, Topic, User
    from app.services.content import comments, posts
    from app.services.platform import jobs

    manager = make.user("employee", is_global_manager=True)
    c = make.community("open", manager=manager, topics=("General",))
    author = db.session.get(User, make.user("employee").id)
    first, later = make.user("employee", name="First Person"), make.user("employee", name="Later Person")
    community = db.session.get(Community, c.id)
    topic = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
    p = posts.create(author, c.slug, "discussion", "Mentions by edit", "", [topic])
    comment = comments.add(author, p.id, "Hello @first.person")
    jobs.drain()
    comments.edit(author, comment.id, "Hello @first.person and @later.person")
    jobs.drain()
    comments.edit(author, comment.id, "Hello again @first.person and @later.person")
    jobs.drain()
    mentions = db.session.scalars(select(Notification.user_id).where(Notification.kind == "mention")).all()
    assert sorted(mentions) == sorted([first.id, later.id])


def test_comment_cards_link_people_as_url_for_would(app, site, login_as):
    """The thread builds profile and avatar links from one pattern (fast); they must be the
    addresses url_for gives, with the kind badge and the reply mention."""
    from flask import url_for

    with app.app_context():
        asker = db.session.get(User, site["asker"].id)
        asker.avatar_key = "avatars/0a1b2c3d4e5f.png"
        db.session.commit()
        handle, helper_handle = asker.handle, db.session.get(User, site["helper"].id).handle
        with app.test_request_context():
            profile = url_for("people.profile", handle=handle)
            avatar = url_for("people.avatar", handle=handle, key="0a1b2c3d4e5f.png")
            helper_profile = url_for("people.profile", handle=helper_handle)
    top = _comment(app, site["asker"], site["qid"], "My parcel is late")
    _comment(app, site["helper"], site["qid"], "Let me check", parent_id=top)
    html = login_as(site["manager"]).get(f"/p/{site['qid']}").get_data(as_text=True)
    assert f'<img class="avatar" src="{avatar}" alt="" width="28" height="28">' in html
    assert f'<a class="person-name" href="{profile}">' in html and f'href="{helper_profile}"' in html
    assert '<span class="badge badge-customer">Customer</span>' in html
    assert f"@{helper_handle} </textarea>" in html  # replying to a reply starts with its author's @name
    assert html.count('class="comment"') + html.count('class="comment ') == 2
