"""Proof (issue 7): every state-changing route refuses a missing or foreign CSRF token and
changes nothing; GET never changes data.

Routes come from app.url_map, so a new POST route is covered the day it is added. "Changes
nothing" is checked on the whole database: the row count and a hash of the content of every table.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import select

from app.extensions import db
from app.services.content import reads
from tests import proof_world as pw
from tests.conftest import csrf_token, login

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

# GETs that are allowed to write, and exactly which tables they may touch. Each is a read
# marker or a usage statistic by design; listed here so that any other GET write fails.
KNOWN_GET_WRITES = {
    "posts.show": ({"post_reads", "posts"}, "unread markers and the view counter (posts.view_count), "
                   "queued and written in batches after the request (app.services.content.reads)"),
    "search.index": ({"search_log"}, "the search log behind 'popular queries' (only with a query)"),
}


def snapshot() -> dict[str, tuple[int, str]]:
    """Every table: (row count, hash of its rows in primary-key order)."""
    out = {}
    for table in db.metadata.sorted_tables:
        order = list(table.primary_key.columns) or list(table.columns)
        rows = db.session.execute(select(table).order_by(*order)).all()
        out[table.name] = (len(rows), hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest())
    db.session.rollback()
    return out


def changed(before: dict, after: dict) -> set[str]:
    return {name for name in before if before[name] != after.get(name)}


def _values(world) -> dict:
    place = world.places["private"]
    author = place.people["member"]
    return {"slug": place.slug, "topic_slug": place.topic_slug, "post_id": place.post_id,
            "comment_id": place.comment_id, "message_id": place.message_id, "attachment_id": place.attachment_id,
            "variant": "full", "handle": author.handle, "user_id": author.id, "target_type": "post",
            "target_id": place.post_id, "table_id": "participation-kinds", "token": "no-such-token"}


def _path(rule, values) -> str:
    args = {a: values.get(a, 1) for a in rule.arguments}
    return rule.build(args, append_unknown=False)[1]


FORM = {"title": "Changed", "body": "Changed", "name": "Changed", "description": "Changed", "role": "manager",
        "decision": "approve", "email": "x@customer.example", "visibility": "open", "status": "planned",
        "response": "Changed", "reason": "Changed", "follow": "1", "target_type": "post", "target_id": "1",
        "mode": "delete", "password": "correct horse battery", "q": "x", "text": "Changed", "kind": "idea"}


def _csrf_refusal(resp) -> bool:
    """A 400 from the CSRF check itself (not a validation error, which is also a 400)."""
    text = resp.get_data(as_text=True)
    return resp.status_code == 400 and ("form expired" in text or "came from another site" in text)


def test_every_write_route_refuses_a_missing_or_foreign_token_and_changes_nothing(app, make):
    world = pw.build(app, make)
    values = _values(world)
    admin = world.people["admin"]
    thief = app.test_client()  # another session: its token must not work in the admin's
    login(thief, world.people["employee"])
    foreign = csrf_token(thief)
    rules = [r for r in app.url_map.iter_rules() if r.methods & WRITE_METHODS]
    assert len(rules) > 60
    with app.app_context():
        before = snapshot()
    failures = []
    for signed_in in (True, False):
        client = app.test_client()
        if signed_in:
            login(client, admin)
            client.get("/")  # the session now holds its own CSRF secret
        else:
            client.get("/signin")
        for rule in rules:
            path = _path(rule, values)
            for method in sorted(rule.methods & WRITE_METHODS):
                for label, extra in (("no token", {}), ("foreign token", {"csrf_token": foreign})):
                    resp = client.open(path, method=method, data=FORM | extra)
                    if not _csrf_refusal(resp):
                        failures.append(f"{method} {path} ({rule.endpoint}, {label}, "
                                        f"{'admin' if signed_in else 'anonymous'}): {resp.status_code}")
                    resp = client.open(path, method=method, json=FORM | extra)  # JSON bodies too
                    if not _csrf_refusal(resp):
                        failures.append(f"{method} {path} JSON ({rule.endpoint}, {label}): {resp.status_code}")
        with app.app_context():
            after = snapshot()
        assert changed(before, after) == set(), changed(before, after)
    assert not failures, "\n".join(failures)


def test_get_never_changes_data(app, make):
    """Every GET route, by a signed-in admin in the seeded world, changes no table (except the
    read markers and statistics listed in KNOWN_GET_WRITES, which may touch only their tables)."""
    world = pw.build(app, make)
    pw.sync_search(app)
    values = _values(world)
    client = app.test_client()
    login(client, world.people["admin"])
    skip = {"static", "chat.socketio_path"}
    rules = [r for r in app.url_map.iter_rules() if "GET" in r.methods and r.endpoint not in skip]
    paths = [(r.endpoint, _path(r, values)) for r in rules]
    paths += [("search.index", "/search?q=proofword"), ("search.similar", "/search/similar?title=proofword"),
              ("notifications.index", "/notifications?unread=1"), ("posts.feed", "/feed?sort=new")]
    failures, seen_writes = [], set()
    with app.app_context():
        before = snapshot()
    for endpoint, path in paths:
        client.get(path)
        reads.flush(app)  # read markers are queued by the page view and written in batches: now
        with app.app_context():
            after = snapshot()
        touched = changed(before, after)
        if touched:
            allowed, _why = KNOWN_GET_WRITES.get(endpoint, (set(), ""))
            if touched - allowed:
                failures.append(f"GET {path} ({endpoint}) changed {sorted(touched)}")
            seen_writes.add(endpoint)
        before = after
    assert not failures, "\n".join(failures)
    # the exceptions are still real (otherwise remove them from KNOWN_GET_WRITES)
    assert seen_writes == set(KNOWN_GET_WRITES)


def test_a_foreign_token_is_refused_on_a_real_form(app, make):
    """The everyday attack: a page on another site posts a comment with the attacker's token."""
    from app.models import Comment

    world = pw.build(app, make)
    victim, attacker = app.test_client(), app.test_client()
    login(victim, world.places["open"].people["member"])
    login(attacker, world.people["customer"])
    token = csrf_token(attacker)
    resp = victim.post(f"/p/{world.places['open'].post_id}/comments", data={"body": "pwned", "csrf_token": token})
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.query(Comment).filter_by(body="pwned").count() == 0
    good = victim.post(f"/p/{world.places['open'].post_id}/comments",
                       data={"body": "mine", "csrf_token": csrf_token(victim)})
    assert good.status_code in (302, 303)
    with app.app_context():
        assert db.session.query(Comment).filter_by(body="mine").count() == 1


def test_a_socket_from_another_site_is_refused(app, make):
    """Cross-site socket hijacking: a signed-in browser opened by another site's page (its
    Origin) gets no socket, so it can neither read rooms nor send messages."""
    from app.extensions import socketio

    person = make.user("employee")
    for origin, accepted in (("https://evil.example", False), ("null", False),
                             ("http://127.0.0.1:5000", True)):
        client = app.test_client()
        login(client, person)
        sock = socketio.test_client(app, flask_test_client=client, headers={"Origin": origin})
        try:
            assert sock.is_connected() == accepted, origin
        finally:
            if sock.is_connected():
                sock.disconnect()
