"""Rate limits on posting, commenting, voting and search (per person, 429 with Retry-After),
and the shared `rate_limited` helper other features use (e.g. reports)."""
from __future__ import annotations

import pytest

from app import create_app
from app.extensions import db
from app.models import Community, User
from app.services.content import posts
from config import TestConfig
from tests.conftest import Factory, login
from tests.conftest import post as post_form


@pytest.fixture
def limited(tmp_path):
    application = create_app(
        TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'limited.db'}",
        INSTANCE_DIR=tmp_path, UPLOAD_DIR=tmp_path / "uploads", MAIL_OUTBOX_DIR=tmp_path / "outbox",
        RATELIMIT_ENABLED=True, KRING_RATE_POST="2/minute", KRING_RATE_COMMENT="2/minute",
        KRING_RATE_VOTE="3/minute", KRING_RATE_SEARCH="2/minute", KRING_RATE_REPORT="2/minute")
    with application.app_context():
        db.create_all()
    application.extensions["_test_ctx_pushed"] = False
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def setup(limited):
    make = Factory(limited)
    community = make.community("open")
    ana, bob = make.user("customer"), make.user("customer")
    make.member(community, ana)
    make.member(community, bob)
    with limited.app_context():
        p = posts.create(db.session.get(User, bob.id), community.slug, "idea", "An idea to vote on", "x")
        post_id = p.id
    return {"community": community, "ana": ana, "bob": bob, "post_id": post_id}


def _client(app, user):
    client = app.test_client()
    login(client, user)
    return client


def _assert_429(response):
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0


def test_posting_is_limited_per_person(limited, setup):
    ana = _client(limited, setup["ana"])
    url = f"/c/{setup['community'].slug}/new"
    assert ana.get(url).status_code == 200  # looking is free
    for n in range(3):  # so is previewing
        preview = post_form(ana, url, {"kind": "discussion", "title": f"Draft {n}", "body": "**x**", "preview": "1"})
        assert preview.status_code == 200 and "<strong>x</strong>" in preview.get_data(as_text=True)
    for n in range(2):
        assert post_form(ana, url, {"kind": "discussion", "title": f"Post number {n}", "body": "x"}).status_code == 302
    _assert_429(post_form(ana, url, {"kind": "discussion", "title": "One too many", "body": "x"}))
    bob = _client(limited, setup["bob"])  # another person has their own allowance
    assert post_form(bob, url, {"kind": "discussion", "title": "Bob posts", "body": "x"}).status_code == 302


def test_commenting_is_limited(limited, setup):
    ana = _client(limited, setup["ana"])
    url = f"/p/{setup['post_id']}/comments"
    for _ in range(2):
        assert post_form(ana, url, {"body": "hello"}).status_code == 302
    _assert_429(post_form(ana, url, {"body": "hello"}))
    # only a view that stores nothing on preview exempts it: a "preview" field changes nothing here
    _assert_429(post_form(ana, url, {"body": "hello", "preview": "1"}))


def test_voting_is_limited(limited, setup):
    ana = _client(limited, setup["ana"])
    url = f"/p/{setup['post_id']}/vote"
    for _ in range(3):
        assert post_form(ana, url).status_code in (200, 302)
    _assert_429(post_form(ana, url))


def test_search_is_limited(limited, setup):
    ana = _client(limited, setup["ana"])
    for _ in range(2):
        assert ana.get("/search?q=idea").status_code != 429  # (503 here: no index built in this test)
    _assert_429(ana.get("/search?q=idea"))


def test_reporting_is_limited(limited, setup):
    ana = _client(limited, setup["ana"])
    url = f"/report/post/{setup['post_id']}"
    assert post_form(ana, url, {"category": "spam", "text": "An advert"}).status_code == 302
    again = post_form(ana, url, {"category": "spam"})  # refused (already reported), still counted
    assert again.status_code == 400 and "already reported" in again.get_data(as_text=True)
    _assert_429(post_form(ana, url, {"category": "spam"}))


def test_limits_are_off_in_the_default_test_config(app, make, login_as):
    community = make.community("open")
    user = make.user("employee")
    client = login_as(user)
    for n in range(12):
        assert post_form(client, f"/c/{community.slug}/new",
                         {"kind": "discussion", "title": f"Post number {n}", "body": "x"}).status_code == 302
    with app.app_context():
        assert db.session.get(Community, community.id) is not None
