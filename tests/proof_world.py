"""A seeded world for the proof tests (tests/*/test_proof_*.py): one community of each visibility,
each with a manager, a moderator and a member, and inside it a post with an image attachment,
a comment and a chat message, every text carrying a marker word unique to that visibility
(so a body can be searched for anything it must not show).

Built through the services, once per test that asks for it (the app fixture is per test).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

from app.extensions import db

VISIBILITIES = ("open", "internal", "private")
MARKERS = {"open": "mkopenzq", "internal": "mkinternalzq", "private": "mkprivatezq"}
# Personas whose identity depends on the community (they hold a role in it).
ROLE_PERSONAS = ("member", "moderator", "manager")
GLOBAL_PERSONAS = ("anonymous", "customer", "partner", "employee", "admin")
PERSONAS = ("anonymous", "customer", "partner", "employee", "member", "moderator", "manager", "admin")
# Moderated content in the open community (build(..., moderation=True)): who may still see it.
MOD_MARKERS = {"hidden": "mkhiddenzq", "held": "mkheldzq", "deleted": "mkdeletedzq",
               "hidden_comment": "mkhidcomzq", "hidden_chat": "mkhidchatzq"}


@dataclass
class Place:
    visibility: str
    community_id: int
    slug: str
    topic_slug: str
    topic_id: int
    post_id: int
    comment_id: int
    message_id: int
    attachment_id: int
    people: dict[str, object] = field(default_factory=dict)  # member/moderator/manager -> User


@dataclass
class World:
    people: dict[str, object]  # global personas (no anonymous) -> User
    places: dict[str, Place]

    def person(self, persona: str, visibility: str):
        """The User playing `persona` for the community of `visibility` (None: anonymous)."""
        if persona == "anonymous":
            return None
        if persona in ROLE_PERSONAS:
            return self.places[visibility].people[persona]
        return self.people[persona]


def png_bytes(color: str = "red") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (24, 24), color).save(buf, "PNG")
    return buf.getvalue()


def build(app, make, *, moderation: bool = False) -> World:
    """Seed the world (see the module docstring) and return plain ids and detached users."""
    from werkzeug.datastructures import FileStorage

    from app.models import Attachment, Topic, User
    from app.services import chat
    from app.services.content import comments, posts

    people = {"customer": make.user("customer", name="Cora Customer"),
              "partner": make.user("partner", name="Paul Partner"),
              "employee": make.user("employee", name="Emil Employee"),
              "admin": make.admin(name="Adam Admin")}
    places = {}
    for vis in VISIBILITIES:
        mark = MARKERS[vis]
        manager = make.user("employee", name=f"Manny {vis.title()}")
        community = make.community(vis, manager=manager, name=f"Proof {vis.title()}", slug=f"proof-{vis}",
                                   topics=(f"Topic {vis.title()}",))
        role_people = {"manager": manager, "moderator": make.user("employee", name=f"Moe {vis.title()}"),
                       "member": make.user("employee", name=f"Mel {vis.title()}")}
        make.member(community, role_people["moderator"], "moderator")
        make.member(community, role_people["member"])
        with app.app_context():
            author = db.session.get(User, manager.id)
            topic = db.session.query(Topic).filter_by(community_id=community.id).first()
            topic_id, topic_slug = topic.id, topic.slug
            post = posts.create(author, community.slug, "idea", f"{mark} plan proofword",
                                f"The {mark} body proofword", [topic_id],
                                files=[FileStorage(io.BytesIO(png_bytes()), filename=f"{mark}.png",
                                                   content_type="image/png")])
            post_id = post.id
            comment_id = comments.add(author, post_id, f"A {mark} comment proofword").id
            message, _ = chat.post(author, community.id, f"A {mark} chat proofword")
            message_id = message.id
            attachment_id = db.session.query(Attachment.id).filter_by(post_id=post_id).scalar()
        places[vis] = Place(vis, community.id, community.slug, topic_slug, topic_id, post_id, comment_id,
                            message_id, attachment_id, role_people)
    if moderation:
        _moderated(app, places["open"], people["admin"], mention=(people["customer"], people["employee"]))
    return World(people, places)


def _moderated(app, place: Place, admin, mention=()) -> None:
    """In the open community, by its member: a post hidden by moderation, one held for review,
    one deleted by its author, a hidden comment and a hidden chat message (after their
    notifications went out: each mentions the people in `mention`)."""
    from app import clock
    from app.models import Post, User
    from app.services import chat, moderation
    from app.services.content import comments, posts
    from app.services.platform import jobs

    m = MOD_MARKERS
    with app.app_context():
        author = db.session.get(User, place.people["member"].id)
        staff = db.session.get(User, admin.id)
        at = " ".join(f"@{db.session.get(User, u.id).handle}" for u in mention)
        ids = {}
        for key in ("hidden", "held", "deleted"):
            ids[key] = posts.create(author, place.slug, "discussion", f"{m[key]} post proofword", f"{m[key]} body {at}",
                                    [place.topic_id]).id
        ids["hidden_comment"] = comments.add(author, place.post_id, f"{m['hidden_comment']} proofword {at}").id
        ids["hidden_chat"] = chat.post(author, place.community_id, f"{m['hidden_chat']} proofword {at}")[0].id
        jobs.drain()
        jobs.drain()
        moderation.act(staff, "post", ids["hidden"], "hide", "Spam")
        moderation.act(staff, "comment", ids["hidden_comment"], "hide", "Spam")
        moderation.act(staff, "chat", ids["hidden_chat"], "hide", "Spam")
        db.session.get(Post, ids["held"]).held_at = clock.utcnow()
        db.session.commit()
        posts.delete(author, ids["deleted"])
        jobs.drain()


def may_see_moderated(persona: str, home: str, key: str) -> bool:
    """Hidden things: the open community's moderators and managers, and admins; held and
    deleted posts also their author (the open community's member)."""
    if persona == "admin" or (home == "open" and persona in {"moderator", "manager"}):
        return True
    return key in {"held", "deleted"} and home == "open" and persona == "member"


def sync_search(app) -> None:
    from app.services import search

    with app.app_context():
        search.sync()


def may_read(persona: str, visibility: str) -> bool:
    """The product rule for reading a community's contents (independent of app.services.access)."""
    if persona == "anonymous":
        return False
    if persona in ROLE_PERSONAS or persona == "admin":
        return True
    if persona == "employee":
        return visibility in {"open", "internal"}
    return visibility == "open"  # customer, partner


def may_discover(persona: str, visibility: str) -> bool:
    """Know the community exists: readers, and every employee."""
    return may_read(persona, visibility) or persona in {"employee", "member", "moderator", "manager", "admin"}


def forbidden_markers(persona: str, person_visibilities=VISIBILITIES) -> list[str]:
    """Marker words this persona must never see (role personas: of the communities they are not in)."""
    return [MARKERS[v] for v in person_visibilities if not may_read(persona, v)]
