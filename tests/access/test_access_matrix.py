"""The access matrix: every kind of person x every visibility x each community action,
checked through the HTTP doors against an independent model of the rules.

The model below is written from the product rules, not from app.services.access, so a change
in the access module that breaks a rule fails here.
"""
from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter

from tests.conftest import csrf_token, login

PERSONAS = ["anonymous", "customer", "partner", "employee", "external_member", "member",
            "moderator", "manager", "social_team", "admin"]
VISIBILITIES = ["open", "internal", "private"]


def model(persona: str, visibility: str) -> dict[str, bool]:
    """What the product promises: discover (landing page), read (contents), manage."""
    if persona == "anonymous":
        return {"discover": False, "read": False, "manage": False}
    staff = persona in {"social_team", "admin"}
    role_member = persona in {"member", "moderator", "manager"}
    external = persona in {"customer", "partner", "external_member"}
    if staff or role_member:
        read = True
    elif persona == "external_member":
        read = visibility in {"open", "private"}
    elif external:
        read = visibility == "open"
    else:  # employee, not a member
        read = visibility in {"open", "internal"}
    discover = read or not external
    return {"discover": discover, "read": read, "manage": staff or persona == "manager"}


def _world(make, visibility):
    manager = make.user("employee", name="Mona Manager")
    community = make.community(visibility, manager=manager, name="Zeta Circle", topics=("Quartz Topic",))
    people = {
        "customer": make.user("customer"), "partner": make.user("partner"),
        "employee": make.user("employee"), "member": make.user("employee"),
        "moderator": make.user("employee"), "manager": manager,
        "social_team": make.user("employee", is_global_manager=True), "admin": make.admin(),
        "external_member": make.user("customer"),
    }
    make.member(community, people["member"])
    make.member(community, people["moderator"], "moderator")
    if visibility != "internal":
        make.member(community, people["external_member"])
    return community, people


# Externals can never be members of an internal community (the service refuses it), so that
# combination does not exist.
CASES = [(p, v) for p in PERSONAS for v in VISIBILITIES if (p, v) != ("external_member", "internal")]


@pytest.mark.parametrize(("persona", "visibility"), CASES)
def test_community_pages_follow_the_model(app, make, persona, visibility):
    community, people = _world(make, visibility)
    client = app.test_client()
    if persona != "anonymous":
        login(client, people[persona])
    expect = model(persona, visibility)
    slug = community.slug

    def status(path):
        return client.get(path).status_code

    if persona == "anonymous":
        for path in (f"/c/{slug}", f"/c/{slug}/members", f"/c/{slug}/manage"):
            resp = client.get(path)
            assert resp.status_code == 302 and "/signin" in resp.headers["Location"]
        return

    landing = client.get(f"/c/{slug}")
    assert landing.status_code == (200 if expect["discover"] else 404)
    body = landing.get_data(as_text=True)
    assert ("Quartz Topic" in body) == expect["read"]
    assert ("Zeta Circle" in body) == expect["discover"]
    assert status(f"/c/{slug}/members") == (200 if expect["read"] else 404)
    assert status(f"/c/{slug}/t/quartz-topic") == (200 if expect["read"] else 404)
    manage_status = 200 if expect["manage"] else (403 if expect["read"] else 404)
    assert status(f"/c/{slug}/manage") == manage_status
    assert status(f"/c/{slug}/manage/members") == manage_status
    listed = "Zeta Circle" in client.get("/communities").get_data(as_text=True)
    assert listed == expect["discover"]


@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("persona", ["customer", "partner", "employee"])
def test_joining_follows_the_model(app, make, persona, visibility):
    community, people = _world(make, visibility)
    client = app.test_client()
    login(client, people[persona])
    token = csrf_token(client)
    client.post(f"/c/{community.slug}/join", data={"csrf_token": token})
    from app.extensions import db
    from app.models import Membership

    with app.app_context():
        joined = db.session.query(Membership).filter_by(
            community_id=community.id, user_id=people[persona].id).count() == 1
    # only readable, non-private communities can be joined directly
    assert joined == (model(persona, visibility)["read"] and visibility != "private")


