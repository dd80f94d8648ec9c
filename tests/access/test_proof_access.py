"""Proof of the access rules (issue 7): every GET route of app.url_map x every kind of person x
content in each visibility, against a small model written here from the product rules; and the
same rules for search (hits, counts, facets, suggestions), notifications of mentions, socket
room joins and data exports.

The world (tests/proof_world.py) puts a marker word unique to each visibility in a post title
and body, a comment, a chat message and an attachment name: no body a person receives may
contain the marker of a community they may not read.
"""
from __future__ import annotations

import io
import json
import zipfile

from app.extensions import db, socketio
from tests import proof_world as pw
from tests.conftest import login, post, socket_received

# --- the model ------------------------------------------------------------------------------

# What each GET endpoint needs. Community-scoped levels: discover < read < moderate < manage;
# "author": the author of the thing (the community's manager wrote everything in the world).
RULES = {
    # public pages
    "main.home": "public", "main.healthz": "public", "auth.forgot_password": "public",
    "auth.signin": "guest", "auth.signup": "guest", "account.signin_code": "pending_code",
    "auth.verify_email": "bad_token", "auth.reset_password": "bad_token", "auth.accept_invitation": "no_invite",
    # any signed-in person
    "auth.account": "login", "people.directory": "login", "people.edit_profile": "login",
    "communities.index": "login", "notifications.index": "login", "notifications.settings": "login",
    "experts.finder": "login", "experts.mine": "login", "search.index": "login", "search.similar": "login",
    "search.saved": "login", "account.security": "login", "account.data": "login", "account.close": "login",
    "policy.global_show": "login", "policy.global_history": "login", "posts.feed": "login",
    # global roles
    "admin.index": "admin", "admin.people": "admin", "admin.person": "admin", "admin.department_list": "admin",
    "admin.site_settings": "admin", "admin.job_list": "admin", "moderation.global_rules": "admin",
    "moderation.audit_log": "admin", "policy.global_edit": "admin", "communities.create": "admin",
    "auth.invitations": "inviter", "experts.attention": "manager_anywhere",
    "moderation.queue": "moderator_anywhere", "insight.organisation": "insight_org",
    "insight.organisation_csv": "insight_org_csv",
    # a person
    "people.profile": "person",
    # community contents
    "communities.show": "discover",
    "communities.about": "read", "communities.members": "read", "communities.topic": "read", "posts.create": "read", "api.mentions": "read",
    "chat.channel": "read", "chat.thread": "read", "chat.comments_fragment": "read", "chat.idea_fragment": "read",
    "posts.show": "read",
    "policy.community_show": "read", "policy.community_history": "read", "moderation.report": "read",
    "files.serve": "read_file",
    "posts.edit": "moderate", "posts.revisions": "moderate", "comments.edit": "moderate",
    "comments.revisions": "moderate", "ideas.voters": "moderate", "chat.promote": "moderate",
    "moderation.target": "moderate",
    "communities.manage": "manage", "communities.manage_members": "manage", "communities.edit_topic": "manage",
    "experts.community": "manage", "experts.topic": "manage", "moderation.community_rules": "manage",
    "policy.community_edit": "manage", "insight.community": "manage_employee",
    "insight.community_csv": "manage_employee",
    "chat.edit": "author",
}

# GET endpoints the sweep does not request, each with the reason (and where it is proven instead).
SKIP = {
    "static": "static files, no user data",
    "chat.socketio_path": "the Socket.IO transport; room joins are proven in test_socket_rooms_follow_the_model",
    "communities.cover": "needs a stored cover key; cover access is tested in tests/community/test_communities.py",
    "people.avatar": "needs a stored avatar key; tested in tests/people/test_people.py",
    "account.download": "an export of the viewer; proven in test_exports_hold_only_the_persons_own_content",
    "search.edit_saved": "a saved search of the viewer (owner-only); tested in tests/search/test_search_views.py",
    "chat.mention": "a notification of the viewer; proven in test_mentions_notify_only_people_who_can_read",
}

