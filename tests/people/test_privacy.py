"""Privacy: the data export (a zip of only what the person authored or owns) and closing an
account (removal or anonymisation, as the setting allows), by the person or an admin."""
from __future__ import annotations

import io
import json
import zipfile

import pytest
from PIL import Image
from sqlalchemy import select

from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import AccountClosure, AuditEntry, ChatMessage, Comment, Community, Follow, Post
from app.services import access, chat
from app.services.content import comments, ideas, posts
from app.services.people import accounts, people, privacy
from app.services.platform import jobs, settings, storage
from tests.conftest import PASSWORD, login
from tests.conftest import post as post_form
from tests.helpers import fresh


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def world(ctx, make):
    community = make.community("open")
    ana = fresh(make.user("customer", name="Ana Lopez", email="ana@customer.example"))
    bob = fresh(make.user("customer", name="Bob Stone"))
    make.member(community, ana)
    make.member(community, bob)
    c = db.session.get(Community, community.id)
    mine = posts.create(ana, c.slug, "idea", "Ana's idea here", "My **own** words")
    theirs = posts.create(bob, c.slug, "discussion", "Bob's private thoughts", "Bob's words")
    comments.add(ana, theirs.id, "Ana comments on Bob")
    comments.add(bob, mine.id, "Bob comments on Ana")
    ideas.toggle_vote(bob, mine.id)
    chat.post(ana, c.id, "Ana says hi in chat")
    chat.post(bob, c.id, "Bob says hi in chat")
    people.set_avatar(ana, _png())
    return {"community": c, "ana": fresh(ana), "bob": fresh(bob), "mine": mine, "theirs": theirs}


def _zip(export) -> zipfile.ZipFile:
    return zipfile.ZipFile(storage.path_for(export.key))


def test_export_holds_only_what_the_person_authored_or_owns(world):
    from app.services.content import asks

    ana = world["ana"]
    asks.ask(ana, world["mine"].id, world["bob"].handle)
    export = privacy.request_export(fresh(ana))
    assert export.status == "queued"
    jobs.drain()
    db.session.refresh(export)
    assert export.status == "ready"
    with _zip(export) as zf:
        names = set(zf.namelist())
        assert {"profile.json", "posts.json", "comments.json", "votes.json", "chat_messages.json",
                "notifications.json", "follows.json", "uploads.json", "asks.json"} <= names
        asked = json.loads(zf.read("asks.json"))
        assert [(a["post_id"], a["person_id"]) for a in asked] == [(world["mine"].id, world["bob"].id)]
        assert asked[0]["created_at"].startswith("20")
        profile = json.loads(zf.read("profile.json"))
        assert profile["email"] == "ana@customer.example" and profile["avatar_file"] in names
        everything = b"".join(zf.read(n) for n in names if n.endswith(".json")).decode()
    assert "Ana's idea here" in everything and "Ana comments on Bob" in everything
    assert "Ana says hi in chat" in everything
    assert "Bob's words" not in everything and "Bob comments on Ana" not in everything
    assert "Bob says hi" not in everything and "bob" not in json.dumps(profile).lower()


def test_only_the_owner_or_the_admin_who_asked_may_download(world, make):
    export = privacy.request_export(world["ana"])
    jobs.drain()
    with pytest.raises(NotFound):
        privacy.export_for(world["bob"], export.id)
    admin = fresh(make.admin())
    with pytest.raises(NotFound):
        privacy.export_for(admin, export.id)  # admins get the ones they asked for
    with pytest.raises(Forbidden):
        privacy.request_export(world["bob"], world["ana"])
    asked = privacy.request_export(admin, world["ana"])
    jobs.drain()
    assert privacy.export_for(admin, asked.id)[0].user_id == world["ana"].id


