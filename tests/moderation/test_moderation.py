"""Moderation: reports (one open per person per target, only what one may read), the queue
(per community for moderators, everything for the social team), actions with a reason (hide,
restore, lock, move, edit, dismiss, warn, suspend, ban, lift), hidden content invisible to
readers everywhere (pages, lists, feed, search re-check, notifications), internal notes, and
the pages (report form, queue, target page, post page boxes)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app import clock
from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import AuditEntry, ChatMessage, Community, Post, Report, Revision, User
from app.services import access, chat, moderation
from app.services.content import comments, posts
from tests.conftest import login
from tests.conftest import post as post_form
from tests.helpers import fresh, notes_of


@pytest.fixture
def world(ctx, make):
    social = make.user("employee", is_global_manager=True)
    community = make.community("open", manager=social)
    other_c = make.community("open", manager=social)
    mod = make.user("employee")
    make.member(community, mod, "moderator")
    make.member(other_c, mod, "moderator")
    author = make.user("customer")
    reader = make.user("partner")
    private = make.community("private", manager=social)
    outsider_mod = make.user("employee")
    make.member(private, outsider_mod, "moderator")
    w = {"social": fresh(social), "c": db.session.get(Community, community.id),
         "other_c": db.session.get(Community, other_c.id), "private": db.session.get(Community, private.id),
         "mod": fresh(mod), "author": fresh(author), "reader": fresh(reader), "outsider_mod": fresh(outsider_mod)}
    w["post"] = posts.create(w["author"], w["c"].slug, "discussion", "Look at my offer", "Buy cheap things")
    w["comment"] = comments.add(w["author"], w["post"].id, "A rude comment")
    return w


# --- reports ------------------------------------------------------------------------------

def test_report_is_confirmed_and_only_one_open_per_person(world):
    r = moderation.report(world["reader"], "post", world["post"].id, "spam", "It is an advert")
    assert r.status == "open" and r.community_id == world["c"].id
    assert any("report" in n.text for n in notes_of(world["reader"], "moderation"))
    with pytest.raises(ValidationError) as exc:
        moderation.report(world["reader"], "post", world["post"].id, "abuse")
    assert "already reported" in exc.value.message
    moderation.report(world["reader"], "comment", world["comment"].id, "abuse")  # another target: fine


def test_report_needs_read_access_a_category_and_not_ones_own(world, make):
    p = posts.create(world["social"], world["private"].slug, "discussion", "Private matters here", "x")
    with pytest.raises(NotFound):
        moderation.report(world["reader"], "post", p.id, "spam")
    with pytest.raises(ValidationError) as exc:
        moderation.report(world["reader"], "post", world["post"].id, "nonsense")
    assert "category" in exc.value.errors
    with pytest.raises(ValidationError) as exc:
        moderation.report(world["reader"], "post", world["post"].id, "other", "")
    assert "text" in exc.value.errors
    with pytest.raises(ValidationError):
        moderation.report(world["author"], "post", world["post"].id, "spam")


def test_chat_messages_can_be_reported_and_hidden(world):
    msg, _ = chat.post(world["author"], world["c"].id, "buy my stuff now")
    moderation.report(world["reader"], "chat", msg.id, "spam")
    q = moderation.queue(world["mod"])
    assert [(i.target.type, i.target.id) for i in q.reported] == [("chat", msg.id)]
    moderation.act(world["mod"], "chat", msg.id, "hide", "Advertising")
    m = db.session.get(ChatMessage, msg.id)
    assert m.hidden_at is not None and chat.payload(m)["body_html"] == ""
    with pytest.raises(NotFound):
        moderation.report(world["reader"], "chat", msg.id, "spam")


# --- the queue ----------------------------------------------------------------------------

def test_queue_groups_reports_by_target_and_is_scoped_to_what_one_moderates(world, make):
    moderation.report(world["reader"], "post", world["post"].id, "spam")
    moderation.report(world["mod"], "post", world["post"].id, "spam", "agreed")
    p2 = posts.create(world["social"], world["private"].slug, "discussion", "Private post here", "x")
    moderation.report(world["outsider_mod"], "post", p2.id, "abuse", "hmm")
    q = moderation.queue(world["mod"])
    assert len(q.reported) == 1 and len(q.reported[0].reports) == 2
    assert q.reported[0].target.id == world["post"].id
    everything = moderation.queue(world["social"])
    assert {i.target.id for i in everything.reported} == {world["post"].id, p2.id}
    with pytest.raises(Forbidden):
        moderation.queue(world["reader"])


def test_moderator_of_another_community_cannot_act(world):
    with pytest.raises(Forbidden):
        moderation.act(world["outsider_mod"], "post", world["post"].id, "hide", "no")
    p2 = posts.create(world["social"], world["private"].slug, "discussion", "Private post here", "x")
    with pytest.raises(NotFound):  # cannot even read it
        moderation.act(world["mod"], "post", p2.id, "hide", "no")


# --- hide and restore ---------------------------------------------------------------------

def test_hidden_post_is_gone_for_readers_but_shown_to_moderators(world):
    moderation.report(world["reader"], "post", world["post"].id, "spam")
    with pytest.raises(ValidationError) as exc:
        moderation.act(world["mod"], "post", world["post"].id, "hide", "  ")
    assert "reason" in exc.value.errors
    moderation.act(world["mod"], "post", world["post"].id, "hide", "Advertising", ip="10.0.0.9")
    pid = world["post"].id
    with pytest.raises(NotFound):
        access.post_for(world["reader"], pid)
    with pytest.raises(NotFound):
        access.post_for(world["author"], pid)
    assert access.post_for(world["mod"], pid).post.hidden_at is not None
    reader_acc = access.access_to(world["reader"], world["c"])
    assert pid not in [r.post.id for r in posts.community_page(world["reader"], reader_acc).rows]
    mod_acc = access.access_to(world["mod"], world["c"])
    assert pid in [r.post.id for r in posts.community_page(world["mod"], mod_acc).rows]
    assert db.session.scalar(select(Post.id).where(Post.id == pid, access.readable_posts_clause(world["reader"]))) is None
    assert not access.can_read_post(world["reader"], db.session.get(Post, pid))
    report = db.session.scalar(select(Report))
    assert report.status == "actioned"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "post.hide"))
    assert entry.actor_id == world["mod"].id and entry.reason == "Advertising" and entry.ip == "10.0.0.9"
    assert entry.before == {"hidden": False, "held": False, "locked": False, "community_id": world["c"].id}
    assert entry.after["hidden"] is True
    assert any("hid your post" in n.text for n in notes_of(world["author"], "moderation"))
    # reversible
    moderation.act(world["mod"], "post", pid, "restore", "Was a mistake")
    assert access.post_for(world["reader"], pid).post.hidden_at is None


def test_hidden_comment_shows_a_placeholder_to_readers(world):
    cid = world["comment"].id
    moderation.act(world["mod"], "comment", cid, "hide", "Rude")
    pacc = access.post_for(world["reader"], world["post"].id)
    item = comments.thread(world["reader"], pacc)[0]
    assert not item.show_body and item.is_hidden
    with pytest.raises(NotFound):
        access.comment_for(world["reader"], cid)
    mod_item = comments.thread(world["mod"], access.post_for(world["mod"], world["post"].id))[0]
    assert mod_item.show_body and mod_item.is_hidden


def test_nothing_is_deleted_by_moderation(world):
    pid, cid = world["post"].id, world["comment"].id
    for action in ("hide", "restore"):
        moderation.act(world["mod"], "comment", cid, action, "checking")
        moderation.act(world["mod"], "post", pid, action, "checking")
    assert db.session.get(Post, pid).deleted_at is None
    assert db.session.get(Post, pid).body == "Buy cheap things"


# --- lock, move, edit, dismiss, warn ------------------------------------------------------

def test_locked_post_takes_no_new_comments_until_unlocked(world):
    pid = world["post"].id
    moderation.act(world["mod"], "post", pid, "lock", "Heated")
    with pytest.raises(Forbidden):
        comments.add(world["reader"], pid, "one more")
    comments.add(world["mod"], pid, "Moderators may still write")
    moderation.act(world["mod"], "post", pid, "unlock", "Calmer now")
    comments.add(world["reader"], pid, "one more")


def test_move_only_to_communities_the_moderator_moderates(world, make):
    pid = world["post"].id
    with pytest.raises(ValidationError) as exc:
        moderation.act(world["mod"], "post", pid, "move", "Wrong place", to_slug=world["private"].slug)
    assert "to" in exc.value.errors
    moderation.act(world["mod"], "post", pid, "move", "Wrong place", to_slug=world["other_c"].slug)
    assert db.session.get(Post, pid).community_id == world["other_c"].id
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "post.move"))
    assert entry.before["community_id"] == world["c"].id and entry.after["community_id"] == world["other_c"].id


def test_edit_keeps_a_revision_with_the_reason(world):
    pid = world["post"].id
    moderation.act(world["mod"], "post", pid, "edit", "Removed a price", title="Look at my offer",
                   body="Buy things")
    rev = db.session.scalar(select(Revision).where(Revision.post_id == pid))
    assert rev.body == "Buy cheap things" and rev.reason == "Removed a price"
    assert db.session.get(Post, pid).body == "Buy things"


def test_dismiss_closes_reports_and_warn_tells_the_author(world):
    moderation.report(world["reader"], "comment", world["comment"].id, "abuse")
    moderation.act(world["mod"], "comment", world["comment"].id, "dismiss", "Not abusive")
    assert db.session.scalar(select(Report.status)) == "dismissed"
    with pytest.raises(ValidationError):
        moderation.act(world["mod"], "comment", world["comment"].id, "dismiss", "again")
    # a new report is possible once the first one is closed
    moderation.report(world["reader"], "comment", world["comment"].id, "abuse")
    moderation.act(world["mod"], "comment", world["comment"].id, "warn", "Mind your tone")
    assert any("Mind your tone" in n.text for n in notes_of(world["author"], "moderation"))


# --- suspend, ban, lift -------------------------------------------------------------------

def test_suspension_until_a_date_ends_sessions_and_is_for_the_social_team(world):
    pid = world["post"].id
    until = clock.utcnow() + timedelta(days=3)
    with pytest.raises(Forbidden):
        moderation.act(world["mod"], "post", pid, "suspend", "Spam", until=until)
    version = world["author"].session_version
    with pytest.raises(ValidationError):
        moderation.act(world["social"], "post", pid, "suspend", "Spam", until=clock.utcnow() - timedelta(days=1))
    moderation.act(world["social"], "post", pid, "suspend", "Spam", until=until)
    author = fresh(world["author"])
    assert author.is_suspended and author.session_version == version + 1
    clock.set_now(until + timedelta(minutes=1))
    try:
        assert not fresh(world["author"]).is_suspended
    finally:
        clock.reset()


def test_ban_and_lift_are_audited_and_staff_only_sanctioned_by_admins(world, make):
    pid = world["post"].id
    moderation.act(world["social"], "post", pid, "ban", "Repeated spam")
    assert fresh(world["author"]).suspended_until.year == 9999
    moderation.act(world["social"], "post", pid, "lift", "Appeal accepted")
    assert not fresh(world["author"]).is_suspended
    actions = list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "user")))
    assert actions == ["user.ban", "user.lift"]
    staff_post = posts.create(world["social"], world["c"].slug, "discussion", "Staff writes here", "x")
    other_social = fresh(make.user("employee", is_global_manager=True))
    with pytest.raises(Forbidden):
        moderation.act(other_social, "post", staff_post.id, "ban", "no")


# --- internal notes -----------------------------------------------------------------------

def test_internal_notes_are_for_staff_only(world):
    pid = world["post"].id
    moderation.add_note(world["mod"], pid, "Known spammer, watch")
    for person in ("reader", "author"):
        pacc = access.post_for(world[person], pid)
        assert moderation.notes_for(world[person], pacc) is None
        with pytest.raises(Forbidden):
            moderation.add_note(world[person], pid, "me too")
    notes = moderation.notes_for(world["social"], access.post_for(world["social"], pid))
    assert [n.body for n in notes] == ["Known spammer, watch"]


# --- pages --------------------------------------------------------------------------------

@pytest.fixture
def site(app, make):
    with app.app_context():
        social = make.user("employee", is_global_manager=True)
        community = make.community("open", manager=social)
        mod = make.user("employee")
        make.member(community, mod, "moderator")
        author = make.user("customer")
        reader = make.user("customer")
        a = db.session.get(User, author.id)
        p = posts.create(a, community.slug, "discussion", "A post with problems", "Some text")
        c = comments.add(a, p.id, "A comment with problems")
        return {"social": social, "mod": mod, "author": author, "reader": reader, "post_id": p.id,
                "comment_id": c.id, "slug": community.slug}


def test_report_page_and_queue_page(client, site, app):
    login(client, site["reader"])
    page = client.get(f"/p/{site['post_id']}").get_data(as_text=True)
    assert f"/report/post/{site['post_id']}" in page and f"/report/comment/{site['comment_id']}" in page
    assert "Internal notes" not in page and "/moderation/post/" not in page
    assert client.get("/moderation").status_code == 403
    r = post_form(client, f"/report/post/{site['post_id']}", {"category": "spam", "text": "ad"})
    assert r.status_code == 302
    r = post_form(client, f"/report/post/{site['post_id']}", {"category": "spam"})
    assert r.status_code == 400 and "already reported" in r.get_data(as_text=True)
    login(client, site["mod"])
    page = client.get("/").get_data(as_text=True)
    assert 'href="/moderation"' in page
    q = client.get("/moderation").get_data(as_text=True)
    assert "A post with problems" in q and "1 report" in q
    r = post_form(client, f"/moderation/post/{site['post_id']}/act", {"action": "hide", "reason": ""})
    assert r.status_code == 400 and "State a reason" in r.get_data(as_text=True)
    r = post_form(client, f"/moderation/post/{site['post_id']}/act", {"action": "hide", "reason": "Advert"})
    assert r.status_code == 302
    shown = client.get(f"/p/{site['post_id']}").get_data(as_text=True)
    assert "Hidden" in shown and "Internal notes" in shown
    login(client, site["reader"])
    assert client.get(f"/p/{site['post_id']}").status_code == 404
    assert "A post with problems" not in client.get(f"/c/{site['slug']}").get_data(as_text=True)


def test_target_page_and_actions_need_csrf_and_moderation_rights(client, site):
    login(client, site["reader"])
    assert client.get(f"/moderation/post/{site['post_id']}").status_code == 403
    assert client.post(f"/moderation/post/{site['post_id']}/act", data={"action": "hide", "reason": "x"}).status_code == 400
    login(client, site["mod"])
    page = client.get(f"/moderation/comment/{site['comment_id']}").get_data(as_text=True)
    assert "Open reports" in page and "History" in page
    assert client.post(f"/moderation/comment/{site['comment_id']}/act",
                       data={"action": "hide", "reason": "x"}).status_code == 400  # no CSRF token


def test_notes_box_on_the_post_page(client, site):
    login(client, site["social"])
    r = post_form(client, f"/p/{site['post_id']}/notes", {"note": "Checked with legal"})
    assert r.status_code == 302
    assert "Checked with legal" in client.get(f"/p/{site['post_id']}").get_data(as_text=True)
    login(client, site["author"])
    assert "Checked with legal" not in client.get(f"/p/{site['post_id']}").get_data(as_text=True)
    assert post_form(client, f"/p/{site['post_id']}/notes", {"note": "x"}).status_code == 403


def test_until_in_the_past_is_refused_on_the_page(client, site):
    login(client, site["social"])
    past = (datetime.now() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    r = post_form(client, f"/moderation/post/{site['post_id']}/act",
                  {"action": "suspend", "reason": "spam", "until": past})
    assert r.status_code == 400 and "future" in r.get_data(as_text=True)


def test_hidden_chat_message_shows_a_placeholder_on_the_channel_page(client, app, make):
    social = make.user("employee", is_global_manager=True)
    community = make.community("open", manager=social)
    author, reader = make.user("customer"), make.user("customer")
    with app.app_context():
        msg, _ = chat.post(db.session.get(User, author.id), community.id, "secret sale link here")
        moderation.act(db.session.get(User, social.id), "chat", msg.id, "hide", "Advertising")
    login(client, reader)
    page = client.get(f"/c/{community.slug}/chat").get_data(as_text=True)
    assert "secret sale link here" not in page and "hidden by a moderator" in page


def test_notifications_about_a_hidden_post_disappear_for_readers(world):
    from app.services import notifications

    post = db.session.get(Post, world["post"].id)
    notifications.create("moderation", [world["reader"].id], actor_id=None, post=post, text="About the offer")
    db.session.commit()
    assert notifications.unread_count(world["reader"]) == 1
    moderation.act(world["mod"], "post", post.id, "hide", "Advertising")
    assert notifications.unread_count(world["reader"]) == 0


def test_hiding_and_restoring_a_chat_message_tells_the_channel_live(world, monkeypatch):
    from app import events

    sent = []
    monkeypatch.setattr(events, "publish", lambda name, payload, room: sent.append((name, payload, room)))
    msg, _ = chat.post(world["author"], world["c"].id, "buy my stuff now")
    moderation.act(world["mod"], "chat", msg.id, "hide", "Advertising")
    name, payload, room = sent[-1]
    assert (name, room) == ("chat.updated", msg.room)
    assert payload["hidden"] is True and payload["deleted"] is True and payload["body_html"] == ""
    moderation.act(world["mod"], "chat", msg.id, "restore", "Fair enough")
    payload = sent[-1][1]
    assert payload["hidden"] is False and payload["deleted"] is False and "buy my stuff now" in payload["body_html"]
    chat.delete(world["author"], msg.id)
    assert sent[-1][1]["hidden"] is False and sent[-1][1]["deleted"] is True