LEVELS = {"discover": 0, "read": 1, "read_file": 1, "moderate": 2, "author": 2, "manage": 3, "manage_employee": 3}


def role_in(persona: str) -> str | None:
    return persona if persona in pw.ROLE_PERSONAS else None


def expected_status(rule: str, persona: str, visibility: str) -> int:
    """The status class the product promises `persona` for a route of kind `rule` whose content
    lives in a community of `visibility` (for role personas: the community where they hold the role).
    302 means "to the sign-in page" for anonymous, else "away from a guest page"."""
    anonymous = persona == "anonymous"
    external = persona in {"customer", "partner"}
    admin = persona == "admin"
    if rule == "public":
        return 200
    if rule == "guest":
        return 200 if anonymous else 302
    if rule == "pending_code":
        return 302  # no code pending: back to sign in
    if rule == "bad_token":
        return 410
    if rule == "no_invite":
        return 404
    if anonymous:
        return 404 if rule == "read_file" else 302
    if rule == "login":
        return 200
    if rule == "admin":
        return 200 if admin else 403
    if rule == "inviter":  # staff, or an employee managing a community
        return 200 if admin or persona == "manager" else 403
    if rule == "manager_anywhere":
        return 200 if admin or persona == "manager" else 403
    if rule == "moderator_anywhere":
        return 200 if admin or persona in {"manager", "moderator"} else 403
    if rule == "insight_org":  # externals never learn it exists; managers choose their community
        return 404 if external else (200 if admin or persona == "manager" else 403)
    if rule == "insight_org_csv":
        return 404 if external else (200 if admin else 403)
    if rule == "person":  # the world's authors share no community with an external
        return 404 if external else 200
    if not pw.may_discover(persona, visibility):
        return 404
    if rule == "discover":
        return 200
    if not pw.may_read(persona, visibility):
        return 404
    if rule in {"read", "read_file"}:
        return 200
    if rule == "manage_employee" and external:
        return 404
    role = role_in(persona)
    if rule == "author":
        return 200 if role == "manager" else 403
    if rule == "moderate":
        return 200 if admin or role in {"moderator", "manager"} else 403
    return 200 if admin or role == "manager" else 403  # manage


def readable_by(persona: str, home: str) -> set[str]:
    """Visibilities whose content the persona may read (role personas hold a role only in `home`)."""
    out = {v for v in pw.VISIBILITIES if pw.may_read("employee" if role_in(persona) else persona, v)}
    if role_in(persona):
        out.add(home)
    return out


# --- the sweep -----------------------------------------------------------------------------

def _values(world, vis: str) -> dict:
    place = world.places[vis]
    author = place.people["manager"]
    return {"slug": place.slug, "topic_slug": place.topic_slug, "post_id": place.post_id,
            "comment_id": place.comment_id, "message_id": place.message_id, "attachment_id": place.attachment_id,
            "variant": "full", "handle": author.handle, "user_id": author.id, "target_type": "post",
            "target_id": place.post_id, "table_id": "participation-kinds", "token": "no-such-token"}


def _get_rules(app):
    return [r for r in app.url_map.iter_rules() if "GET" in r.methods and r.endpoint not in SKIP]


def test_skip_and_rules_name_only_real_get_endpoints(app):
    get_endpoints = {r.endpoint for r in app.url_map.iter_rules() if "GET" in r.methods}
    assert set(SKIP) <= get_endpoints, set(SKIP) - get_endpoints
    assert set(RULES) <= get_endpoints, set(RULES) - get_endpoints
    # every GET route is either modelled or skipped with a reason: a new route fails here
    assert get_endpoints - set(SKIP) - set(RULES) == set()


