"""The audit log: staff actions (admin roles and suspensions, community roles and removals,
idea status changes, expert assignments, moderation) write one entry each with actor, target,
before/after, reason and IP; entries cannot be changed or deleted; /admin/audit is for admins,
filters and pages with a keyset cursor."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import clock
from app.errors import Forbidden, ValidationError
from app.extensions import db
from app.models import AuditEntry, Community, Topic, User
from app.models.audit import AuditLogImmutable
from app.services.community import communities
from app.services.content import ideas, posts
from app.services.experts import experts
from app.services.people import accounts
from app.services.platform import audit
from tests.conftest import login
from tests.conftest import post as post_form
from tests.helpers import fresh


def _entries(action=None):
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return list(db.session.scalars(stmt))


def test_admin_suspension_and_roles_are_audited_with_ip(ctx, make):
    admin, person = fresh(make.admin()), fresh(make.user("employee"))
    accounts.suspend(admin, person, clock.utcnow() + timedelta(days=1), "Cooling off", ip="192.0.2.1")
    accounts.unsuspend(admin, person, ip="192.0.2.1")
    accounts.set_global_roles(admin, person, is_admin=False, is_global_manager=True, is_management=False)
    suspend, lift, roles = _entries("user.suspend")[0], _entries("user.unsuspend")[0], _entries("user.roles_change")[0]
    assert (suspend.actor_id, suspend.target_type, suspend.target_id) == (admin.id, "user", person.id)
    assert suspend.reason == "Cooling off" and suspend.ip == "192.0.2.1" and suspend.before["suspended_until"] is None
    assert lift.after == {"suspended_until": None}
    assert roles.before["is_global_manager"] is False and roles.after["is_global_manager"] is True


def test_community_role_changes_and_removals_are_audited(ctx, make):
    manager = fresh(make.user("employee", is_global_manager=True))
    c = make.community("open", manager=manager)
    person = fresh(make.user("employee"))
    communities.add_member(manager, c.slug, person)
    communities.set_role(manager, c.slug, person.id, "moderator", ip="198.51.100.7")
    communities.remove_member(manager, c.slug, person.id)
    change = _entries("community.role_change")[0]
    assert change.before == {"user_id": person.id, "role": "member"} and change.after["role"] == "moderator"
    assert change.ip == "198.51.100.7"
    assert _entries("community.member_remove")[0].before["role"] == "moderator"


def test_idea_status_and_expert_assignment_are_audited(ctx, make):
    manager = fresh(make.user("employee", is_global_manager=True))
    c = make.community("open", manager=manager, topics=("Apps",))
    community = db.session.get(Community, c.id)
    topic = db.session.scalar(select(Topic).where(Topic.community_id == community.id))
    idea = posts.create(manager, community.slug, "idea", "Dark mode for the app", "Please", [topic.id])
    ideas.change_status(manager, idea.id, "planned", "We will build it.", ip="203.0.113.5")
    entry = _entries("idea.status_change")[0]
    assert entry.before == {"status": "new"} and entry.after["status"] == "planned" and entry.ip == "203.0.113.5"
    expert = fresh(make.user("employee"))
    row = experts.assign(manager, community.slug, topic.slug, expert)
    experts.remove(manager, community.slug, topic.slug, row.id)
    assert _entries("expert.assign")[0].after["user_id"] == expert.id
    assert _entries("expert.remove")[0].before["user_id"] == expert.id


def test_entries_cannot_be_changed_or_deleted(ctx, make):
    admin = fresh(make.admin())
    entry = audit.record(admin, "test.thing", "site", None, after={"x": 1})
    db.session.commit()
    with pytest.raises(ValidationError):
        audit.change(admin, entry.id, reason="rewritten")
    with pytest.raises(ValidationError):
        audit.remove(admin, entry.id)
    entry.reason = "rewritten"
    with pytest.raises(AuditLogImmutable):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(AuditLogImmutable):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEntry, entry.id).reason is None


def test_page_filters_and_keyset_pagination(ctx, make):
    admin, other = fresh(make.admin()), fresh(make.admin())
    for i in range(5):
        audit.record(admin, "a.one", "user", i)
    audit.record(other, "a.two", "post", 99)
    db.session.commit()
    first = audit.page(admin, audit.Filters(action="a.one"), limit=3)
    assert [e.target_id for e in first.rows] == [4, 3, 2] and first.next_cursor
    second = audit.page(admin, audit.Filters(action="a.one"), cursor=first.next_cursor, limit=3)
    assert [e.target_id for e in second.rows] == [1, 0] and second.next_cursor is None
    by_actor = audit.page(admin, audit.Filters(actor=other.handle))
    assert [e.action for e in by_actor.rows] == ["a.two"]
    assert [e.target_id for e in audit.page(admin, audit.Filters(target_type="post")).rows] == [99]
    tomorrow = (clock.utcnow() + timedelta(days=1)).date()
    assert audit.page(admin, audit.Filters(since=tomorrow)).rows == []
    with pytest.raises(Forbidden):
        audit.page(fresh(make.user("employee", is_global_manager=True)), audit.Filters())


def test_audit_page_is_for_admins(client, make, app):
    admin = make.admin()
    social = make.user("employee", is_global_manager=True)
    with app.app_context():
        audit.record(db.session.get(User, admin.id), "user.suspend", "user", 7, reason="Spamming <b>", ip="10.1.1.1")
        db.session.commit()
    login(client, social)
    assert client.get("/admin/audit").status_code == 403
    login(client, admin)
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "user.suspend" in page and "Spamming &lt;b&gt;" in page and "10.1.1.1" in page
    assert client.get("/admin/audit?action=other").get_data(as_text=True).count("user.suspend") == 1  # option only
    assert client.get("/admin/audit?since=garbage").status_code == 400


def test_admin_views_pass_the_ip(client, make, app):
    admin, person = make.admin(), make.user("customer")
    login(client, admin)
    r = post_form(client, f"/admin/people/{person.id}/suspend", {"reason": "Spam", "until": ""},
                  environ_base={"REMOTE_ADDR": "192.0.2.44"})
    assert r.status_code == 302
    with app.app_context():
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.suspend"))
        assert entry.ip == "192.0.2.44" and entry.actor_id == admin.id


def test_audit_page_reads_as_words_and_links_what_it_names(client, make, app):
    """No raw JSON: details are "label: before → after" lines; the post, the comment (at its
    anchor on its post), the person and the community an entry names are links when the viewer
    may open them, and a label when not (a deleted post, a person who is gone)."""
    import re
    from html import unescape

    from app.services import moderation
    from app.services.content import comments

    admin = make.admin()
    manager = make.user("employee", is_global_manager=True, name="Mia Manager")
    c = make.community("open", manager=manager, name="Returns Lab", topics=("Apps",))
    person = make.user("employee", name="Pat Person")
    with app.app_context():
        m = fresh(manager)
        topic = db.session.scalar(select(Topic.id).where(Topic.community_id == c.id))
        idea = posts.create(m, c.slug, "idea", "Cheaper returns", "", [topic])
        gone = posts.create(m, c.slug, "idea", "Soon deleted", "", [topic])
        comment = comments.add(fresh(person), idea.id, "A comment to moderate")
        communities.add_member(m, c.slug, fresh(person))
        communities.set_role(m, c.slug, person.id, "moderator")
        ideas.change_status(m, idea.id, "planned", "We plan it")
        ideas.change_status(m, gone.id, "planned", "Also planned")
        moderation.act(m, "comment", comment.id, "hide", "Off topic")
        posts.delete(m, gone.id)
        audit.record(m, "user.note", "user", 999_999, before={"user_id": 999_999}, after=None)
        db.session.commit()
        idea_id, gone_id, comment_id = idea.id, gone.id, comment.id
        handle = fresh(person).handle
    login(client, admin)
    page = client.get("/admin/audit").get_data(as_text=True)
    table = page.split('<table class="audit-table">')[1].split("</table>")[0]
    assert "{&#34;" not in table and '{"' not in unescape(table)  # no JSON anywhere
    assert f'href="/p/{idea_id}">“Cheaper returns”</a>' in table  # the status change's post
    assert f'href="/p/{idea_id}#c{comment_id}">Comment on “Cheaper returns”</a>' in table
    assert f'href="/people/{handle}">Pat Person</a>' in table  # the role change's person
    assert f'href="/c/{c.slug}">Returns Lab</a>' in table  # the role change's community
    assert re.search(r"Role: member → moderator", unescape(table))
    assert re.search(r"Status: new → planned", unescape(table))
    assert "“Soon deleted”" in table and f'href="/p/{gone_id}"' not in table  # deleted: no link
    assert "Merged into" not in table  # an empty field says nothing
    assert "#999999 (removed)" in table
