"""The social policy: versioned guidelines, acceptance before writing, material changes."""
from __future__ import annotations

import pytest

from app.errors import Forbidden, ValidationError
from app.extensions import db
from app.models import Community, GuidelineVersion, User
from app.services import chat
from app.services.community import policy
from app.services.content import comments, posts
from tests.conftest import post as post_form
from tests.helpers import fresh


@pytest.fixture
def world(ctx, make):
    social = make.user("employee", is_global_manager=True)
    manager = make.user("employee")
    community = make.community("open", manager=manager)
    member = make.user("customer")
    make.member(community, member)
    return {"social": fresh(social), "manager": fresh(manager), "member": fresh(member),
            "community": db.session.get(Community, community.id)}


def test_without_guidelines_nobody_has_to_accept_anything(world):
    p = posts.create(world["member"], world["community"].slug, "discussion", "Hello there", "Hi")
    assert p.id


def test_posting_commenting_and_chatting_need_the_current_guidelines_accepted(world):
    c, member = world["community"], world["member"]
    p = posts.create(world["manager"], c.slug, "discussion", "Before the rules", "text")
    policy.save(world["social"], "# Be kind\nNo spam.")
    with pytest.raises(ValidationError) as exc:
        posts.create(member, c.slug, "discussion", "My first post", "text")
    assert "accept" in exc.value.errors["accept_guidelines"]
    with pytest.raises(ValidationError):
        comments.add(member, p.id, "a comment")
    with pytest.raises(ValidationError):
        chat.post(member, c.id, "hello chat")
    policy.accept(member, c.id)
    assert posts.create(member, c.slug, "discussion", "My first post", "text").id
    assert comments.add(member, p.id, "a comment").id
    assert chat.post(member, c.id, "hello chat")[0].id


def test_a_material_change_asks_again_a_minor_one_does_not(world):
    c, member = world["community"], world["member"]
    policy.save(world["social"], "Version one")
    policy.accept(member, c.id)
    policy.save(world["social"], "Version one, typo fixed", material=False)
    assert policy.has_accepted(member, None)
    policy.save(world["social"], "Version three: new rules", material=True)
    assert not policy.has_accepted(member, None)
    with pytest.raises(ValidationError):
        posts.create(member, c.slug, "discussion", "Another post", "text")
    versions = policy.history(None)
    assert [v.number for v in versions] == [3, 2, 1] and [v.material for v in versions] == [True, False, True]


def test_community_guidelines_are_edited_by_its_managers_and_accepted_per_community(world, make):
    c, member = world["community"], world["member"]
    with pytest.raises(Forbidden):
        policy.save(member, "My rules", slug=c.slug)
    with pytest.raises(Forbidden):
        policy.save(world["manager"], "Global rules by a manager")  # global: the social team only
    policy.save(world["manager"], "In this community we speak English.", slug=c.slug)
    assert not policy.has_accepted(member, c.id) and policy.has_accepted(member, None)
    other = make.community("open")
    assert posts.create(member, other.slug, "discussion", "Elsewhere is fine", "x").id
    with pytest.raises(ValidationError):
        posts.create(member, c.slug, "discussion", "Here it is not", "x")
    community = policy.accept_in(member, c.slug)
    assert community.id == c.id and policy.has_accepted(member, c.id)
    # global and community guidelines together: both pending, listed global first, each accepted on its own
    policy.save(world["social"], "Be kind everywhere.")
    policy.save(world["manager"], "In this community we speak English. Really.", slug=c.slug)
    assert [v.community_id for v in policy.pending_for(member, c.id).versions] == [None, c.id]
    assert [v.community_id for v in policy.pending_for(member, other.id).versions] == [None]
    policy.accept(member)
    assert [v.community_id for v in policy.pending_for(member, c.id).versions] == [c.id]
    assert not policy.pending_for(member, other.id)


def test_saving_is_recorded_in_the_audit_log(world):
    from sqlalchemy import select

    from app.models import AuditEntry

    policy.save(world["social"], "Rules")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "guidelines.saved"))
    assert entry is not None and entry.actor_id == world["social"].id


# --- pages --------------------------------------------------------------------------------

def test_post_form_shows_guidelines_and_the_accept_box(app, make, login_as):
    social = make.user("employee", is_global_manager=True)
    community = make.community("open")
    member = make.user("customer")
    make.member(community, member)
    with app.app_context():
        policy.save(db.session.get(User, social.id), "**Be kind** to each other.")
    client = login_as(member)
    html = client.get(f"/c/{community.slug}/new").get_data(as_text=True)
    assert "<strong>Be kind</strong>" in html and 'name="accept_guidelines"' in html
    data = {"kind": "discussion", "title": "A fine title", "body": "text"}
    refused = post_form(client, f"/c/{community.slug}/new", data)
    assert refused.status_code == 400 and "accept the community guidelines" in refused.get_data(as_text=True)
    ok = post_form(client, f"/c/{community.slug}/new", data | {"accept_guidelines": "y"})
    assert ok.status_code == 302
    assert "accept_guidelines" not in client.get(f"/c/{community.slug}/new").get_data(as_text=True)


def test_guidelines_pages_edit_history_and_accept(app, make, login_as):
    social = make.user("employee", is_global_manager=True)
    client = login_as(social)
    assert "no guidelines yet" in client.get("/guidelines").get_data(as_text=True)
    assert post_form(client, "/guidelines/edit", {"body": "Rule one"}).status_code == 302
    assert post_form(client, "/guidelines/edit", {"body": "Rule one and two", "material": "y",
                                                  "note": "added two"}).status_code == 302
    html = client.get("/guidelines/history").get_data(as_text=True)
    assert "Version 2" in html and "Version 1" in html and "added two" in html
    member = make.user("customer")
    other = app.test_client()
    from tests.conftest import login

    login(other, member)
    assert other.get("/guidelines/edit").status_code == 403
    page = other.get("/guidelines").get_data(as_text=True)
    assert "Rule one and two" in page and "I accept the guidelines" in page
    assert post_form(other, "/guidelines/accept").status_code == 302
    assert "You accepted these guidelines" in other.get("/guidelines").get_data(as_text=True)
    with app.app_context():
        assert db.session.query(GuidelineVersion).count() == 2


def test_community_guidelines_of_a_private_community_are_not_found_for_outsiders(app, make, login_as):
    community = make.community("private")
    client = login_as(make.user("customer"))
    assert client.get(f"/c/{community.slug}/guidelines").status_code == 404
    assert post_form(client, f"/c/{community.slug}/guidelines/accept").status_code == 404