def test_every_get_route_follows_the_model_and_leaks_nothing(app, make):
    world = pw.build(app, make, moderation=True)
    pw.sync_search(app)
    failures, seen = [], 0
    for vis in pw.VISIBILITIES:
        values = _values(world, vis)
        for persona in pw.PERSONAS:
            client = app.test_client()
            person = world.person(persona, vis)
            if person is not None:
                login(client, person)
            allowed = readable_by(persona, vis)
            banned = [pw.MARKERS[v] for v in pw.VISIBILITIES if v not in allowed]
            banned += [mark for key, mark in pw.MOD_MARKERS.items() if not pw.may_see_moderated(persona, vis, key)]
            paths = []
            for rule in _get_rules(app):
                if not rule.arguments and vis != "open" and not role_in(persona):
                    continue  # the same person and the same page: once is enough
                path = rule.build({a: values[a] for a in rule.arguments}, append_unknown=False)[1]
                paths.append((rule.endpoint, path))
            # pages that take a query: search, mentions and similar posts with words of every marker
            paths += [("search.index", "/search?q=proofword"), ("search.index", f"/search?q=proofword&community="
                                                                                f"{world.places[vis].community_id}"),
                      ("search.similar", "/search/similar?title=proofword+plan"),
                      ("api.mentions", f"/api/c/{values['slug']}/mentions?q=m"),
                      ("search.index", "/search?q=proofword&type=comment"), ("posts.feed", "/feed?sort=new")]
            for endpoint, path in paths:
                resp = client.get(path)
                seen += 1
                want = expected_status(RULES[endpoint], persona, vis)
                if resp.status_code != want:
                    failures.append(f"{persona}/{vis} GET {path} ({endpoint}): {resp.status_code}, model {want}")
                if resp.status_code == 302 and persona == "anonymous" and RULES[endpoint] not in {
                        "public", "guest", "pending_code"}:
                    if "/signin" not in resp.headers["Location"]:
                        failures.append(f"anonymous GET {path}: redirect to {resp.headers['Location']}")
                body = resp.get_data().decode("utf-8", "replace")
                leaked = [m for m in banned if m in body]
                if leaked:
                    failures.append(f"{persona}/{vis} GET {path}: shows {leaked}")
                if endpoint == "posts.show" and resp.status_code == 200 and pw.MARKERS[vis] not in body:
                    failures.append(f"{persona}/{vis} GET {path}: the post itself is missing")
    assert not failures, "\n".join(failures)
    assert seen > 1000


# --- search ------------------------------------------------------------------------------

def test_search_hits_counts_facets_and_suggestions_follow_the_model(app, make):
    from app.models import User
    from app.services import search

    world = pw.build(app, make)
    pw.sync_search(app)
    with app.app_context():
        admin = db.session.get(User, world.people["admin"].id)
        per_community = {vis: search.search(admin, "proofword", filters={"community": str(p.community_id)},
                                            record=False).total
                         for vis, p in world.places.items()}
        assert all(n >= 3 for n in per_community.values()), per_community  # post, comment, chat at least
        cids = {p.community_id: vis for vis, p in world.places.items()}
        totals = {}
        for persona in pw.PERSONAS[1:]:
            for home in (pw.VISIBILITIES if role_in(persona) else ("open",)):
                who = db.session.get(User, world.person(persona, home).id)
                allowed = readable_by(persona, home)
                page = search.search(who, "proofword", record=False, per_page=50)
                label = f"{persona}/{home}"
                assert page.total == sum(per_community[v] for v in allowed), label
                assert {cids.get(getattr(i.obj, "community_id", None), "?") for i in page.items} <= allowed | {"?"}
                assert sum(t.count for t in page.tabs if t.type) == page.total, label
                for facet in page.facets:
                    for option in facet.options:
                        if facet.name == "community":
                            assert cids[int(option.value)] in allowed, (label, option)
                        assert option.count <= page.total, (label, facet.name, option)
                for vis in pw.VISIBILITIES:
                    exact = search.search(who, pw.MARKERS[vis], record=False)
                    assert (exact.total > 0) == (vis in allowed), (label, vis)
                    typo = search.search(who, pw.MARKERS[vis][:-1] + "x", record=False)  # a misspelling
                    assert (typo.suggestion or "") != pw.MARKERS[vis] or vis in allowed, (label, vis)
                    assert typo.query != pw.MARKERS[vis] or vis in allowed, (label, vis)
                totals[label] = page.total
    # moderated content (hidden, held, deleted) adds nothing to the counts of those who may not see it
    pw._moderated(app, world.places["open"], world.people["admin"])
    pw.sync_search(app)
    with app.app_context():
        for persona in pw.PERSONAS[1:]:
            for home in (pw.VISIBILITIES if role_in(persona) else ("open",)):
                who = db.session.get(User, world.person(persona, home).id)
                label = f"{persona}/{home}"
                hidden_from = [k for k in pw.MOD_MARKERS if not pw.may_see_moderated(persona, home, k)]
                page = search.search(who, "proofword", record=False, per_page=50)
                if len(hidden_from) == len(pw.MOD_MARKERS):
                    assert page.total == totals[label], label
                for key in hidden_from:
                    assert search.search(who, pw.MOD_MARKERS[key], record=False).total == 0, (label, key)


