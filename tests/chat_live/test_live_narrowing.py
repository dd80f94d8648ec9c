"""Narrowing: every committed change that takes away someone's right to read a community or a
post takes their open sockets out of its rooms before the commit returns — a community's
visibility, a person's kind, staff flags or suspension, a membership or its role, a post
hidden, held, deleted or moved. Checked for each change × each kind of room (community chat,
post page) and for presence, with no upkeep re-check and no waiting: the chat message sent
right after the commit must not reach the socket, and those who keep the right keep the room.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from app import clock, events
from app.extensions import db
from app.models import Community, MemberRole, Membership, Post, User, UserKind, Visibility


@dataclass
class World:
    community: Community
    other: Community  # a private community nobody of the cast belongs to
    post_id: int
    cast: dict[str, User]


def _world(make, app, visibility: str) -> World:
    manager = make.user("employee", name="Mia Manager")
    c = make.community(visibility, manager=manager)
    other = make.community("private")
    cast = {"manager": manager, "writer": make.user("employee", name="Wes Writer")}
    if visibility != "internal":
        cast["customer"] = make.user("customer", name="Cas Customer")
        make.member(c, cast["customer"]) if visibility == "private" else None
    cast["employee"] = make.user("employee", name="Emma Employee")
    cast["moderator"] = make.user("employee", name="Moe Moderator")
    cast["admin"] = make.admin(name="Ada Admin")
    make.member(c, cast["writer"])
    make.member(c, cast["moderator"], role="moderator")
    if visibility == "private":
        make.member(c, cast["employee"])
    from app.services.content import posts

    with app.app_context():
        post_id = posts.create(db.session.get(User, cast["writer"].id), c.slug, "discussion", "Plans", "x").id
    return World(c, other, post_id, cast)


def _change(app, fn) -> None:
    with app.app_context():
        fn()
        db.session.commit()


def _set(model, ident, **values):
    def apply():
        row = db.session.get(model, ident)
        for name, value in values.items():
            setattr(row, name, value)
    return apply


def _drop_membership(community_id, user_id):
    def apply():
        row = db.session.query(Membership).filter_by(community_id=community_id, user_id=user_id).one()
        db.session.delete(row)
    return apply


# Each case: (visibility of the community, the change, who must lose the rooms, who keeps them).
CASES = {
    "open community made private": (
        "open", lambda w: _set(Community, w.community.id, visibility=Visibility.PRIVATE),
        {"customer", "employee"}, {"writer", "moderator", "manager", "admin"}),
    "open community made internal": (
        "open", lambda w: _set(Community, w.community.id, visibility=Visibility.INTERNAL),
        {"customer"}, {"employee", "writer", "moderator", "manager", "admin"}),
    "an employee becomes a customer": (
        "internal", lambda w: _set(User, w.cast["employee"].id, kind=UserKind.CUSTOMER),
        {"employee"}, {"writer", "moderator", "manager", "admin"}),
    "an admin loses the admin flag": (
        "private", lambda w: _set(User, w.cast["admin"].id, is_admin=False),
        {"admin"}, {"writer", "moderator", "employee", "manager", "customer"}),
    "a member is removed from a private community": (
        "private", lambda w: _drop_membership(w.community.id, w.cast["customer"].id),
        {"customer"}, {"writer", "moderator", "employee", "manager", "admin"}),
    "a suspension": (
        "open", lambda w: _set(User, w.cast["employee"].id, suspended_until=clock.utcnow() + timedelta(days=1)),
        {"employee"}, {"writer", "moderator", "customer", "manager", "admin"}),
}

# Changes of a post: only its room narrows.
POST_CASES = {
    "the post is hidden by moderation": (
        lambda w: _set(Post, w.post_id, hidden_at=clock.utcnow()),
        {"customer", "employee", "writer"}, {"moderator", "manager", "admin"}),
    "the post is held for review": (
        lambda w: _set(Post, w.post_id, held_at=clock.utcnow()),
        {"customer", "employee"}, {"writer", "moderator", "manager", "admin"}),
    "the post is deleted": (
        lambda w: _set(Post, w.post_id, deleted_at=clock.utcnow()),
        {"customer", "employee"}, {"writer", "moderator", "manager", "admin"}),
    "the post is moved to a private community": (
        lambda w: _set(Post, w.post_id, community_id=w.other.id),
        {"customer", "employee", "writer", "moderator", "manager"}, {"admin"}),
}


def _in_room(sock, room) -> bool:
    return sock.emit("presence", {"room": room}, callback=True).get("ok", False)


def _chat_reaches(app, world, sockets, body) -> set[str]:
    """Send a chat message in the community as the writer; who of `sockets` received it."""
    from app.services import chat

    for sock in sockets.values():
        if sock.is_connected():
            sock.get_received()
    with app.app_context():
        chat.post(db.session.get(User, world.cast["writer"].id), world.community.id, body, client_key=None)
    return {who for who, sock in sockets.items()
            if sock.is_connected() and any(e["name"] == "chat.message" for e in sock.get_received())}


@pytest.mark.parametrize("case", list(CASES))
def test_a_change_of_rights_takes_sockets_out_of_community_and_post_rooms_at_commit(app, make, connect, case):
    visibility, change, lose, keep = CASES[case]
    world = _world(make, app, visibility)
    room, post_room = f"community:{world.community.id}", f"post:{world.post_id}"
    socks = {who: connect(user, {room: None, post_room: None}) for who, user in world.cast.items()}
    for who, sock in socks.items():
        assert _in_room(sock, room) and _in_room(sock, post_room), f"{who} should start in both rooms"
    watcher = socks["manager"]
    watcher.get_received()

    _change(app, change(world))

    left = {e["args"][0]["user_id"] for e in watcher.get_received() if e["name"] == "presence.left"}
    for who in lose:
        sock = socks[who]
        assert not sock.is_connected() or not (_in_room(sock, room) or _in_room(sock, post_room)), \
            f"{case}: {who} is still in a room"
        assert world.cast[who].id in left, f"{case}: the room was not told {who} left"
    for who in keep:
        assert _in_room(socks[who], room) and _in_room(socks[who], post_room), f"{case}: {who} lost a room"
    senders = {who: sock for who, sock in socks.items() if who != "writer" or "writer" not in lose}
    reached = _chat_reaches(app, world, senders, f"after the change: {case}")
    assert reached & lose == set(), f"{case}: chat still reached {reached & lose}"
    assert keep - {"writer"} <= reached


@pytest.mark.parametrize("case", list(POST_CASES))
def test_a_change_of_a_post_takes_sockets_out_of_its_room_only(app, make, connect, case):
    change, lose, keep = POST_CASES[case]
    world = _world(make, app, "open")
    room, post_room = f"community:{world.community.id}", f"post:{world.post_id}"
    socks = {who: connect(user, {room: None, post_room: None}) for who, user in world.cast.items()}

    _change(app, change(world))

    for who in lose:
        assert not _in_room(socks[who], post_room), f"{case}: {who} still in the post's room"
        assert _in_room(socks[who], room), f"{case}: {who} lost the community's room"
    for who in keep:
        assert _in_room(socks[who], post_room), f"{case}: {who} lost the post's room"


def test_a_moderator_made_member_leaves_the_room_of_a_hidden_post(app, make, connect):
    world = _world(make, app, "open")
    post_room = f"post:{world.post_id}"
    _change(app, _set(Post, world.post_id, hidden_at=clock.utcnow()))
    mod = connect(world.cast["moderator"], {post_room: None})
    assert _in_room(mod, post_room)

    def demote():
        row = db.session.query(Membership).filter_by(community_id=world.community.id,
                                                     user_id=world.cast["moderator"].id).one()
        row.role = MemberRole.MEMBER
    _change(app, demote)
    assert not _in_room(mod, post_room)


def test_the_service_that_changes_visibility_narrows_too(app, make, connect):
    from app.services.community import communities

    world = _world(make, app, "open")
    room = f"community:{world.community.id}"
    customer = connect(world.cast["customer"], {room: None})
    with app.app_context():
        communities.update(db.session.get(User, world.cast["manager"].id), world.community.slug,
                           name=world.community.name, description="now private", visibility="private")
    assert not _in_room(customer, room)


def test_changes_that_take_nothing_away_and_rollbacks_narrow_nothing(app, make):
    world = _world(make, app, "open")
    with app.app_context():
        db.session.get(Community, world.community.id).description = "new words"
        db.session.get(User, world.cast["employee"].id).display_name = "Emma E."
        db.session.flush()
        assert events.narrowing_pending(db.session()) == set()
        db.session.get(Community, world.community.id).visibility = Visibility.PRIVATE
        db.session.flush()
        assert events.narrowing_pending(db.session()) == {("community", world.community.id)}
        db.session.rollback()
        assert events.narrowing_pending(db.session()) == set()
