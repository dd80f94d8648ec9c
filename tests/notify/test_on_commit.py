"""Every live event and after-commit reaction is queued in its transaction (app.events): it
runs once that transaction commits, and never when it rolls back. Each service that ends live
sessions, removes members or deletes files queues the reaction instead of acting after a
hand-made commit; a post or comment with "I accept the guidelines" is one transaction."""
from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from app import clock, events
from app.errors import ValidationError
from app.extensions import db
from app.live import rooms
from app.models import Community, GuidelineAcceptance, User
from app.services import moderation
from app.services.community import communities, policy
from app.services.content import comments, posts
from app.services.people import accounts, privacy
from tests.conftest import PASSWORD, login
from tests.conftest import post as post_form
from tests.helpers import fresh


def _committed_version(user_id: int) -> int:
    """session_version as another connection sees it: only what was committed."""
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT session_version FROM users WHERE id = :id"), {"id": user_id}).scalar()


@pytest.fixture
def live(ctx, monkeypatch):
    """What reaches the sockets: emitted events and the live layer's hooks, in order, as
    ("emit", name, room) / ("disconnect", user_id, committed session_version) /
    ("browser", token)."""
    out = []
    monkeypatch.setattr(events, "_emit", lambda name, payload, room: out.append(("emit", name, room)))
    monkeypatch.setattr(events.hooks, "disconnect_user",
                        lambda user_id: out.append(("disconnect", user_id, _committed_version(user_id))))
    monkeypatch.setattr(events.hooks, "disconnect_browser", lambda token: out.append(("browser", token)))
    return out


# --- the mechanism ------------------------------------------------------------------------

def test_reactions_run_after_commit_in_order_with_events(live):
    events.publish("post.created", {}, "community:1")
    events.on_commit(lambda: live.append(("reaction",)))
    events.publish("post.created", {}, "community:2")
    assert live == []
    db.session.commit()
    assert live == [("emit", "post.created", "community:1"), ("reaction",), ("emit", "post.created", "community:2")]
    db.session.commit()  # run once
    assert len(live) == 3


def test_reactions_are_dropped_on_rollback_even_before_any_sql(live):
    events.on_commit(lambda: live.append(("reaction",)))  # opens the transaction it belongs to
    db.session.rollback()
    db.session.commit()
    assert live == []


def test_a_failing_reaction_is_logged_and_the_commit_stands(live, make, caplog):
    user = fresh(make.user())

    def boom():
        raise RuntimeError("socket layer down")

    user.display_name = "Renamed"
    events.on_commit(boom)
    events.on_commit(lambda: live.append(("after",)))
    db.session.commit()
    assert ("after",) in live
    assert "after-commit reaction" in caplog.text
    db.session.expire_all()
    assert fresh(user).display_name == "Renamed"


def test_the_live_layer_installs_its_hooks_and_events_imports_no_live_module(app):
    assert events.hooks.disconnect_user is rooms.disconnect_user
    assert events.hooks.disconnect_browser is rooms.disconnect_browser_session
    assert events.hooks.narrow is rooms.narrow
    code = "import sys, app.events; print(sorted(m for m in sys.modules if m.startswith(('app.live', 'app.services'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- accounts -----------------------------------------------------------------------------

def test_sign_out_everywhere_ends_live_sessions_only_after_commit(live, make):
    user = fresh(make.user())
    before = user.session_version
    accounts.sign_out_everywhere(user)
    assert live == [("emit", "session.ended", f"user:{user.id}"), ("disconnect", user.id, before + 1)]


def test_password_change_and_reset_end_live_sessions_after_commit(live, make):
    user = fresh(make.user())
    with pytest.raises(ValidationError):
        accounts.change_password(user, "not the password", "A much better passphrase 42")
    db.session.rollback()
    assert live == []
    version = user.session_version
    accounts.change_password(user, PASSWORD, "A much better passphrase 42")
    assert live[-1] == ("disconnect", user.id, version + 1)
    token = accounts.reset_token(user)
    with pytest.raises(ValidationError):
        accounts.reset_password(token, "short")  # a weak password: nothing stored, nothing sent
    db.session.rollback()
    assert len([x for x in live if x[0] == "disconnect"]) == 1
    accounts.reset_password(token, "Another good passphrase 43")
    assert live[-1] == ("disconnect", user.id, version + 2)


def test_suspension_ends_live_sessions_after_commit_and_not_when_rolled_back(live, make):
    admin, user = fresh(make.admin()), fresh(make.user())
    accounts.apply_suspension(admin, user, None, "Spam")  # the caller commits; this one does not
    db.session.rollback()
    assert live == []
    version = fresh(user).session_version
    accounts.suspend(admin, fresh(user), clock.utcnow() + timedelta(days=1), "Spam")
    assert live[-1] == ("disconnect", user.id, version + 1)
    assert ("emit", "session.ended", f"user:{user.id}") in live