# --- notifications -------------------------------------------------------------------------

def test_mentions_notify_only_people_who_can_read(app, make):
    """@mentions of every persona in a post, a comment and a chat message in each community:
    only those who may read that community are told, and /chat/mentions/<id> opens only one's own."""
    from app.models import ChatMention, Notification, User
    from app.services import chat
    from app.services.content import comments, posts
    from app.services.platform import jobs

    world = pw.build(app, make)
    outsiders = {k: world.people[k] for k in ("customer", "partner", "employee", "admin")}
    with app.app_context():
        handles = {k: db.session.get(User, u.id).handle for k, u in outsiders.items()}
        mention_all = " ".join(f"@{h}" for h in handles.values())
        made = {}
        for vis, place in world.places.items():
            author = db.session.get(User, place.people["member"].id)
            p = posts.create(author, place.slug, "discussion", f"Hello {vis}", f"Look {mention_all}", [place.topic_id])
            c = comments.add(author, place.post_id, f"See {mention_all}")
            m, _ = chat.post(author, place.community_id, f"Ping {mention_all}")
            made[vis] = (p.id, c.id, m.id)
        jobs.drain()
        jobs.drain()
        for key, user in outsiders.items():
            told_posts = set(db.session.scalars(db.select(Notification.post_id).where(Notification.user_id == user.id)))
            told_chat = set(db.session.scalars(db.select(ChatMention.message_id).where(ChatMention.user_id == user.id)))
            for vis, (pid, _cid, mid) in made.items():
                readable = pw.may_read(key, vis)
                place_post = world.places[vis].post_id
                assert (pid in told_posts) == readable, (key, vis, "post")
                assert (place_post in told_posts) == readable, (key, vis, "comment")
                assert (mid in told_chat) == readable, (key, vis, "chat")
        customer_note = db.session.scalar(db.select(Notification.id).where(
            Notification.user_id == outsiders["customer"].id))
        employee_notes = list(db.session.scalars(db.select(Notification.id).where(
            Notification.user_id == outsiders["employee"].id)))
    # the notification pages show no marker of what the person may not read
    for key, user in outsiders.items():
        client = app.test_client()
        login(client, user)
        body = client.get("/notifications").get_data(as_text=True)
        for vis in pw.VISIBILITIES:
            if not pw.may_read(key, vis):
                assert f"Hello {vis}" not in body and pw.MARKERS[vis] not in body, (key, vis)
    # someone else's notification: not found, through both doors
    client = app.test_client()
    login(client, outsiders["customer"])
    for nid in employee_notes:
        assert client.get(f"/chat/mentions/{nid}").status_code == 404
        assert post(client, f"/notifications/{nid}/open").status_code == 404
    assert customer_note is not None


# --- sockets -------------------------------------------------------------------------------