def test_closing_with_removal_erases_the_person_and_soft_deletes_their_content(world):
    ana = world["ana"]
    avatar = storage.path_for(ana.avatar_key)
    with pytest.raises(ValidationError) as exc:
        privacy.close_account(ana, ana, "remove", password="wrong one")
    assert "password" in exc.value.errors
    privacy.close_account(ana, ana, "remove", password=PASSWORD)
    db.session.expire_all()
    ana = fresh(ana)
    assert ana.display_name == "Former member" and "ana" not in ana.email and ana.avatar_key is None
    assert ana.is_suspended and not avatar.exists()
    assert db.session.get(Post, world["mine"].id).deleted_at is not None
    assert db.session.get(Post, world["theirs"].id).deleted_at is None
    assert all(m.deleted_at for m in db.session.scalars(select(ChatMessage).where(ChatMessage.author_id == ana.id)))
    assert not list(db.session.scalars(select(Follow).where(Follow.user_id == ana.id)))
    with pytest.raises(ValidationError):
        accounts.authenticate("ana@customer.example", PASSWORD)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "account.closed"))
    assert entry.target_id == ana.id and entry.after["mode"] == "remove"
    assert db.session.scalar(select(AccountClosure).where(AccountClosure.user_id == ana.id)).mode == "remove"
    with pytest.raises(ValidationError):
        privacy.close_account(ana, ana, "remove", password=PASSWORD)


def test_closing_with_anonymisation_keeps_content_without_author(world):
    ana = world["ana"]
    privacy.close_account(ana, ana, "anonymise", password=PASSWORD)
    db.session.expire_all()
    post = db.session.get(Post, world["mine"].id)
    assert post.deleted_at is None and post.author_id is None
    assert db.session.scalar(select(Comment).where(Comment.body == "Ana comments on Bob")).author_id is None
    assert db.session.scalar(select(ChatMessage).where(ChatMessage.body == "Ana says hi in chat")).author_id is None


def test_the_setting_limits_the_choice(world, make):
    settings.set_value(fresh(make.admin()), "content_on_delete", "anonymise")
    assert privacy.allowed_modes() == ("anonymise",)
    with pytest.raises(ValidationError) as exc:
        privacy.close_account(world["ana"], world["ana"], "remove", password=PASSWORD)
    assert "mode" in exc.value.errors


def test_admins_close_accounts_on_request_with_a_reason(world, make):
    admin = fresh(make.admin())
    with pytest.raises(Forbidden):
        privacy.close_account(world["bob"], world["ana"], "remove", reason="I want to")
    with pytest.raises(ValidationError):
        privacy.close_account(admin, world["ana"], "remove", reason="")
    privacy.close_account(admin, world["ana"], "remove", reason="Ticket 42: asked by email")
    assert fresh(world["ana"]).display_name == "Former member"


# --- pages --------------------------------------------------------------------------------

def test_data_page_prepares_and_serves_the_zip(app, make, login_as):
    user = make.user("employee")
    client = login_as(user)
    assert client.get("/account/data").status_code == 200
    assert post_form(client, "/account/data").status_code == 302
    with app.app_context():
        jobs.drain()
    html = client.get("/account/data").get_data(as_text=True)
    link = html.split('href="/account/data/')[1].split('"')[0]
    response = client.get("/account/data/" + link)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(response.data)).read("profile.json")
    other = app.test_client()
    login(other, make.user("employee"))
    assert other.get("/account/data/" + link).status_code == 404


def test_close_page_signs_out_and_ends_every_session(app, make, login_as):
    user = make.user("customer")
    client = login_as(user)
    second = app.test_client()
    login(second, user)
    refused = post_form(client, "/account/close", {"mode": "remove", "password": PASSWORD})
    assert refused.status_code == 400 and "Tick this box" in refused.get_data(as_text=True)
    done = post_form(client, "/account/close", {"mode": "remove", "password": PASSWORD, "confirm": "y"})
    assert done.status_code == 302
    assert client.get("/account").status_code == 302
    assert second.get("/account").status_code == 302  # the other device too


def test_admin_person_page_closes_an_account(app, make, login_as):
    person = make.user("customer")
    client = login_as(make.admin())
    assert "Close the account" in client.get(f"/admin/people/{person.id}").get_data(as_text=True)
    response = post_form(client, f"/admin/people/{person.id}/close", {"mode": "anonymise", "reason": "Asked by phone"})
    assert response.status_code == 302
    assert "This account is closed" in client.get(f"/admin/people/{person.id}").get_data(as_text=True)


