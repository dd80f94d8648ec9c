"""Proof (issue 7): a property test of app.services.access against a small independent model.

Hypothesis draws random worlds (people of each kind, staff flags, suspended people,
communities of each visibility, memberships with roles, posts that are live, deleted, hidden
or held) and checks, for every (person, community) and (person, post) pair, that can_read,
can_discover, readable_clause (through a real query), community_for, post_for and
readable_posts_clause answer what the model below says. The model is written from the product
rules (see the module docstring of app.services.access), not from its code.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from app import clock
from app.errors import Forbidden, NotFound
from app.extensions import db
from app.models import Community, MemberRole, Membership, Post, User, UserKind, Visibility
from app.services import access

KINDS = ["employee", "customer", "partner"]
VIS = ["open", "internal", "private"]
ROLES = [None, "member", "moderator", "manager"]
STATES = ["live", "deleted", "hidden", "held"]

person_st = st.fixed_dictionaries({
    "kind": st.sampled_from(KINDS),
    "staff": st.sampled_from([None, None, None, "admin", "global_manager"]),
    "suspended": st.sampled_from([False, False, False, True]),
})


@st.composite
def worlds(draw):
    # a plain employee and a plain customer in every world, then anyone
    plain = [{"kind": "employee", "staff": None, "suspended": False},
             {"kind": "customer", "staff": None, "suspended": False}]
    people = plain + draw(st.lists(person_st, max_size=4))
    # one community of each visibility in every world, then a couple more in random order
    communities = draw(st.permutations(VIS + draw(st.lists(st.sampled_from(VIS), max_size=2))))
    roles = {}
    for p_i, person in enumerate(people):
        for c_i, vis in enumerate(communities):
            role = draw(st.sampled_from(ROLES))
            if role and vis == "internal" and person["kind"] != "employee":
                role = None  # externals are never members of an internal community (the service refuses it)
            if role:
                roles[(p_i, c_i)] = role
    posts = draw(st.lists(st.tuples(st.integers(0, len(communities) - 1), st.integers(0, len(people) - 1),
                                    st.sampled_from(STATES)), max_size=6))
    return {"people": people, "communities": communities, "roles": roles, "posts": posts}


# --- the model --------------------------------------------------------------------------------

def m_active(world, p: int) -> bool:
    return not world["people"][p]["suspended"]


def m_staff(world, p: int) -> bool:
    return world["people"][p]["staff"] is not None


def m_read(world, p: int, c: int) -> bool:
    if not m_active(world, p):
        return False
    vis, kind = world["communities"][c], world["people"][p]["kind"]
    return (m_staff(world, p) or vis == "open" or (vis == "internal" and kind == "employee")
            or (vis == "private" and (p, c) in world["roles"]))


def m_discover(world, p: int, c: int) -> bool:
    return m_read(world, p, c) or (m_active(world, p) and world["people"][p]["kind"] == "employee")


def m_moderate(world, p: int, c: int) -> bool:
    return m_read(world, p, c) and (m_staff(world, p) or world["roles"].get((p, c)) in {"moderator", "manager"})


def m_manage(world, p: int, c: int) -> bool:
    return m_read(world, p, c) and (m_staff(world, p) or world["roles"].get((p, c)) == "manager")


def m_community_for(world, p: int, c: int, action: str) -> str:
    if not m_discover(world, p, c):
        return "404"
    if action == "discover":
        return "ok"
    if not m_read(world, p, c):
        return "404"
    allowed = {"read": True, "moderate": m_moderate(world, p, c), "manage": m_manage(world, p, c)}[action]
    return "ok" if allowed else "403"


def m_post_for(world, p: int, i: int, action: str) -> str:
    c, author, state = world["posts"][i]
    if not m_read(world, p, c):
        return "404"
    mine = author == p and m_active(world, p)
    mod = m_moderate(world, p, c)
    if state == "deleted" and not (mine or mod):
        return "404"
    if state == "hidden" and not mod:
        return "404"
    if state == "held" and not (mod or mine):
        return "404"
    live = state != "deleted"
    allowed = {"read": True, "edit": (mine and live) or mod, "delete": live and (mine or mod), "moderate": mod,
               "respond": live and m_manage(world, p, c)}[action]
    return "ok" if allowed else "403"


def m_post_listed(world, p: int, i: int) -> bool:
    c, _author, state = world["posts"][i]
    return state == "live" and m_read(world, p, c)


# --- building the world in the database ----------------------------------------------------------

def _wipe() -> None:
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(delete(table))
    db.session.commit()


def _build(world) -> tuple[list[int], list[int], list[int]]:
    now = clock.utcnow()
    users = []
    for i, person in enumerate(world["people"]):
        domain = "acme.example" if person["kind"] == "employee" else f"{person['kind']}.example"
        user = User(email=f"p{i}@{domain}", password_hash="x", display_name=f"P {i}", handle=f"p{i}",
                    kind=UserKind(person["kind"]), is_admin=person["staff"] == "admin",
                    is_global_manager=person["staff"] == "global_manager",
                    suspended_until=now + timedelta(days=2) if person["suspended"] else None)
        db.session.add(user)
        users.append(user)
    communities = []
    for i, vis in enumerate(world["communities"]):
        community = Community(name=f"C {i}", slug=f"c{i}", visibility=Visibility(vis))
        db.session.add(community)
        communities.append(community)
    db.session.flush()
    for (p, c), role in world["roles"].items():
        db.session.add(Membership(community_id=communities[c].id, user_id=users[p].id, role=MemberRole(role)))
    posts = []
    for c, author, state in world["posts"]:
        post = Post(community_id=communities[c].id, author_id=users[author].id, kind="discussion", title="T",
                    body="", body_html="", deleted_at=now if state == "deleted" else None,
                    hidden_at=now if state == "hidden" else None, held_at=now if state == "held" else None)
        db.session.add(post)
        posts.append(post)
    db.session.commit()
    return [u.id for u in users], [c.id for c in communities], [p.id for p in posts]


def _outcome(fn) -> str:
    try:
        fn()
    except NotFound:
        return "404"
    except Forbidden:
        return "403"
    return "ok"


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(world=worlds())
def test_access_answers_equal_the_model(ctx, world):
    _wipe()
    user_ids, community_ids, post_ids = _build(world)
    db.session.expire_all()
    for p, uid in enumerate(user_ids):
        user = db.session.get(User, uid)
        readable = set(db.session.scalars(select(Community.id).where(access.readable_clause(user))))
        listed = set(db.session.scalars(select(Post.id).where(access.readable_posts_clause(user))))
        for c, cid in enumerate(community_ids):
            community = db.session.get(Community, cid)
            membership = access.membership_of(user, community)
            label = (p, c, world)
            assert access.can_read(user, community, membership) == m_read(world, p, c), label
            assert access.can_discover(user, community, membership) == m_discover(world, p, c), label
            assert (cid in readable) == m_read(world, p, c), label
            acc = access.access_to(user, community)
            assert (acc.can_moderate, acc.can_manage) == (m_moderate(world, p, c), m_manage(world, p, c)), label
            for action in ("discover", "read", "moderate", "manage"):
                got = _outcome(lambda a=action: access.community_for(user, community.slug, a))
                assert got == m_community_for(world, p, c, action), (action, label)
        for i, pid in enumerate(post_ids):
            for action in ("read", "edit", "delete", "moderate", "respond"):
                got = _outcome(lambda a=action: access.post_for(user, pid, a))
                assert got == m_post_for(world, p, i, action), (action, p, i, world)
            assert (pid in listed) == m_post_listed(world, p, i), (p, i, world)
            post = db.session.get(Post, pid)
            # notifications: may this person read this post now (hidden/held: moderators only)
            c, _a, state = world["posts"][i]
            want = state != "deleted" and (m_moderate(world, p, c) if state in {"hidden", "held"} else m_read(world, p, c))
            assert access.can_read_post(user, post) == want, (p, i, world)
    db.session.rollback()
