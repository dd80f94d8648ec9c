"""Pre-moderation: watched words and patterns (global and per community) that block or hold,
holding the first posts of new external accounts, a link limit for new accounts, and the
warning about personal or confidential data in communities externals can read; held posts and
comments seen only by their author and moderators until approved."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import clock
from app.errors import Forbidden, ValidationError
from app.extensions import db
from app.models import AuditEntry, Community, Notification, Post, User
from app.services import access, moderation
from app.services.content import comments, posts, premoderation
from tests.conftest import login
from tests.conftest import post as post_form
from tests.helpers import fresh


@pytest.fixture
def world(ctx, make):
    social = fresh(make.user("employee", is_global_manager=True))
    c = make.community("open", manager=social)
    internal = make.community("internal", manager=social)
    mod = fresh(make.user("employee"))
    make.member(c, mod, "moderator")
    return {"social": social, "c": db.session.get(Community, c.id), "mod": mod,
            "internal": db.session.get(Community, internal.id),
            "customer": fresh(make.user("customer")), "employee": fresh(make.user("employee"))}


def _old(user):
    user.created_at = clock.utcnow() - timedelta(days=365)
    db.session.commit()
    return user


def test_block_rule_refuses_with_its_public_message(world):
    premoderation.add_rule(world["social"], None, "CompetitorX", "block", "Do not name competitors here.")
    with pytest.raises(ValidationError) as exc:
        posts.create(world["customer"], world["c"].slug, "discussion", "Better than competitorx?", "hm")
    assert "Do not name competitors here." in exc.value.errors["body"]
    with pytest.raises(ValidationError):
        comments.add(world["customer"], posts.create(world["employee"], world["c"].slug, "discussion",
                                                     "A fine title", "x").id, "CompetitorX rocks")
    with pytest.raises(ValidationError) as exc:
        premoderation.add_rule(world["social"], None, "x", "block", "")
    assert "public_message" in exc.value.errors
    with pytest.raises(ValidationError) as exc:
        premoderation.add_rule(world["social"], None, "(unclosed", "hold", is_regex=True)
    assert "pattern" in exc.value.errors


def test_hold_rule_keeps_the_post_for_review_until_approved(world):
    _old(world["customer"])
    premoderation.add_rule(world["social"], world["c"].slug, r"refund\s+now", "hold",
                           is_regex=True)
    p = posts.create(world["customer"], world["c"].slug, "discussion", "I want a refund NOW", "please")
    assert p.held_at is not None
    with pytest.raises(Exception):
        access.post_for(world["employee"], p.id)
    assert access.post_for(world["customer"], p.id).post.id == p.id  # the author sees it
    reader_acc = access.access_to(world["employee"], world["c"])
    assert p.id not in [r.post.id for r in posts.community_page(world["employee"], reader_acc).rows]
    q = moderation.queue(world["mod"])
    assert [i.target.id for i in q.held] == [p.id]
    moderation.act(world["mod"], "post", p.id, "approve")
    assert access.post_for(world["employee"], p.id).post.held_at is None
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.action == "post.approve"))
    told = db.session.scalars(select(Notification.text).where(Notification.user_id == world["customer"].id))
    assert any("approved" in t for t in told)


def test_rejected_post_is_hidden_and_can_be_restored(world):
    _old(world["customer"])
    premoderation.add_rule(world["social"], None, "casino", "hold")
    p = posts.create(world["customer"], world["c"].slug, "discussion", "Visit my casino", "x")
    moderation.act(world["mod"], "post", p.id, "reject", "Advertising")
    post = db.session.get(Post, p.id)
    assert post.held_at is None and post.hidden_at is not None
    moderation.act(world["mod"], "post", p.id, "restore", "Changed our mind")
    assert access.post_for(world["employee"], p.id)


def test_held_comment_is_not_counted_until_approved(world):
    _old(world["customer"])
    premoderation.add_rule(world["social"], None, "idiot", "hold")
    p = posts.create(world["employee"], world["c"].slug, "discussion", "What do you think", "x")
    c = comments.add(world["customer"], p.id, "you idiot")
    assert c.held_at is not None and db.session.get(Post, p.id).comment_count == 0
    assert comments.thread(world["employee"], access.post_for(world["employee"], p.id)) == []
    assert len(comments.thread(world["customer"], access.post_for(world["customer"], p.id))) == 1
    moderation.act(world["mod"], "comment", c.id, "approve")
    assert db.session.get(Post, p.id).comment_count == 1
    assert len(comments.thread(world["employee"], access.post_for(world["employee"], p.id))) == 1


def test_first_posts_of_external_accounts_are_held_per_community(world):
    premoderation.save_settings(world["social"], world["c"].slug, hold_first_posts=1, confidential_words="")
    _old(world["customer"])
    first = posts.create(world["customer"], world["c"].slug, "discussion", "Hello everybody", "x")
    assert first.held_at is not None
    emp = posts.create(world["employee"], world["c"].slug, "discussion", "Employees are not held", "x")
    assert emp.held_at is None
    moderation.act(world["mod"], "post", first.id, "approve")
    second = posts.create(world["customer"], world["c"].slug, "discussion", "Hello again", "x")
    assert second.held_at is None
    with pytest.raises(Forbidden):
        premoderation.save_settings(world["mod"], world["c"].slug, hold_first_posts=3, confidential_words="")
    with pytest.raises(ValidationError):
        premoderation.save_settings(world["social"], world["c"].slug, hold_first_posts=-1, confidential_words="")


def test_new_accounts_may_include_only_a_few_links(world, app):
    app.config["NEW_ACCOUNT_DAYS"], app.config["NEW_ACCOUNT_MAX_LINKS"] = 7, 1
    body = "see https://a.example and https://b.example"
    with pytest.raises(ValidationError) as exc:
        posts.create(world["customer"], world["c"].slug, "discussion", "Two links here", body)
    assert "at most 1 link" in exc.value.errors["body"]
    _old(world["customer"])
    posts.create(world["customer"], world["c"].slug, "discussion", "Two links here", body)


@pytest.mark.parametrize("text, found", [
    ("mail me at jan.jansen@example.com", "an email address"),
    ("call +31 6 1234 5678 tonight", "a phone number"),
    ("pay to NL91 ABNA 0417 1643 00 please", "a bank account number (IBAN)"),
])
def test_personal_data_is_detected(text, found):
    assert found in premoderation.sensitive_findings(text)


def test_ordinary_text_is_not_flagged():
    assert premoderation.sensitive_findings("We shipped 12 parcels on 2024-05-01, version 3.2.1, NL91 nonsense") == []


def test_warning_in_communities_externals_read_until_confirmed(world):
    _old(world["employee"])
    body = "Contact me: jan@acme.example"
    with pytest.raises(ValidationError) as exc:
        posts.create(world["employee"], world["c"].slug, "discussion", "Contact details", body)
    assert "email address" in exc.value.errors["confirm_sensitive"]
    p = posts.create(world["employee"], world["c"].slug, "discussion", "Contact details", body, confirm_sensitive=True)
    assert p.held_at is None
    # internal community without externals: no warning
    posts.create(world["employee"], world["internal"].slug, "discussion", "Contact details", body)
    premoderation.save_settings(world["social"], None, hold_first_posts=0, confidential_words="Project Falcon")
    with pytest.raises(ValidationError) as exc:
        comments.add(world["employee"], p.id, "Any news on project falcon?")
    assert "Project Falcon" in exc.value.errors["confirm_sensitive"]


def test_rules_can_be_switched_off_and_scopes_are_guarded(world):
    rule = premoderation.add_rule(world["social"], None, "casino", "block", "No gambling.")
    with pytest.raises(Forbidden):
        premoderation.add_rule(world["mod"], None, "x", "hold")
    with pytest.raises(Forbidden):
        premoderation.add_rule(world["mod"], world["c"].slug, "x", "hold")  # moderators do not manage
    premoderation.set_rule_active(world["social"], rule.id, False)
    posts.create(world["employee"], world["c"].slug, "discussion", "Casino night at the office", "fun")


# --- pages --------------------------------------------------------------------------------

def test_post_form_shows_the_warning_and_keeps_the_text(client, make, app):
    social = make.user("employee", is_global_manager=True)
    c = make.community("open", manager=social)
    login(client, social)
    data = {"kind": "discussion", "title": "Call me maybe", "body": "My number is +31 6 1234 5678"}
    r = post_form(client, f"/c/{c.slug}/new", data)
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "a phone number" in html and "+31 6 1234 5678" in html
    assert 'name="confirm_sensitive"' in html
    r = post_form(client, f"/c/{c.slug}/new", {**data, "confirm_sensitive": "y"})
    assert r.status_code == 302


def test_comment_form_shows_the_warning_and_keeps_the_text(client, make, app):
    social = make.user("employee", is_global_manager=True)
    c = make.community("open", manager=social)
    with app.app_context():
        p = posts.create(db.session.get(User, social.id), c.slug, "discussion", "A good topic", "x")
        pid = p.id
    login(client, social)
    r = post_form(client, f"/p/{pid}/comments", {"body": "write to a@b.example"})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "an email address" in html and "write to a@b.example" in html
    assert 'name="confirm_sensitive"' in html
    assert post_form(client, f"/p/{pid}/comments", {"body": "write to a@b.example",
                                                     "confirm_sensitive": "1"}).status_code == 302


def test_rules_pages(client, make, app):
    social = make.user("employee", is_global_manager=True)
    c = make.community("open", manager=social)
    member = make.user("employee")
    make.member(c, member)
    login(client, member)
    assert client.get(f"/c/{c.slug}/moderation/rules").status_code == 403
    assert client.get("/moderation/rules").status_code == 403
    login(client, social)
    r = post_form(client, f"/c/{c.slug}/moderation/rules", {"form": "rule", "pattern": "casino", "action": "block",
                                                            "public_message": "No gambling talk."})
    assert r.status_code == 302
    page = client.get(f"/c/{c.slug}/moderation/rules").get_data(as_text=True)
    assert "casino" in page and "No gambling talk." in page
    r = post_form(client, "/moderation/rules", {"form": "rule", "pattern": "", "action": "hold"})
    assert r.status_code == 400 and "Enter a word" in r.get_data(as_text=True)
    r = post_form(client, f"/c/{c.slug}/moderation/rules", {"form": "settings", "hold_first_posts": "2",
                                                            "confidential_words": "Falcon"})
    assert r.status_code == 302


def test_held_post_page_and_queue_page(client, make, app):
    social = make.user("employee", is_global_manager=True)
    c = make.community("open", manager=social)
    mod, author, reader = make.user("employee"), make.user("customer"), make.user("customer")
    make.member(c, mod, "moderator")
    with app.app_context():
        premoderation.save_settings(db.session.get(User, social.id), c.slug, hold_first_posts=1, confidential_words="")
    login(client, author)
    r = post_form(client, f"/c/{c.slug}/new", {"kind": "discussion", "title": "My first post here", "body": "hi"})
    assert r.status_code == 302
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "waits for a moderator" in page and "Waiting for review" in page
    with app.app_context():
        pid = db.session.scalar(select(Post.id).where(Post.title == "My first post here"))
    login(client, reader)
    assert client.get(f"/p/{pid}").status_code == 404
    login(client, mod)
    queue = client.get("/moderation").get_data(as_text=True)
    assert "Waiting for review (1)" in queue and "My first post here" in queue
    r = post_form(client, f"/moderation/post/{pid}/act", {"action": "approve", "reason": "", "next": "queue"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/moderation")
    login(client, reader)
    assert client.get(f"/p/{pid}").status_code == 200


def test_reply_form_offers_the_confirmation_too(client, make, app):
    social = make.user("employee", is_global_manager=True)
    c = make.community("open", manager=social)
    with app.app_context():
        s = db.session.get(User, social.id)
        p = posts.create(s, c.slug, "discussion", "A good topic", "x")
        top = comments.add(s, p.id, "first")
        pid, cid = p.id, top.id
    login(client, social)
    r = post_form(client, f"/p/{pid}/comments", {"body": "ring 020 123 4567", "parent_id": str(cid)})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and f'id="reply-{cid}-confirm"' in html and "ring 020 123 4567" in html
