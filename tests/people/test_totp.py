"""TOTP second factor: RFC 6238 values, enrolment, sign-in with a code or a recovery code,
throttled code entry, and KRING_REQUIRE_ADMIN_2FA."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from app import clock
from app.errors import Forbidden, ValidationError
from app.extensions import db
from app.models import User
from app.services.people import totp
from tests.conftest import PASSWORD
from tests.conftest import post as post_form

RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # "12345678901234567890" in base32


@pytest.mark.parametrize("moment, code", [
    (datetime(1970, 1, 1, 0, 0, 59), "287082"),
    (datetime(2005, 3, 18, 1, 58, 29), "081804"),
    (datetime(2009, 2, 13, 23, 31, 30), "005924"),
    (datetime(2033, 5, 18, 3, 33, 20), "279037"),
])
def test_codes_match_the_rfc_6238_test_vectors(moment, code):
    assert totp.code_at(RFC_SECRET, moment) == code


def _enrol(user) -> list[str]:
    row = totp.begin_enrolment(user)
    return totp.confirm_enrolment(user, totp.code_at(row.secret))


def test_staff_enrol_with_a_code_and_get_single_use_recovery_codes(ctx, make):
    admin = db.session.get(User, make.admin().id)
    row = totp.begin_enrolment(admin)
    assert "otpauth://totp/" in totp.provisioning_uri(admin, row.secret) and f"secret={row.secret}" in \
        totp.provisioning_uri(admin, row.secret)
    with pytest.raises(ValidationError):
        totp.confirm_enrolment(admin, "000000" if totp.code_at(row.secret) != "000000" else "111111")
    assert not totp.is_enabled(admin)
    codes = totp.confirm_enrolment(admin, totp.code_at(row.secret))
    assert totp.is_enabled(admin) and len(codes) == 10 and len(set(codes)) == 10
    assert totp.verify(admin, codes[0]) == "recovery"
    with pytest.raises(ValidationError):
        totp.verify(admin, codes[0])  # used up
    assert totp.remaining_recovery_codes(admin) == 9


def test_a_code_works_once(ctx, make):
    admin = db.session.get(User, make.admin().id)
    _enrol(admin)
    clock.set_now(clock.utcnow() + timedelta(seconds=90))
    code = totp.code_at(db.session.get(totp.TotpSecret, admin.id).secret)
    assert totp.verify(admin, code) == "totp"
    with pytest.raises(ValidationError):
        totp.verify(admin, code)


def test_plain_members_cannot_enrol(ctx, make):
    member = db.session.get(User, make.user("customer").id)
    with pytest.raises(Forbidden):
        totp.begin_enrolment(member)


def test_wrong_codes_lock_code_entry_for_a_growing_window(ctx, make):
    admin = db.session.get(User, make.admin().id)
    _enrol(admin)
    secret = db.session.get(totp.TotpSecret, admin.id).secret
    wrong = "123456" if totp.code_at(secret) != "123456" else "654321"
    for _ in range(totp.FREE_FAILURES):
        with pytest.raises(ValidationError):
            totp.verify(admin, wrong)
    with pytest.raises(ValidationError) as exc:
        totp.verify(admin, totp.code_at(secret))  # even the right code waits
    assert "Too many failed codes" in exc.value.message
    clock.set_now(clock.utcnow() + timedelta(minutes=2))
    assert totp.verify(admin, totp.code_at(secret)) == "totp"


def _secret_of(app, user_id):
    with app.app_context():
        return db.session.get(totp.TotpSecret, user_id).secret


def test_sign_in_asks_for_the_code_after_the_password(app, client, make):
    admin = make.admin(email="boss@acme.example")
    with app.app_context():
        _enrol(db.session.get(User, admin.id))
    clock.set_now(clock.utcnow() + timedelta(seconds=90))
    response = post_form(client, "/signin?next=/admin/", {"email": "boss@acme.example", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/signin/code")
    assert client.get("/account").status_code == 302  # not signed in yet
    page = client.get("/signin/code")
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    bad = client.post("/signin/code", data={"csrf_token": token, "code": "12"})
    assert bad.status_code == 400 and "not right" in bad.get_data(as_text=True)
    ok = client.post("/signin/code", data={"csrf_token": token, "code": totp.code_at(_secret_of(app, admin.id))})
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/admin/")
    assert client.get("/account").status_code == 200


def test_code_page_without_a_password_step_goes_back_to_sign_in(client):
    response = client.get("/signin/code")
    assert response.status_code == 302 and "/signin" in response.headers["Location"]


def test_enrol_pages_show_secret_and_uri(app, login_as, make):
    admin = make.admin()
    client = login_as(admin)
    assert "Set up a second factor" in client.get("/account/security").get_data(as_text=True)
    assert post_form(client, "/account/security/enrol").status_code == 302
    html = client.get("/account/security").get_data(as_text=True)
    assert "otpauth://totp/" in html
    response = post_form(client, "/account/security/confirm", {"code": totp.code_at(_secret_of(app, admin.id))})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "recovery codes" in html.lower() and len(re.findall(r"<li><code>[0-9a-f]{5}-[0-9a-f]{5}</code></li>", html)) == 10
    assert response.headers["Cache-Control"] == "no-store"


def test_required_admin_2fa_sends_admins_to_enrol_first(app, login_as, make):
    app.config["KRING_REQUIRE_ADMIN_2FA"] = True
    client = login_as(make.admin())
    response = client.get("/admin/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/security")
    assert client.get("/account/security").status_code == 200
    member = make.user("customer")
    other = app.test_client()
    from tests.conftest import login

    login(other, member)
    assert other.get("/account").status_code == 200  # only admins are held