def test_moderation_account_actions_end_live_sessions_after_commit(live, make):
    social = fresh(make.user("employee", is_global_manager=True))
    community = make.community("open", manager=social)
    author = fresh(make.user("customer"))
    post = posts.create(author, community.slug, "discussion", "Cheap offers", "Buy now")
    version = fresh(author).session_version
    live.clear()
    with pytest.raises(ValidationError):
        moderation.act(social, "post", post.id, "suspend", "Spam", until=clock.utcnow() - timedelta(days=1))
    db.session.rollback()
    assert [x for x in live if x[0] == "disconnect"] == []
    moderation.act(social, "post", post.id, "ban", "Repeated spam")
    assert live[-1] == ("disconnect", author.id, version + 1)


def test_closing_an_account_ends_live_sessions_after_commit(live, make):
    user = fresh(make.user("customer"))
    with pytest.raises(ValidationError):
        privacy.close_account(user, user, "remove", password="wrong one")
    db.session.rollback()
    assert live == []
    version = fresh(user).session_version
    privacy.close_account(fresh(user), fresh(user), "remove", password=PASSWORD)
    assert live[-1] == ("disconnect", user.id, version + 1)


# --- communities --------------------------------------------------------------------------

def test_leaving_or_being_removed_from_a_private_community_is_told_after_commit(live, make):
    manager = fresh(make.user("employee", is_global_manager=True))
    community = make.community("private", manager=manager)
    one, two = make.user("customer"), make.user("customer")
    make.member(community, one)
    make.member(community, two)
    community = db.session.get(Community, community.id)
    live.clear()
    communities.leave(fresh(one), community.slug)
    assert ("emit", "community.member_removed", f"user:{one.id}") in live
    communities.remove_member(manager, community.slug, two.id)
    assert ("emit", "community.member_removed", f"user:{two.id}") in live


def test_a_refused_removal_tells_nobody(live, make):
    manager = fresh(make.user("employee", is_global_manager=True))
    community = make.community("private", manager=manager)
    with pytest.raises(ValidationError):
        communities.leave(manager, community.slug)  # the only manager
    db.session.rollback()
    assert live == []


# --- sign-out of one browser ----------------------------------------------------------------

def test_signing_out_disconnects_that_browsers_sockets(app, make, monkeypatch):
    seen = []
    monkeypatch.setattr(events.hooks, "disconnect_browser", seen.append)
    user = make.user()
    client = app.test_client()
    login(client, user)
    client.get("/")
    with client.session_transaction() as sess:
        token = sess[events.SESSION_TOKEN]
    assert post_form(client, "/signout").status_code == 302
    assert seen == [token]


# --- one use case, one transaction: writing with "I accept the guidelines" --------------------

@pytest.fixture
def guided(ctx, make):
    social = fresh(make.user("employee", is_global_manager=True))
    community = make.community("open")
    member = make.user("customer")
    make.member(community, member)
    post = posts.create(fresh(social), community.slug, "discussion", "Before the rules", "text")
    policy.save(social, "# Be kind\nNo spam.")
    return {"community": db.session.get(Community, community.id), "member": fresh(member), "post": post}


def _acceptances(user_id: int) -> int:
    return len(db.session.scalars(select(GuidelineAcceptance).where(GuidelineAcceptance.user_id == user_id)).all())


def test_a_failing_post_leaves_the_guidelines_not_accepted(guided):
    member, c = guided["member"], guided["community"]
    with pytest.raises(ValidationError) as exc:
        posts.create(member, c.slug, "discussion", "", "text", accept_guidelines=True)  # no title
    assert "title" in exc.value.errors
    db.session.rollback()
    assert _acceptances(member.id) == 0 and not policy.has_accepted(member, None)
    post = posts.create(member, c.slug, "discussion", "My first post", "text", accept_guidelines=True)
    assert post.id and policy.has_accepted(member, None) and _acceptances(member.id) == 1


def test_a_failing_comment_leaves_the_guidelines_not_accepted(guided):
    member, p = guided["member"], guided["post"]
    with pytest.raises(ValidationError):
        comments.add(member, p.id, "   ", accept_guidelines=True)  # an empty body
    db.session.rollback()
    assert _acceptances(member.id) == 0
    assert comments.add(member, p.id, "A comment", accept_guidelines=True).id
    assert policy.has_accepted(member, None)


def test_the_post_form_accepts_the_guidelines_only_with_the_post(app, make, login_as):
    social = make.user("employee", is_global_manager=True)
    community = make.community("open")
    member = make.user("customer")
    make.member(community, member)
    with app.app_context():
        policy.save(db.session.get(User, social.id), "Be kind.")
    client = login_as(member)
    refused = post_form(client, f"/c/{community.slug}/new",
                        {"kind": "discussion", "title": "x", "body": "text", "accept_guidelines": "y"})  # too short
    assert refused.status_code == 400 and "at least" in refused.get_data(as_text=True)  # refused by posts.create
    assert 'name="accept_guidelines"' in refused.get_data(as_text=True)
    with app.app_context():
        assert not policy.has_accepted(db.session.get(User, member.id), None)
    ok = post_form(client, f"/c/{community.slug}/new",
                   {"kind": "discussion", "title": "A fine title", "body": "text", "accept_guidelines": "y"})
    assert ok.status_code == 302
    with app.app_context():
        assert policy.has_accepted(db.session.get(User, member.id), None)