def test_socket_rooms_follow_the_model(app, make):
    """Joins at connect (with a replay from the start) and later joins: only rooms of readable
    communities; the replay carries nothing hidden by moderation to those who may not see it."""
    world = pw.build(app, make, moderation=True)
    for vis in pw.VISIBILITIES:
        place = world.places[vis]
        rooms = {f"community:{place.community_id}": 0, f"post:{place.post_id}": 0}
        for persona in pw.PERSONAS[1:]:
            client = app.test_client()
            login(client, world.person(persona, vis))
            sock = socketio.test_client(app, flask_test_client=client, headers={"Origin": "http://127.0.0.1:5000"},
                                        auth={"rooms": rooms})
            try:
                got = socket_received(sock)
                refused = {e["args"][0]["room"] for e in got if e["name"] == "room.refused"}
                body = json.dumps([e["args"] for e in got], default=str)
                readable = pw.may_read(persona, vis)
                assert refused == (set() if readable else set(rooms)), (persona, vis)
                assert readable or pw.MARKERS[vis] not in body, (persona, vis)
                if readable and vis == "open":
                    assert pw.MARKERS[vis] in body, (persona, "the replay carried the channel")
                for key, mark in pw.MOD_MARKERS.items():
                    assert pw.may_see_moderated(persona, vis, key) or mark not in body, (persona, vis, key)
                for room in rooms:
                    ack = sock.emit("join", {"room": room}, callback=True)
                    assert bool(ack and ack.get("ok")) == readable, (persona, vis, room, ack)
                ack = sock.emit("chat.send", {"room": f"community:{place.community_id}", "body": "hi from outside",
                                              "key": f"k-{persona}-{vis}-0001"}, callback=True)
                assert bool(ack and ack.get("ok")) == readable, (persona, vis, ack)
            finally:
                sock.disconnect()
    # nobody anonymous gets a socket at all
    anon = socketio.test_client(app, flask_test_client=app.test_client(), headers={"Origin": "http://127.0.0.1:5000"})
    assert not anon.is_connected()


# --- exports -------------------------------------------------------------------------------

def test_exports_hold_only_the_persons_own_content(app, make):
    """Each export holds the person's own posts, comments and messages and nobody else's; the
    download of someone else's export is not found."""
    from app.models import DataExport, User
    from app.services import chat
    from app.services.content import comments
    from app.services.people import privacy
    from app.services.platform import jobs

    world = pw.build(app, make)
    member = world.places["open"].people["member"]
    with app.app_context():
        me = db.session.get(User, member.id)
        comments.add(me, world.places["open"].post_id, "My own zzmine comment")
        chat.post(me, world.places["open"].community_id, "My own zzmine chat")
        exports = {}
        for who in (me, db.session.get(User, world.places["private"].people["manager"].id)):
            exports[who.id] = privacy.request_export(who).id
        jobs.drain()
        paths = {}
        from app.services.platform import storage
        for uid, eid in exports.items():
            export = db.session.get(DataExport, eid)
            assert export.status == "ready"
            paths[uid] = storage.path_for(export.key)
    mine = _zip_text(paths[member.id])
    assert "zzmine comment" in mine and "zzmine chat" in mine
    # the world's content is others' (notifications addressed to the person are theirs to keep)
    assert not any(m in mine for m in pw.MARKERS.values())
    theirs = _zip_text(paths[world.places["private"].people["manager"].id])
    assert pw.MARKERS["private"] in theirs and "zzmine" not in theirs
    client = app.test_client()
    login(client, member)
    other = exports[world.places["private"].people["manager"].id]
    assert client.get(f"/account/data/{other}/download").status_code == 404
    own = client.get(f"/account/data/{exports[member.id]}/download")
    assert own.status_code == 200 and zipfile.is_zipfile(io.BytesIO(own.data))


def _zip_text(path) -> str:
    with zipfile.ZipFile(path) as zf:
        return "\n".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist() if not n.startswith("uploads/") and n != "notifications.json")