def test_a_closed_account_leaves_the_directory_and_its_profile(world, make):
    ana, bob = world["ana"], world["bob"]
    colleague = fresh(make.user("employee", name="Eva Colleague"))
    assert ana.id in [p.id for p in people.directory(colleague).people]
    privacy.close_account(ana, ana, "anonymise", password=PASSWORD)
    db.session.expire_all()
    for viewer in (fresh(colleague), fresh(bob)):
        assert ana.id not in [p.id for p in people.directory(viewer).people]
        with pytest.raises(NotFound):
            access.person_for(viewer, fresh(ana).handle)


def test_a_closed_account_cannot_be_reactivated(world, make):
    ana = world["ana"]
    admin = fresh(make.admin())
    privacy.close_account(ana, ana, "anonymise", password=PASSWORD)
    with pytest.raises(ValidationError, match="closed"):
        accounts.unsuspend(admin, fresh(ana))
    db.session.rollback()
    assert fresh(ana).suspended_until is not None


def test_closing_the_only_managers_account_asks_the_social_team_for_a_new_one(ctx, make):
    from app.models import Notification

    lead = fresh(make.user("employee", name="Lena Lead"))
    co_lead = fresh(make.user("employee", name="Carl Colead"))
    alone = make.community("open", manager=lead, name="Returns")
    shared = make.community("open", manager=lead, name="Shipping")
    make.member(shared, co_lead, "manager")
    make.member(make.community("open", name="Elsewhere"), lead)
    team = fresh(make.user("employee", name="Sofia Social", is_global_manager=True))
    assert [c.name for c in privacy.sole_managed(fresh(lead))] == ["Returns"]

    privacy.close_account(fresh(lead), fresh(lead), "anonymise", password=PASSWORD)

    told = db.session.scalars(select(Notification).where(Notification.kind == "community_manager")).all()
    # every social-team member (the factory made one per community), once, about Returns only
    assert team.id in {n.user_id for n in told}
    assert {n.community_id for n in told} == {alone.id}
    assert len(told) == len({n.user_id for n in told})
    assert all(n.text.startswith("Returns has no manager any more") and "Lena" not in n.text for n in told)
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "account.closed")).one()
    assert entry.after["communities_without_manager"] == [alone.id]
    assert privacy.sole_managed(fresh(co_lead)) == [db.session.get(Community, shared.id)]


def test_close_pages_name_the_communities_only_this_person_manages(app, make, login_as):
    lead = make.user("employee", name="Lena Lead")
    make.community("open", manager=lead, name="Returns desk")
    page = login_as(lead).get("/account/close").get_data(as_text=True)
    assert "You are the only manager of 1 community" in page and "Returns desk" in page
    admin_page = login_as(make.admin()).get(f"/admin/people/{lead.id}").get_data(as_text=True)
    assert "The only manager of" in admin_page and "Returns desk" in admin_page
    quiet = login_as(make.user("employee")).get("/account/close").get_data(as_text=True)
    assert "only manager" not in quiet


def test_the_social_teams_notification_opens_the_members_page(app, make, login_as):
    lead = make.user("employee", name="Lena Lead")
    community = make.community("open", manager=lead, name="Returns desk")
    team = make.user("employee", is_global_manager=True)
    with app.app_context():
        privacy.close_account(fresh(lead), fresh(lead), "remove", password=PASSWORD)
    client = login_as(team)
    listing = client.get("/notifications").get_data(as_text=True)
    assert "Returns desk has no manager any more: its only manager closed their account" in listing
    with app.app_context():
        from app.models import Notification

        note = db.session.scalars(select(Notification).where(Notification.user_id == team.id,
                                                             Notification.kind == "community_manager")).one()
    response = post_form(client, f"/notifications/{note.id}/open", {})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/c/{community.slug}/members")
