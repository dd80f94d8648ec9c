"""Account pages: sign up, confirm, sign in and out, forgotten passwords, the account page,
remember-me cookies, redirects after sign-in, CSRF and rate limits."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest

from app import clock, create_app
from app.extensions import db
from app.models import User
from app.services.people import accounts
from app.services.platform import jobs, mail, settings
from config import TestConfig
from tests.conftest import PASSWORD, Factory, post
from tests.helpers import is_signed_in, sign_in_form

NEW = "amber lantern over the bay"
REMEMBER = "kring_remember"


def _link_in_mail(app, to: str) -> str:
    """Deliver queued mail; return the path of the link in the newest message to `to`."""
    with app.app_context():
        jobs.drain()
    messages = [m for m in mail.outbox() if m["To"] == to]
    assert messages, f"no mail to {to}"
    url = re.search(r"https?://\S+", messages[-1].get_content()).group(0)
    return urlsplit(url).path


def _text(response) -> str:
    return response.get_data(as_text=True)


def _user(app, email: str) -> User:
    with app.app_context():
        return db.session.scalar(db.select(User).where(User.email == email))


# --- signing up ---------------------------------------------------------------------------

def test_sign_up_confirm_and_land_signed_in(app, client):
    page = client.get("/signup")
    assert page.status_code == 200
    assert 'autocomplete="new-password"' in _text(page) and 'autocomplete="email"' in _text(page)
    response = post(client, "/signup", {"display_name": "Ana Lima", "email": "ana@acme.example",
                                        "password": NEW, "confirm": NEW})
    assert response.status_code == 200
    assert "Check your email" in _text(response) and "ana@acme.example" in _text(response)
    assert not is_signed_in(client)

    # no sign-in before the address is confirmed; the page offers a new link
    refused = sign_in_form(client, "ana@acme.example", NEW)
    assert refused.status_code == 400
    assert "Confirm your email address first" in _text(refused)
    assert 'action="/verify/resend"' in _text(refused)

    link = _link_in_mail(app, "ana@acme.example")
    assert link.startswith("/verify/")
    confirmed = client.get(link)
    assert confirmed.status_code == 302 and confirmed.headers["Location"] == "/"
    assert "Your email address is confirmed" in _text(client.get("/"))
    assert is_signed_in(client)
    assert _user(app, "ana@acme.example").last_login_at is not None

    # the link is no sign-in link: a second visit only says the address is confirmed
    other = app.test_client()
    again = other.get(link)
    assert again.status_code == 302 and again.headers["Location"] == "/signin"
    assert not is_signed_in(other)


def test_broken_or_expired_confirmation_link_shows_the_410_page(app, client):
    assert client.get("/verify/not-a-token").status_code == 410
    start = datetime(2030, 1, 1)
    clock.set_now(start)
    post(client, "/signup", {"display_name": "Ana", "email": "ana@acme.example", "password": NEW, "confirm": NEW})
    link = _link_in_mail(app, "ana@acme.example")
    clock.set_now(start + timedelta(days=4))
    response = client.get(link)
    assert response.status_code == 410
    assert "expired" in _text(response)


@pytest.mark.parametrize("data,message", [
    ({"email": "ana@acme.example", "password": NEW, "confirm": NEW + "x"}, "do not match"),
    ({"email": "ana@acme.example", "password": "short", "confirm": "short"}, "at least 10 characters"),
    ({"email": "ana@acme", "password": NEW, "confirm": NEW}, "not a valid email"),
    ({"email": "", "password": NEW, "confirm": NEW}, "Enter your email"),
    ({"email": "bob@customer.example", "password": NEW, "confirm": NEW}, "invitation from a community manager"),
    ({"email": "taken@acme.example", "password": NEW, "confirm": NEW}, "already exists"),
])
def test_sign_up_form_shows_field_messages(client, make, data, message):
    make.user("employee", email="taken@acme.example")
    response = post(client, "/signup", {"display_name": "Ana", **data})
    assert response.status_code == 400
    html = _text(response)
    assert message in html
    assert 'aria-invalid="true"' in html
    assert mail.outbox() == []


def test_sign_up_names_every_bad_field(client):
    response = post(client, "/signup", {"display_name": "", "email": "", "password": "x", "confirm": "x"})
    assert response.status_code == 400
    html = _text(response)
    assert "Enter your name." in html and "Enter your email address." in html and "at least 10" in html
    assert html.count('aria-invalid="true"') == 3


def test_customers_sign_up_when_open_signup_is_on(app, client, make):
    admin = make.admin()
    with app.app_context():
        settings.set_value(db.session.get(User, admin.id), "open_signup", True)
    response = post(client, "/signup", {"display_name": "Bob", "email": "bob@customer.example",
                                        "password": NEW, "confirm": NEW})
    assert response.status_code == 200
    assert _user(app, "bob@customer.example").kind == "customer"


def test_resend_confirmation_answers_the_same_for_every_address(app, client, make):
    post(client, "/signup", {"display_name": "Ana", "email": "ana@acme.example", "password": NEW, "confirm": NEW})
    make.user("employee", email="done@acme.example")
    with app.app_context():
        jobs.drain()
    mail.outbox().clear()
    answers = set()
    for address in ("ana@acme.example", "done@acme.example", "nobody@acme.example"):
        response = post(client, "/verify/resend", {"email": address}, follow_redirects=True)
        assert response.status_code == 200
        answers.add(re.search(r'<p class="flash[^"]*">([^<]+)</p>', _text(response)).group(1))
    assert len(answers) == 1
    with app.app_context():
        jobs.drain()
    assert [m["To"] for m in mail.outbox()] == ["ana@acme.example"]


def test_signed_in_people_skip_sign_in_and_sign_up(login_as, make):
    client = login_as(make.user("employee"))
    for path in ("/signin", "/signup"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/"


# --- signing in ---------------------------------------------------------------------------

def test_sign_in_page_has_the_right_fields(client):
    html = _text(client.get("/signin"))
    assert 'type="email"' in html and 'autocomplete="email"' in html
    assert 'autocomplete="current-password"' in html
    assert "Keep me signed in" in html
    assert 'href="/forgot"' in html


def test_wrong_credentials_get_one_message_and_keep_the_email(client, make):
    make.user("employee", email="ana@acme.example")
    wrong_password = sign_in_form(client, "ana@acme.example", "not the password")
    unknown = sign_in_form(client, "nobody@acme.example", PASSWORD)
    for response, email in ((wrong_password, "ana@acme.example"), (unknown, "nobody@acme.example")):
        assert response.status_code == 400
        assert "Wrong email address or password." in _text(response)
        assert f'value="{email}"' in _text(response)
        assert "not the password" not in _text(response)
    assert not is_signed_in(client)


def test_sign_in_records_it_and_renews_the_session(app, client, make):
    user = make.user("employee", email="ana@acme.example")
    client.get("/signin")
    with client.session_transaction() as sess:
        sess["planted"] = "by someone else"
        before = sess["csrf_token"]
    response = sign_in_form(client, "ANA@acme.example")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess.get("csrf_token") != before
        assert sess["_user_id"] == f"{user.id}:{user.session_version}"
    assert _user(app, "ana@acme.example").last_login_at is not None


def test_suspended_account_sees_why(app, client, make):
    admin, user = make.admin(), make.user("employee", email="ana@acme.example")
    with app.app_context():
        accounts.suspend(db.session.get(User, admin.id), db.session.get(User, user.id), None, "Spam")
    response = sign_in_form(client, "ana@acme.example")
    assert response.status_code == 400
    assert "This account is suspended." in _text(response)


def test_login_required_pages_come_back_after_sign_in(client, make):
    make.user("employee", email="ana@acme.example")
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/signin?next=%2Faccount"
    form = _text(client.get(response.headers["Location"]))
    assert 'action="/signin?next=/account"' in form
    signed_in = post(client, "/signin?next=%2Faccount", {"email": "ana@acme.example", "password": PASSWORD})
    assert signed_in.headers["Location"] == "/account"


@pytest.mark.parametrize("target", [
    "http://evil.example/", "https://evil.example", "//evil.example", "/\\evil.example",
    "\\\\evil.example", "javascript:alert(1)", "evil.example",
])
def test_next_never_leaves_the_site(client, make, target):
    make.user("employee", email="ana@acme.example")
    page = client.get("/signin", query_string={"next": target})
    assert "evil.example" not in _text(page)
    response = sign_in_form(client, "ana@acme.example", next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_post_without_csrf_token_is_refused(client, make):
    make.user("employee", email="ana@acme.example")
    response = client.post("/signin", data={"email": "ana@acme.example", "password": PASSWORD})
    assert response.status_code == 400
    assert "Your form expired" in _text(response)
    assert not is_signed_in(client)


def _limited_app(tmp_path, **config):
    """An app with rate limiting on (Flask-Limiter reads RATELIMIT_ENABLED in init_app)."""
    application = create_app(
        TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'limited.db'}",
        INSTANCE_DIR=tmp_path, UPLOAD_DIR=tmp_path / "uploads", MAIL_OUTBOX_DIR=tmp_path / "outbox",
        RATELIMIT_ENABLED=True, **config)
    with application.app_context():
        db.create_all()
    return application


@pytest.fixture
def limited_app(tmp_path):
    application = _limited_app(tmp_path, RATELIMIT_SIGNIN="3/minute")
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def office(tmp_path):
    """Rate limiting on with the production sign-in settings; every test client comes from the
    same address (one office behind one NAT)."""
    application = _limited_app(tmp_path)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def _assert_wait_named(response):
    """A throttled sign-in: 429, Retry-After, and the page names the wait."""
    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert wait > 0
    assert re.search(r"Try again in \d+ (second|minute|hour)s?\.", _text(response)), _text(response)
    assert "a moment" not in _text(response)


def test_too_many_sign_in_attempts_get_the_429_page(limited_app):
    client = limited_app.test_client()
    for _ in range(3):
        assert client.get("/signin").status_code == 200  # looking is not limited
        assert sign_in_form(client, "nobody@acme.example", "wrong password").status_code == 400
    response = sign_in_form(client, "nobody@acme.example", "wrong password")
    assert "Too many attempts" in _text(response)
    _assert_wait_named(response)


def test_an_office_behind_one_address_all_signs_in(office):
    make = Factory(office)
    people = [make.user("employee") for _ in range(60)]
    for person in people:  # one after the other, within a minute, from the same address
        client = office.test_client()
        response = sign_in_form(client, person.email)
        assert response.status_code == 302, _text(response)
        assert is_signed_in(client)


def test_wrong_passwords_throttle_that_account_not_the_address(office):
    make = Factory(office)
    ana, bob = make.user("employee"), make.user("employee")
    client = office.test_client()
    answers = [sign_in_form(client, ana.email, "not her password") for _ in range(10)]
    assert answers[0].status_code == 400 and "Wrong email address or password" in _text(answers[0])
    _assert_wait_named(answers[-1])
    assert "Too many failed sign-in attempts" in _text(answers[-1])
    right = sign_in_form(client, ana.email)  # locked: even the right password waits
    _assert_wait_named(right)
    assert not is_signed_in(client)
    colleague = office.test_client()  # the same address, another account: signs in
    assert sign_in_form(colleague, bob.email).status_code == 302 and is_signed_in(colleague)


def test_the_address_ceiling_stops_password_spraying(tmp_path):
    app = _limited_app(tmp_path, RATELIMIT_SIGNIN="20/hour")
    make = Factory(app)
    victims = [make.user("employee") for _ in range(21)]
    client = app.test_client()
    for n, person in enumerate(victims[:20]):  # one guess per account: no account throttle fires
        assert sign_in_form(client, person.email, "Summer2024!").status_code == 400
        if n % 5 == 0:  # right passwords from the same address do not use the ceiling up
            assert sign_in_form(app.test_client(), victims[n + 1].email).status_code == 302
    blocked = sign_in_form(client, victims[20].email, "Summer2024!")
    _assert_wait_named(blocked)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# --- signing out, remember-me and sessions ------------------------------------------------

def test_sign_out_is_post_only_and_forgets_the_remember_cookie(client, make):
    make.user("employee", email="ana@acme.example")
    sign_in_form(client, "ana@acme.example", remember="y")
    assert client.get_cookie(REMEMBER) is not None
    assert client.get("/signout").status_code == 405
    response = post(client, "/signout")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get_cookie(REMEMBER) is None
    assert "You are signed out." in _text(client.get("/"))
    assert not is_signed_in(client)


def test_remember_cookie_signs_a_new_browser_in(app, client, make):
    make.user("employee", email="ana@acme.example")
    sign_in_form(client, "ana@acme.example", remember="y")
    other = app.test_client()
    other.set_cookie(REMEMBER, client.get_cookie(REMEMBER).value)
    assert is_signed_in(other)
    without = app.test_client()
    sign_in_form(without, "ana@acme.example")
    assert without.get_cookie(REMEMBER) is None


def test_password_change_keeps_this_session_and_ends_the_others(app, client, make):
    make.user("employee", email="ana@acme.example")
    sign_in_form(client, "ana@acme.example", remember="y")
    second = app.test_client()
    sign_in_form(second, "ana@acme.example")
    old_cookie = client.get_cookie(REMEMBER).value
    from_cookie = app.test_client()
    from_cookie.set_cookie(REMEMBER, old_cookie)
    assert is_signed_in(from_cookie) and is_signed_in(second)

    response = post(client, "/account", {"current_password": PASSWORD, "password": NEW, "confirm": NEW})
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert "Your password is changed" in _text(client.get("/account"))
    assert is_signed_in(client)
    assert not is_signed_in(second)
    assert not is_signed_in(from_cookie)
    stolen = app.test_client()
    stolen.set_cookie(REMEMBER, old_cookie)
    assert not is_signed_in(stolen)
    # this browser got a fresh remember cookie that works
    renewed = client.get_cookie(REMEMBER).value
    assert renewed != old_cookie
    fresh = app.test_client()
    fresh.set_cookie(REMEMBER, renewed)
    assert is_signed_in(fresh)
    # and the new password is the one that works
    assert sign_in_form(app.test_client(), "ana@acme.example", NEW).status_code == 302
    assert sign_in_form(app.test_client(), "ana@acme.example", PASSWORD).status_code == 400


def test_sign_out_everywhere_ends_every_session(app, client, make):
    make.user("employee", email="ana@acme.example")
    sign_in_form(client, "ana@acme.example", remember="y")
    second = app.test_client()
    sign_in_form(second, "ana@acme.example", remember="y")
    cookie = second.get_cookie(REMEMBER).value
    response = post(client, "/account/signout-everywhere")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert not is_signed_in(client) and not is_signed_in(second)
    stolen = app.test_client()
    stolen.set_cookie(REMEMBER, cookie)
    assert not is_signed_in(stolen)


# --- the account page ---------------------------------------------------------------------

def test_account_page_shows_email_and_kind(login_as, make):
    client = login_as(make.user("customer", email="carla@customer.example"))
    html = _text(client.get("/account"))
    assert "carla@customer.example" in html and "Customer" in html
    assert 'autocomplete="current-password"' in html and 'autocomplete="new-password"' in html
    assert 'action="/account/signout-everywhere"' in html


@pytest.mark.parametrize("data,message", [
    ({"current_password": "not it at all", "password": NEW, "confirm": NEW}, "not your current password"),
    ({"current_password": PASSWORD, "password": NEW, "confirm": "something else"}, "do not match"),
    ({"current_password": PASSWORD, "password": "password123", "confirm": "password123"}, "too easy"),
])
def test_change_password_form_shows_field_messages(app, login_as, make, data, message):
    user = make.user("employee")
    client = login_as(user)
    response = post(client, "/account", data)
    assert response.status_code == 400
    assert message in _text(response)
    assert is_signed_in(client)
    assert _user(app, user.email).session_version == user.session_version


# --- forgotten passwords ------------------------------------------------------------------

def test_forgot_password_answers_the_same_whether_or_not_the_account_exists(app, client, make):
    make.user("employee", email="ana@acme.example")
    known = post(client, "/forgot", {"email": "ana@acme.example"})
    unknown = post(client, "/forgot", {"email": "nobody@acme.example"})
    assert known.status_code == unknown.status_code == 200
    assert _text(known).replace("ana@acme.example", "X") == _text(unknown).replace("nobody@acme.example", "X")
    assert "If an account exists" in _text(known)
    with app.app_context():
        jobs.drain()
    assert [m["To"] for m in mail.outbox()] == ["ana@acme.example"]


def test_forgot_password_asks_for_a_real_address(client):
    response = post(client, "/forgot", {"email": "nope"})
    assert response.status_code == 400
    assert "not a valid email" in _text(response)


def test_reset_link_ignores_a_forged_host_header(app, client, make):
    make.user("employee", email="ana@acme.example")
    evil = {"Host": "evil.example"}
    page = client.get("/forgot", headers=evil).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/forgot", data={"email": "ana@acme.example", "csrf_token": token}, headers=evil)
    assert response.status_code == 200
    with app.app_context():
        jobs.drain()
    [message] = mail.outbox()
    assert "evil.example" not in message.get_content()
    assert app.config["KRING_BASE_URL"] + "/reset/" in message.get_content()


def test_reset_password_through_the_mailed_link_works_once(app, client, make):
    make.user("employee", email="ana@acme.example")
    post(client, "/forgot", {"email": "ana@acme.example"})
    link = _link_in_mail(app, "ana@acme.example")
    page = client.get(link)
    assert page.status_code == 200
    assert 'autocomplete="new-password"' in _text(page) and "ana@acme.example" in _text(page)
    assert page.headers["Cache-Control"] == "no-store"
    mismatch = post(client, link, {"password": NEW, "confirm": "other words entirely"})
    assert mismatch.status_code == 400 and "do not match" in _text(mismatch)
    weak = post(client, link, {"password": "short", "confirm": "short"})
    assert weak.status_code == 400 and "at least 10 characters" in _text(weak)
    done = post(client, link, {"password": NEW, "confirm": NEW})
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert is_signed_in(client)
    again = app.test_client()
    used = again.get(link)
    assert used.status_code == 410 and "already used" in _text(used)
    assert post(again, link, {"password": "a third password", "confirm": "a third password"}).status_code == 410
    assert sign_in_form(app.test_client(), "ana@acme.example", NEW).status_code == 302


def test_expired_reset_link_shows_the_410_page(app, client, make):
    start = datetime(2030, 1, 1)
    clock.set_now(start)
    make.user("employee", email="ana@acme.example")
    post(client, "/forgot", {"email": "ana@acme.example"})
    link = _link_in_mail(app, "ana@acme.example")
    clock.set_now(start + timedelta(hours=2))
    response = client.get(link)
    assert response.status_code == 410
    assert "expired" in _text(response)
    assert client.get("/reset/garbage").status_code == 410