def _secret_content(app, make, community, people):
    """A post with a comment and an image attachment inside `community` (all named "Quartz")."""
    import io

    from PIL import Image
    from werkzeug.datastructures import FileStorage

    from app.extensions import db
    from app.models import Topic, User
    from app.services.content import comments, posts

    with app.app_context():
        author = db.session.get(User, people["manager"].id)
        topic = db.session.query(Topic).filter_by(community_id=community.id).first()
        buf = io.BytesIO()
        Image.new("RGB", (40, 40), "red").save(buf, "PNG")
        buf.seek(0)
        post = posts.create(author, community.slug, "idea", "Quartz secret plan", "Quartz body text", [topic.id],
                            files=[FileStorage(buf, filename="quartz.png")])
        comment = comments.add(author, post.id, "Quartz comment text")
        from app.models import Attachment

        attachment = db.session.query(Attachment).filter_by(post_id=post.id).first()
        return {"post_id": post.id, "comment_id": comment.id, "attachment_id": attachment.id}


def _urls_for(app, values, *, methods, needs=("slug", "post_id", "comment_id", "attachment_id")):
    """Every route of the app that names one of `needs`, filled in from `values`."""
    for rule in app.url_map.iter_rules():
        if not (rule.arguments & set(needs)) or not (rule.methods & methods):
            continue
        args = {}
        for name in rule.arguments:
            if name in values:
                args[name] = values[name]
            elif isinstance(rule._converters[name], IntegerConverter):
                args[name] = 1
            else:
                args[name] = "full" if name == "variant" else "x"
        path = rule.build(args, append_unknown=False)[1]
        yield rule, path


@pytest.mark.parametrize("visibility", ["internal", "private"])
@pytest.mark.parametrize("persona", ["customer", "partner"])
def test_externals_cannot_reach_any_internal_or_private_url(app, make, persona, visibility):
    """Every URL of the app that takes a community, a post, a comment or a file, by GET and
    POST: 404 (or a redirect that ends in one), nothing leaks, nothing changes."""
    community, people = _world(make, visibility)
    ids = _secret_content(app, make, community, people)
    values = {"slug": community.slug, "topic_slug": "quartz-topic", "user_id": people["manager"].id,
              "request_id": 1, "key": "x.png", **ids}
    client = app.test_client()
    login(client, people[persona])
    token = csrf_token(client)
    seen = 0
    for _rule, path in _urls_for(app, values, methods={"GET"}):
        resp = client.get(path)
        seen += 1
        assert resp.status_code == 404, path
        body = resp.get_data(as_text=True)
        assert "Zeta Circle" not in body and "Quartz" not in body, path
    for _rule, path in _urls_for(app, values, methods={"POST"}):
        resp = client.post(path, data={"csrf_token": token, "name": "Hacked", "role": "manager", "body": "Hacked",
                                       "title": "Hacked title", "decision": "approve", "email": "x@customer.example",
                                       "visibility": "open", "description": "", "message": "", "status": "planned",
                                       "response": "Hacked", "target_type": "post", "target_id": ids["post_id"],
                                       "follow": "1"})
        seen += 1
        assert resp.status_code in (404, 302), path
        if resp.status_code == 302:  # a redirect back must lead to a 404, never to content
            follow = client.get(resp.headers["Location"])
            assert follow.status_code == 404 or "Quartz" not in follow.get_data(as_text=True), path
    assert seen >= 40
    from app.extensions import db
    from app.models import Comment, Community, Follow, Membership, Post, Topic, Vote

    with app.app_context():
        c = db.session.get(Community, community.id)
        assert c.name == "Zeta Circle" and c.visibility == visibility
        assert [t.name for t in db.session.query(Topic).filter_by(community_id=c.id)] == ["Quartz Topic"]
        assert db.session.query(Membership).filter_by(user_id=people[persona].id, community_id=c.id).count() == 0
        post = db.session.get(Post, ids["post_id"])
        assert post.title == "Quartz secret plan" and post.status == "new" and post.deleted_at is None
        assert db.session.query(Comment).filter_by(post_id=post.id).count() == 1
        assert db.session.query(Vote).count() == 0
        assert db.session.query(Follow).filter_by(user_id=people[persona].id).count() == 0
