"""Invitations for customers and partners: the service rules, then the pages end to end."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app import clock
from app.errors import Forbidden, Gone, NotFound, ValidationError
from app.extensions import db
from app.models import Invitation, Membership, User, UserKind
from app.services.community import invitations
from app.services.people import accounts
from app.services.platform import jobs, mail
from tests.conftest import PASSWORD, post
from tests.helpers import fresh

NEW = "amber lantern over the bay"


def _is_member(user_id: int, community_id: int) -> bool:
    return db.session.scalar(select(Membership.id).where(
        Membership.user_id == user_id, Membership.community_id == community_id)) is not None


# --- service rules ------------------------------------------------------------------------

def test_manager_invites_a_customer_who_accepts_and_joins(ctx, make):
    manager = make.user("employee")
    private = make.community("private", manager=manager)
    invitation, token = invitations.create(fresh(manager), "Carla@Customer.example", "customer", [private.slug], "Welcome!")
    assert invitation.email == "carla@customer.example"
    assert token not in invitation.token_hash  # only a hash is stored
    jobs.drain()
    [message] = mail.outbox()
    assert message["To"] == "carla@customer.example"
    assert f"/invite/{token}" in message.get_content() and private.name in message.get_content()

    user = invitations.accept(token, "Carla Rossi", NEW)
    assert user.kind == UserKind.CUSTOMER and user.email_verified_at is not None
    assert _is_member(user.id, private.id)
    assert accounts.authenticate("carla@customer.example", NEW).id == user.id
    with pytest.raises(Gone, match="already used"):
        invitations.accept(token, "Someone Else", NEW)


def test_only_managers_and_staff_invite_and_only_where_they_manage(ctx, make):
    manager = make.user("employee")
    mine = make.community("private", manager=manager)
    theirs = make.community("open")
    with pytest.raises(Forbidden):
        invitations.create(fresh(make.user("employee")), "x@customer.example", "customer")
    with pytest.raises(Forbidden):
        invitations.create(fresh(make.user("customer")), "x@customer.example", "customer")
    with pytest.raises(Forbidden):
        invitations.create(fresh(manager), "x@customer.example", "customer", [mine.slug, theirs.slug])
    assert db.session.scalar(select(db.func.count()).select_from(Invitation)) == 0


def test_invitations_refuse_internal_communities_employees_and_existing_accounts(ctx, make):
    staff = fresh(make.user("employee", is_global_manager=True))
    internal = make.community("internal", manager=staff)
    with pytest.raises(ValidationError) as err:
        invitations.create(staff, "x@customer.example", "customer", [internal.slug])
    assert "internal" in err.value.errors["communities"]
    with pytest.raises(ValidationError) as err:
        invitations.create(staff, "x@customer.example", "employee")
    assert "kind" in err.value.errors
    existing = make.user("customer")
    with pytest.raises(ValidationError) as err:
        invitations.create(staff, existing.email.upper(), "partner")
    assert "already has an account" in err.value.errors["email"]
    with pytest.raises(ValidationError) as err:
        invitations.create(staff, "not an address", "partner")
    assert "email" in err.value.errors


def test_links_expire_and_can_be_revoked(ctx, app, make):
    start = datetime(2030, 1, 1)
    clock.set_now(start)
    staff = fresh(make.user("employee", is_global_manager=True))
    _, token = invitations.create(staff, "late@customer.example", "customer")
    clock.set_now(start + timedelta(days=app.config["INVITATION_DAYS"], seconds=1))
    with pytest.raises(Gone, match="expired"):
        invitations.accept(token, "Late", NEW)
    clock.set_now(start)
    revoked, token2 = invitations.create(staff, "rev@customer.example", "partner")
    invitations.revoke(staff, revoked.id)
    with pytest.raises(Gone):
        invitations.for_token(token2)
    with pytest.raises(NotFound):
        invitations.for_token("no-such-token")


def test_only_the_creator_or_staff_revoke_and_list(ctx, make):
    a, b = make.user("employee"), make.user("employee")
    make.community("open", manager=a)
    make.community("open", manager=b)
    inv, _ = invitations.create(fresh(a), "one@customer.example", "customer")
    with pytest.raises(NotFound):
        invitations.revoke(fresh(b), inv.id)
    assert [i.id for i in invitations.sent_by(fresh(a))] == [inv.id]
    assert invitations.sent_by(fresh(b)) == []
    assert [i.id for i in invitations.sent_by(fresh(make.admin()))] == [inv.id]


def test_accept_as_signed_in_person_with_the_same_address(ctx, make):
    staff = fresh(make.user("employee", is_global_manager=True))
    private = make.community("private", manager=staff)
    _, token = invitations.create(staff, "dora@partner.example", "partner", [private.slug])
    dora = fresh(make.user("partner", email="dora@partner.example"))  # signed up meanwhile
    other = fresh(make.user("partner"))
    with pytest.raises(ValidationError):
        invitations.accept_as(other, token)
    invitations.accept_as(dora, token)
    assert _is_member(dora.id, private.id)
    with pytest.raises(Gone):
        invitations.accept_as(dora, token)


def test_accept_refuses_a_weak_password_and_keeps_the_invitation(ctx, make):
    staff = fresh(make.user("employee", is_global_manager=True))
    _, token = invitations.create(staff, "eli@customer.example", "customer")
    with pytest.raises(ValidationError) as err:
        invitations.accept(token, "Eli", "short")
    assert "password" in err.value.errors
    assert invitations.for_token(token).used_at is None


# --- pages --------------------------------------------------------------------------------

def _link(app, to: str) -> str:
    with app.app_context():
        jobs.drain()
    [message] = [m for m in mail.outbox() if m["To"] == to]
    return urlsplit(re.search(r"https?://\S+", message.get_content()).group(0)).path


def test_invitation_end_to_end(app, client, make):
    manager = make.user("employee", name="Mia Manager")
    private = make.community("private", manager=manager, name="Returns Lab")
    internal = make.community("internal", manager=manager, name="Staff Room")
    other = make.community("open", name="Not Mine")
    post(client, "/signin", {"email": manager.email, "password": PASSWORD})

    page = client.get("/invitations")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Returns Lab" in html
    assert internal.name not in html and other.name not in html  # not invitable by this manager

    created = post(client, "/invitations", {"email": "carla@customer.example", "kind": "customer",
                                            "communities": [private.slug], "note": "See you there"})
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    html = created.get_data(as_text=True)
    assert "Invitation sent to carla@customer.example" in html
    shown = re.search(r'id="invite-link" value="([^"]+)"', html).group(1)
    link = _link(app, "carla@customer.example")
    assert urlsplit(shown).path == link
    listing = client.get("/invitations").get_data(as_text=True)
    assert "carla@customer.example" in listing and "Pending" in listing
    assert shown not in listing  # the link is shown once

    guest = app.test_client()
    invite_page = guest.get(link)
    assert invite_page.status_code == 200
    text = invite_page.get_data(as_text=True)
    assert "Mia Manager" in text and "Returns Lab" in text and "See you there" in text
    assert 'autocomplete="new-password"' in text
    mismatch = post(guest, link, {"display_name": "Carla", "password": NEW, "confirm": "something else"})
    assert mismatch.status_code == 400 and "do not match" in mismatch.get_data(as_text=True)
    accepted = post(guest, link, {"display_name": "Carla Rossi", "password": NEW, "confirm": NEW})
    assert accepted.status_code == 302 and accepted.headers["Location"] == "/"
    assert "You joined Returns Lab" in guest.get("/").get_data(as_text=True)
    assert guest.get("/account").status_code == 200
    with app.app_context():
        carla = db.session.scalar(select(User).where(User.email == "carla@customer.example"))
        assert carla.kind == UserKind.CUSTOMER
        assert _is_member(carla.id, private.id)

    # the link works once
    reuse = app.test_client().get(link)
    assert reuse.status_code == 410 and "already used" in reuse.get_data(as_text=True)
    assert "Used" in client.get("/invitations").get_data(as_text=True)
    # a customer may not invite
    assert guest.get("/invitations").status_code == 403


def test_invitation_form_shows_field_messages(app, login_as, make):
    manager = make.user("employee")
    make.community("open", manager=manager)
    theirs = make.community("private")
    existing = make.user("customer")
    client = login_as(manager)
    for data, message in (
        ({"email": "nope", "kind": "customer"}, "not a valid email"),
        ({"email": existing.email, "kind": "customer"}, "already has an account"),
        ({"email": "x@customer.example", "kind": "employee"}, "Choose customer or partner"),
        ({"email": "x@customer.example", "kind": "customer", "communities": [theirs.slug]},
         "Choose among the communities you manage"),
    ):
        response = post(client, "/invitations", data)
        assert response.status_code == 400, data
        assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Invitation)) == 0
    assert mail.outbox() == []


def test_staff_see_every_community_but_internal_ones(login_as, make):
    staff = make.user("employee", is_global_manager=True)
    open_c, private = make.community("open", name="Open Door"), make.community("private", name="Back Room")
    make.community("internal", name="Staff Only")
    html = login_as(staff).get("/invitations").get_data(as_text=True)
    assert open_c.name in html and private.name in html and "Staff Only" not in html


def test_employees_without_a_managed_community_get_403(login_as, make):
    client = login_as(make.user("employee"))
    assert client.get("/invitations").status_code == 403
    assert post(client, "/invitations", {"email": "x@customer.example", "kind": "customer"}).status_code == 403


def test_unknown_expired_and_revoked_links(app, client, make):
    assert client.get("/invite/not-a-real-token").status_code == 404
    start = datetime(2030, 1, 1)
    clock.set_now(start)
    staff = make.user("employee", is_global_manager=True)
    with app.app_context():
        actor = db.session.get(User, staff.id)
        _, expiring = invitations.create(actor, "late@customer.example", "customer")
        revoked, _ = invitations.create(actor, "gone@customer.example", "customer")
        revoked_id = revoked.id
    revoked_link = _link(app, "gone@customer.example")
    signed_in = app.test_client()
    post(signed_in, "/signin", {"email": staff.email, "password": PASSWORD})
    response = post(signed_in, f"/invitations/{revoked_id}/revoke")
    assert response.status_code == 302
    assert client.get(revoked_link).status_code == 410
    clock.set_now(start + timedelta(days=15))
    expired = client.get(f"/invite/{expiring}")
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    assert post(client, f"/invite/{expiring}", {"display_name": "Late", "password": NEW,
                                                 "confirm": NEW}).status_code == 410


def test_signed_in_with_the_invited_address_accepts_with_a_button(app, login_as, make):
    staff = make.user("employee", is_global_manager=True)
    private = make.community("private", manager=staff, name="Partner Hub")
    with app.app_context():
        _, token = invitations.create(db.session.get(User, staff.id), "dora@partner.example", "partner",
                                      [private.slug])
    dora = make.user("partner", email="dora@partner.example")
    client = login_as(dora)
    page = client.get(f"/invite/{token}")
    assert page.status_code == 200 and "Accept and join" in page.get_data(as_text=True)
    response = post(client, f"/invite/{token}")
    assert response.status_code == 302
    with app.app_context():
        assert _is_member(dora.id, private.id)


def test_signed_in_with_another_address_gets_a_clear_message(app, login_as, make):
    staff = make.user("employee", is_global_manager=True)
    with app.app_context():
        _, token = invitations.create(db.session.get(User, staff.id), "dora@partner.example", "partner")
    client = login_as(make.user("customer", email="someone@customer.example"))
    page = client.get(f"/invite/{token}")
    html = page.get_data(as_text=True)
    assert "This invitation is for someone else" in html
    assert "dora@partner.example" in html and "someone@customer.example" in html
    # posting changes nothing
    post(client, f"/invite/{token}")
    with app.app_context():
        assert invitations.for_token(token).used_at is None
    # signing out from there comes back to the invitation
    response = post(client, "/signout", {"next": f"/invite/{token}"})
    assert response.headers["Location"] == f"/invite/{token}"


def test_accepting_when_the_address_got_an_account_meanwhile_says_so(app, client, make):
    staff = make.user("employee", is_global_manager=True)
    with app.app_context():
        _, token = invitations.create(db.session.get(User, staff.id), "fay@customer.example", "customer")
    make.user("customer", email="fay@customer.example")
    response = post(client, f"/invite/{token}", {"display_name": "Fay", "password": NEW, "confirm": NEW})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "already exists" in html and "Sign in</a> to accept" in html
