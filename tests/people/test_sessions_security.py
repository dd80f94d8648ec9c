"""Sessions: renewed at sign-in, idle and absolute timeouts, remember-me, all sessions ending
on password change, suspension and ban; backoff on failed sign-ins; security headers."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app import clock
from app.extensions import db
from app.models import User
from app.services.people import accounts
from app.views import account as account_views
from tests.conftest import PASSWORD, login
from tests.helpers import is_signed_in, sign_in_form


@pytest.fixture
def fake_time(monkeypatch):
    """Move the session clock (the cookie timestamps use time.time())."""
    now = {"t": 1_900_000_000}
    monkeypatch.setattr(account_views.time, "time", lambda: now["t"])
    return now


def test_sign_in_starts_a_fresh_session(client, make):
    make.user("employee", email="ana@acme.example")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    assert sign_in_form(client, "ana@acme.example").status_code == 302
    with client.session_transaction() as sess:
        assert "planted" not in sess and "_kring_started" in sess


def test_idle_session_ends(client, make, fake_time):
    make.user("employee", email="ana@acme.example")
    sign_in_form(client, "ana@acme.example")
    fake_time["t"] += 30 * 60
    assert is_signed_in(client)
    fake_time["t"] += 61 * 60
    assert not is_signed_in(client)


def test_absolute_timeout_ends_even_a_busy_session(client, make, fake_time):
    make.user("employee", email="ana@acme.example")
    sign_in_form(client, "ana@acme.example")
    for _ in range(12 * 2 + 1):
        fake_time["t"] += 30 * 60
        client.get("/")
    assert not is_signed_in(client)


def test_remember_me_signs_in_again_after_the_idle_timeout(client, make, fake_time):
    make.user("employee", email="ana@acme.example")
    sign_in_form(client, "ana@acme.example", remember="y")
    fake_time["t"] += 3 * 3600
    assert is_signed_in(client)


@pytest.mark.parametrize("how", ["password", "suspend", "close"])
def test_every_session_ends_on_password_change_suspension_and_ban(app, make, how):
    user = make.user("customer", email="c@customer.example")
    admin = make.admin()
    first, second = app.test_client(), app.test_client()
    sign_in_form(first, "c@customer.example", remember="y")
    sign_in_form(second, "c@customer.example")
    assert is_signed_in(first) and is_signed_in(second)
    with app.app_context():
        person = db.session.get(User, user.id)
        if how == "password":
            accounts.change_password(person, PASSWORD, "another good password 9")
        elif how == "suspend":
            accounts.suspend(db.session.get(User, admin.id), person, None, "Ban")
        else:
            from app.services.people import privacy

            privacy.close_account(db.session.get(User, admin.id), person, "remove", reason="On request")
    first.delete_cookie("kring_session")  # only the remember cookie is left: it must fail too
    assert not is_signed_in(first) and not is_signed_in(second)


def test_failed_sign_ins_back_off_without_revealing_the_account(client, make):
    make.user("employee", email="ana@acme.example")
    for _ in range(5):
        assert "Wrong email address or password" in sign_in_form(client, "ana@acme.example", "nope nope").get_data(as_text=True)
    locked = sign_in_form(client, "ana@acme.example")  # right password, but locked now
    assert locked.status_code == 429 and "Too many failed sign-in attempts" in locked.get_data(as_text=True)
    assert "Try again in 1 minute." in locked.get_data(as_text=True) and locked.headers["Retry-After"] == "60"
    for _ in range(5):
        sign_in_form(client, "nobody@acme.example", "nope nope")
    ghost = sign_in_form(client, "nobody@acme.example")
    assert "Too many failed sign-in attempts" in ghost.get_data(as_text=True)  # same answer
    clock.set_now(clock.utcnow() + timedelta(minutes=2))
    assert sign_in_form(client, "ana@acme.example").status_code == 302


def test_lockout_grows_with_more_failures(client, make):
    make.user("employee", email="ana@acme.example")
    for _ in range(5):
        sign_in_form(client, "ana@acme.example", "nope nope")
    clock.set_now(clock.utcnow() + timedelta(minutes=1, seconds=5))
    sign_in_form(client, "ana@acme.example", "nope nope")  # 6th failure: 2 minutes
    clock.set_now(clock.utcnow() + timedelta(minutes=1, seconds=5))
    assert "Too many" in sign_in_form(client, "ana@acme.example").get_data(as_text=True)
    clock.set_now(clock.utcnow() + timedelta(minutes=1))
    assert sign_in_form(client, "ana@acme.example").status_code == 302


def test_security_headers(client, app, make):
    response = client.get("/signin")
    h = response.headers
    assert "script-src 'self'" in h["Content-Security-Policy"] and "unsafe-inline" not in h["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert h["X-Content-Type-Options"] == "nosniff" and h["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in h
    secure = client.get("/signin", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_session_cookies_are_httponly_and_samesite(client, make):
    make.user("employee", email="ana@acme.example")
    response = sign_in_form(client, "ana@acme.example", remember="y")
    cookies = response.headers.getlist("Set-Cookie")
    for name in ("kring_session", "kring_remember"):
        cookie = next(c for c in cookies if c.startswith(name + "="))
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_helper_sessions_get_a_start_time(client, make):
    user = make.user("employee")
    login(client, user)
    assert is_signed_in(client)
    with client.session_transaction() as sess:
        assert "_kring_started" in sess
