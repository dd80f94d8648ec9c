"""Accounts service: sign-up rules, passwords, email confirmation, sign-in, reset, sessions."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from app import clock
from app.errors import Forbidden, Gone, ValidationError
from app.extensions import db
from app.models import User, UserKind
from app.services.people import accounts
from app.services.platform import jobs, mail, settings
from tests.conftest import PASSWORD
from tests.helpers import fresh

NEW_PASSWORD = "amber lantern over the bay"


def _mails_to(address: str) -> list:
    jobs.drain()
    return [m for m in mail.outbox() if m["To"] == address]


def _token_in(message) -> str:
    return re.search(r"https?://\S+/(?:verify|reset)/(\S+)", message.get_content()).group(1)


# --- registering --------------------------------------------------------------------------

def test_company_address_registers_an_unverified_employee_and_mails_a_link(ctx):
    user = accounts.register("Ana.Lima@ACME.example", "purple monkey dishwasher", "  Ana   Lima ")
    assert user.kind == UserKind.EMPLOYEE
    assert user.email == "ana.lima@acme.example"
    assert user.display_name == "Ana Lima"
    assert user.email_verified_at is None
    [message] = _mails_to("ana.lima@acme.example")
    assert "Confirm your email address" in message["Subject"]
    assert "/verify/" in message.get_content()


def test_other_addresses_need_an_invitation_until_open_signup_is_on(ctx, make):
    with pytest.raises(ValidationError) as err:
        accounts.register("bob@customer.example", "purple monkey dishwasher", "Bob")
    assert "invitation" in err.value.errors["email"]
    assert "@acme.example" in err.value.errors["email"]
    assert _mails_to("bob@customer.example") == []

    settings.set_value(fresh(make.admin()), "open_signup", True)
    user = accounts.register("bob@customer.example", "purple monkey dishwasher", "Bob")
    assert user.kind == UserKind.CUSTOMER
    assert len(_mails_to("bob@customer.example")) == 1


def test_only_admins_turn_open_signup_on(ctx, make):
    with pytest.raises(Forbidden):
        settings.set_value(fresh(make.user("employee")), "open_signup", True)
    assert settings.get("open_signup") is False


@pytest.mark.parametrize("password,why", [
    ("short1", "at least 10"),
    ("", "at least 10"),
    ("password123", "too easy"),
    ("aaaaaaaaaaaa", "too easy"),
    ("abababababab", "too easy"),
    ("x" * 201, "at most 200"),
    ("my-carla.rossi-pass", "name or email"),
])
def test_weak_passwords_are_refused_with_a_reason(ctx, password, why):
    with pytest.raises(ValidationError) as err:
        accounts.register("carla.rossi@acme.example", password, "Carla")
    assert why in err.value.errors["password"]
    assert db.session.scalar(db.select(User).where(User.email == "carla.rossi@acme.example")) is None


def test_password_equal_to_the_name_is_refused(ctx):
    with pytest.raises(ValidationError) as err:
        accounts.register("dan@acme.example", "Daniel Smithson", "Daniel Smithson")
    assert "name or email" in err.value.errors["password"]


def test_duplicate_email_is_refused_whatever_the_case(ctx):
    accounts.register("ana@acme.example", "purple monkey dishwasher", "Ana")
    with pytest.raises(ValidationError) as err:
        accounts.register("ANA@Acme.Example", "another fine password", "Ana Again")
    assert "already exists" in err.value.errors["email"]
    assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 1


@pytest.mark.parametrize("email,why", [("", "Enter your email"), ("not-an-address", "not a valid"),
                                       ("a@b@acme.example", "not a valid")])
def test_bad_email_gets_a_field_message(ctx, email, why):
    with pytest.raises(ValidationError) as err:
        accounts.register(email, "purple monkey dishwasher", "Someone")
    assert why in err.value.errors["email"]


def test_every_bad_field_is_named_at_once(ctx):
    with pytest.raises(ValidationError) as err:
        accounts.register("", "short", " ")
    assert set(err.value.errors) == {"email", "password", "display_name"}
    with pytest.raises(ValidationError) as err:
        accounts.register("bob@customer.example", "short", "Bob")
    assert set(err.value.errors) == {"email", "password"}
    assert "invitation" in err.value.errors["email"]


def test_empty_or_long_display_name_is_refused(ctx):
    with pytest.raises(ValidationError) as err:
        accounts.register("eve@acme.example", "purple monkey dishwasher", "   ")
    assert "display_name" in err.value.errors
    with pytest.raises(ValidationError) as err:
        accounts.register("eve@acme.example", "purple monkey dishwasher", "E" * 81)
    assert "display_name" in err.value.errors


def test_handles_are_unique(ctx):
    a = accounts.register("ana1@acme.example", "purple monkey dishwasher", "Ana Lima")
    b = accounts.register("ana2@acme.example", "purple monkey dishwasher", "Ana Lima")
    assert (a.handle, b.handle) == ("ana.lima", "ana.lima.2")


# --- confirming the address ---------------------------------------------------------------

def test_verification_link_confirms_once_then_only_reports(ctx):
    user = accounts.register("ana@acme.example", "purple monkey dishwasher", "Ana")
    token = _token_in(_mails_to("ana@acme.example")[0])
    confirmed, newly = accounts.verify_email(token)
    assert confirmed.id == user.id and newly is True
    assert confirmed.email_verified_at is not None
    again, newly = accounts.verify_email(token)
    assert again.id == user.id and newly is False


def test_verification_link_expires_and_cannot_be_forged(ctx, app):
    start = datetime(2030, 1, 1, 12, 0)
    clock.set_now(start)
    user = accounts.register("ana@acme.example", "purple monkey dishwasher", "Ana")
    token = accounts.verification_token(user)
    with pytest.raises(Gone, match="not valid"):
        accounts.verify_email(token[:-2] + "xx")
    clock.set_now(start + timedelta(seconds=app.config["EMAIL_VERIFY_SECONDS"] + 1))
    with pytest.raises(Gone, match="expired"):
        accounts.verify_email(token)
    assert fresh(user).email_verified_at is None


def test_resend_verification_mails_only_unconfirmed_accounts(ctx, make):
    accounts.register("new@acme.example", "purple monkey dishwasher", "New")
    done = make.user("employee", email="done@acme.example")
    jobs.drain()
    mail.outbox().clear()
    for address in ("new@acme.example", done.email, "nobody@acme.example", "garbage"):
        accounts.request_verification_email(address)
    jobs.drain()
    assert [m["To"] for m in mail.outbox()] == ["new@acme.example"]


# --- signing in ---------------------------------------------------------------------------

def test_authenticate_accepts_right_credentials_in_any_case(ctx, make):
    user = make.user("employee", email="ana@acme.example")
    assert accounts.authenticate("  ANA@acme.example ", PASSWORD).id == user.id


@pytest.mark.parametrize("email,password", [
    ("ana@acme.example", "wrong password here"), ("nobody@acme.example", PASSWORD),
    ("not an email", PASSWORD), ("ana@acme.example", ""),
])
def test_wrong_credentials_all_get_the_same_message(ctx, make, email, password):
    make.user("employee", email="ana@acme.example")
    with pytest.raises(ValidationError) as err:
        accounts.authenticate(email, password)
    assert err.value.errors == {"_": "Wrong email address or password."}


def test_unverified_account_cannot_sign_in(ctx, make):
    make.user("employee", email="ana@acme.example", verified=False)
    with pytest.raises(accounts.EmailNotVerified) as err:
        accounts.authenticate("ana@acme.example", PASSWORD)
    assert err.value.user.email == "ana@acme.example"
    with pytest.raises(ValidationError):  # the state is revealed only with the right password
        accounts.authenticate("ana@acme.example", "wrong password here")


def test_suspended_account_gets_the_suspension_message(ctx, make):
    admin, user = fresh(make.admin()), fresh(make.user("employee"))
    accounts.suspend(admin, user, clock.utcnow() + timedelta(days=2), "Spam")
    with pytest.raises(ValidationError) as err:
        accounts.authenticate(user.email, PASSWORD)
    assert "suspended until" in err.value.errors["_"]
    accounts.suspend(admin, user, None, "For good")
    with pytest.raises(ValidationError) as err:
        accounts.authenticate(user.email, PASSWORD)
    assert err.value.errors["_"] == "This account is suspended."
    with pytest.raises(ValidationError) as err:  # wrong password: the generic answer
        accounts.authenticate(user.email, "wrong password here")
    assert "Wrong email" in err.value.errors["_"]


def test_suspension_ends_sessions_and_needs_an_admin(ctx, make):
    admin, user = fresh(make.admin()), fresh(make.user("employee"))
    with pytest.raises(Forbidden):
        accounts.suspend(fresh(make.user("employee")), user, None, "No")
    version = user.session_version
    with pytest.raises(ValidationError) as err:
        accounts.suspend(admin, user, None, "  ")
    assert "reason" in err.value.errors
    with pytest.raises(ValidationError):
        accounts.suspend(admin, admin, None, "Myself")
    accounts.suspend(admin, user, None, "Spam")
    assert user.session_version == version + 1
    assert not user.is_active
    accounts.unsuspend(admin, user)
    assert accounts.authenticate(user.email, PASSWORD).id == user.id


def test_record_sign_in_and_sign_out_everywhere(ctx, make):
    user = fresh(make.user("employee"))
    clock.set_now(datetime(2030, 5, 1, 9, 30))
    accounts.record_sign_in(user)
    assert user.last_login_at == datetime(2030, 5, 1, 9, 30)
    version = user.session_version
    accounts.sign_out_everywhere(user)
    assert user.session_version == version + 1


# --- passwords ----------------------------------------------------------------------------

def test_reset_link_is_mailed_only_to_existing_accounts(ctx, make):
    make.user("employee", email="ana@acme.example")
    accounts.request_password_reset("ANA@acme.example")
    accounts.request_password_reset("nobody@acme.example")
    accounts.request_password_reset("garbage")
    jobs.drain()
    assert [m["To"] for m in mail.outbox()] == ["ana@acme.example"]
    assert "Reset your password" in mail.outbox()[0]["Subject"]


def test_reset_link_works_once(ctx, make):
    user = fresh(make.user("employee", email="ana@acme.example"))
    version = user.session_version
    accounts.request_password_reset(user.email)
    token = _token_in(_mails_to(user.email)[0])
    assert accounts.user_for_reset_token(token).id == user.id
    with pytest.raises(ValidationError) as err:  # a weak password changes nothing
        accounts.reset_password(token, "short")
    assert "password" in err.value.errors
    accounts.reset_password(token, NEW_PASSWORD)
    assert user.session_version == version + 1
    assert accounts.authenticate(user.email, NEW_PASSWORD).id == user.id
    with pytest.raises(Gone, match="already used"):
        accounts.reset_password(token, "yet another new password")
    with pytest.raises(ValidationError):
        accounts.authenticate(user.email, PASSWORD)


def test_reset_link_expires(ctx, app, make):
    start = datetime(2030, 1, 1, 12, 0)
    clock.set_now(start)
    user = fresh(make.user("employee"))
    token = accounts.reset_token(user)
    clock.set_now(start + timedelta(seconds=app.config["PASSWORD_RESET_SECONDS"] - 5))
    assert accounts.user_for_reset_token(token).id == user.id
    clock.set_now(start + timedelta(seconds=app.config["PASSWORD_RESET_SECONDS"] + 1))
    with pytest.raises(Gone, match="expired"):
        accounts.reset_password(token, NEW_PASSWORD)
    with pytest.raises(Gone, match="not valid"):
        accounts.user_for_reset_token("nonsense")


def test_reset_confirms_an_unverified_address(ctx, make):
    user = fresh(make.user("employee", verified=False))
    accounts.reset_password(accounts.reset_token(user), NEW_PASSWORD)
    assert user.email_verified_at is not None


def test_change_password_checks_the_current_one_and_bumps_session_version(ctx, make):
    user = fresh(make.user("employee"))
    version = user.session_version
    with pytest.raises(ValidationError) as err:
        accounts.change_password(user, "not my password", NEW_PASSWORD)
    assert "current_password" in err.value.errors
    with pytest.raises(ValidationError) as err:
        accounts.change_password(user, PASSWORD, "tiny")
    assert "password" in err.value.errors
    assert user.session_version == version
    accounts.change_password(user, PASSWORD, NEW_PASSWORD)
    assert user.session_version == version + 1
    assert user.get_id() == f"{user.id}:{version + 1}"
    assert accounts.authenticate(user.email, NEW_PASSWORD).id == user.id


def test_mail_links_use_the_configured_base_url(ctx, app):
    app.config["KRING_BASE_URL"] = "https://kring.example.org/community"
    link = mail.external_url("auth.reset_password", token="abc")
    assert link == "https://kring.example.org/community/reset/abc"