def test_notifications_about_moderated_content_disappear(app, make):
    """Someone was told of a post, a comment and a chat message that were then hidden, held or
    deleted: their notification list (and the header count) no longer shows them, and the old
    chat-mention link shows nothing of the hidden message. (Found by this proof: held posts and
    hidden/deleted chat messages stayed visible in notifications.)"""
    from app.models import Notification, User
    from app.services import chat, notifications
    from app.services.platform import jobs

    world = pw.build(app, make, moderation=True)
    customer = world.people["customer"]
    place = world.places["open"]
    with app.app_context():
        author = db.session.get(User, place.people["member"].id)
        handle = db.session.get(User, customer.id).handle
        gone, _ = chat.post(author, place.community_id, f"zzdeleted chat @{handle}")
        jobs.drain()
        chat.delete(author, gone.id)
        me = db.session.get(User, customer.id)
        shown = [n.text for n in notifications.page(me).items]
        assert shown and not any(m in t for t in shown for m in (*pw.MOD_MARKERS.values(), "zzdeleted"))
        assert notifications.unread_count(me) == len(shown)
        chat_notes = list(db.session.scalars(db.select(Notification.id).where(
            Notification.user_id == customer.id, Notification.kind == "chat_mention")))
    assert len(chat_notes) == 2
    client = app.test_client()
    login(client, customer)
    for nid in chat_notes:
        resp = client.get(f"/chat/mentions/{nid}", follow_redirects=True)
        body = resp.get_data(as_text=True)
        assert pw.MOD_MARKERS["hidden_chat"] not in body and "zzdeleted" not in body, resp.status_code


def test_a_suspended_member_with_a_live_session_sees_nothing(app, make):
    """Suspension takes effect on a session that is already open (even when the session
    version was not bumped): every URL of the private community shows none of its content."""
    from datetime import timedelta

    from app import clock
    from app.models import User

    world = pw.build(app, make)
    place = world.places["private"]
    member = place.people["moderator"]
    client = app.test_client()
    login(client, member)
    assert client.get(f"/p/{place.post_id}").status_code == 200
    with app.app_context():
        db.session.get(User, member.id).suspended_until = clock.utcnow() + timedelta(days=3)
        db.session.commit()
    values = _values(world, "private")
    for rule in _get_rules(app):
        path = rule.build({a: values[a] for a in rule.arguments}, append_unknown=False)[1]
        resp = client.get(path)
        body = resp.get_data().decode("utf-8", "replace")
        assert pw.MARKERS["private"] not in body, path
        assert resp.status_code in (200, 302, 403, 404, 410), path
        if rule.arguments & {"slug", "post_id", "comment_id", "message_id", "attachment_id"}:
            assert resp.status_code in (302, 404), path


def test_saved_search_alerts_follow_the_model(app, make):
    """A saved search alerts its owner only of what they may read: not of internal or private
    posts, not of a post held for review, not of a hidden comment."""
    from app import clock
    from app.models import Comment, Notification, Post, User
    from app.services import search
    from app.services.content import comments, posts
    from app.services.platform import jobs

    world = pw.build(app, make)
    pw.sync_search(app)
    with app.app_context():
        customer = db.session.get(User, world.people["customer"].id)
        search.save(customer, "", "zzalert")
        made = {}
        for vis, place in world.places.items():
            author = db.session.get(User, place.people["member"].id)
            made[vis] = posts.create(author, place.slug, "discussion", f"zzalert {vis} post", "x", [place.topic_id]).id
        place = world.places["open"]
        author = db.session.get(User, place.people["member"].id)
        held = posts.create(author, place.slug, "discussion", "zzalert held post", "x", [place.topic_id])
        db.session.get(Post, held.id).held_at = clock.utcnow()
        hidden = comments.add(author, place.post_id, "zzalert hidden comment")
        db.session.get(Comment, hidden.id).hidden_at = clock.utcnow()
        db.session.commit()
        search.sync()
        jobs.drain()
        told = [(n.post_id, n.comment_id) for n in db.session.scalars(db.select(Notification).where(
            Notification.user_id == customer.id, Notification.kind == "saved_search"))]
    assert told == [(made["open"], None)]
