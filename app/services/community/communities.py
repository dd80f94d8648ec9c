"""Communities: create and edit, join/leave/request/approve, invite and remove members,
per-community roles, topics. Every function authorizes through app.services.access and
commits its own transaction.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import case, func, select
from sqlalchemy.orm import joinedload

from app import clock, events
from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import Community, JoinRequest, MemberRole, Membership, Topic, User, UserKind, Visibility
from app.services import access
from app.services.community import invitations
from app.services.people import accounts
from app.services.platform import audit, storage

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
RESERVED_SLUGS = {"new", "admin", "api", "static", "manage", "search", "settings"}


def slugify(text: str) -> str:
    """A URL slug from `text`: ASCII lower-case words joined by single dashes, at most 60 characters
    (may be empty). Raises nothing."""
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60]


@dataclass(frozen=True)
class CommunityCard:
    """One row of the community list: the community, its member count, the viewer's membership,
    and whether the viewer has a pending request."""

    community: Community
    member_count: int
    membership: Membership | None
    requested: bool

    @property
    def can_read(self) -> bool:
        return self.membership is not None or self.community.visibility != Visibility.PRIVATE


def list_for(viewer, *, q: str | None = None, mine: bool = False) -> list[CommunityCard]:
    """The communities the viewer may discover, with member counts, in three queries."""
    counts = (select(Membership.community_id, func.count().label("n"))
              .group_by(Membership.community_id).subquery())
    stmt = (select(Community, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.community_id == Community.id)
            .where(access.discoverable_clause(viewer)).order_by(Community.name))
    if q:
        like = f"%{q.strip()[:80]}%"
        stmt = stmt.where(Community.name.ilike(like) | Community.description.ilike(like))
    if mine:
        stmt = stmt.where(Community.id.in_(select(Membership.community_id).where(Membership.user_id == viewer.id)))
    rows = db.session.execute(stmt).all()
    ids = [c.id for c, _ in rows]
    memberships = {m.community_id: m for m in db.session.scalars(
        select(Membership).where(Membership.user_id == viewer.id, Membership.community_id.in_(ids)))}
    pending = set(db.session.scalars(select(JoinRequest.community_id).where(
        JoinRequest.user_id == viewer.id, JoinRequest.decided_at.is_(None),
        JoinRequest.community_id.in_(ids))))
    cards = []
    for community, n in rows:
        membership = memberships.get(community.id)
        if access.can_discover(viewer, community, membership):
            cards.append(CommunityCard(community, n, membership, community.id in pending))
    return cards


def member_count(community: Community) -> int:
    """How many members the community has (one query). Raises nothing."""
    return db.session.scalar(select(func.count()).select_from(Membership)
                             .where(Membership.community_id == community.id)) or 0


def managers_of(community: Community) -> list[User]:
    """The community's managers, by display name. Raises nothing."""
    return list(db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.community_id == community.id, Membership.role == MemberRole.MANAGER)
        .order_by(User.display_name)))


def members_page(community: Community, *, page: int = 1, per_page: int = 30,
                 q: str | None = None) -> tuple[list[Membership], int]:
    """A page of memberships (with their users loaded), managers first; and the total."""
    base = select(Membership).join(User, User.id == Membership.user_id).where(
        Membership.community_id == community.id)
    if q:
        base = base.where(User.display_name.ilike(f"%{q.strip()[:80]}%"))
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    order = case({MemberRole.MANAGER: 0, MemberRole.MODERATOR: 1}, value=Membership.role, else_=2)
    rows = db.session.scalars(base.options(joinedload(Membership.user)).order_by(order, User.display_name)
                              .limit(per_page).offset((page - 1) * per_page)).all()
    return list(rows), total


def pending_requests(community: Community) -> list[JoinRequest]:
    """The community's undecided join requests (with their users loaded), oldest first. Raises nothing."""
    return list(db.session.scalars(
        select(JoinRequest).options(joinedload(JoinRequest.user))
        .where(JoinRequest.community_id == community.id, JoinRequest.decided_at.is_(None))
        .order_by(JoinRequest.created_at)))


# --- creating and editing -----------------------------------------------------------------

def _clean(name: str, slug: str, description: str, visibility: str) -> tuple[str, str, str, Visibility]:
    errors = {}
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = "Give the community a name."
    elif len(name) > 80:
        errors["name"] = "Use at most 80 characters."
    slug = (slug or "").strip().lower() or slugify(name)
    if not SLUG_RE.match(slug) or not 2 <= len(slug) <= 60:
        errors["slug"] = "Use 2 to 60 lower-case letters, digits and single dashes (e.g. customer-care)."
    elif slug in RESERVED_SLUGS:
        errors["slug"] = "This address is reserved; choose another."
    description = (description or "").strip()
    if len(description) > 5000:
        errors["description"] = "Use at most 5,000 characters."
    try:
        vis = Visibility(visibility)
    except ValueError:
        errors["visibility"] = "Choose open, internal or private."
        vis = Visibility.OPEN
    if errors:
        raise ValidationError(errors)
    return name, slug, description, vis


def _slug_taken(slug: str, exclude_id: int | None = None) -> bool:
    stmt = select(Community.id).where(Community.slug == slug)
    if exclude_id:
        stmt = stmt.where(Community.id != exclude_id)
    return db.session.scalar(stmt) is not None


def create(actor: User, name: str, description: str, visibility: str, slug: str = "",
           *, allow_external_experts: bool = False) -> Community:
    """Create a community (admins and the social team). The creator becomes its manager."""
    if not access.can_create_community(actor):
        raise Forbidden("Only administrators and the social team can create communities.")
    name, slug, description, vis = _clean(name, slug, description, visibility)
    if _slug_taken(slug):
        raise ValidationError({"slug": "Another community already uses this address."})
    community = Community(name=name, slug=slug, description=description, visibility=vis,
                          created_by_id=actor.id, allow_external_experts=allow_external_experts)
    db.session.add(community)
    db.session.flush()
    if actor.kind == UserKind.EMPLOYEE:
        db.session.add(Membership(community_id=community.id, user_id=actor.id, role=MemberRole.MANAGER))
    db.session.commit()
    return community


def update(actor: User, slug: str, *, name: str, description: str, visibility: str,
           new_slug: str | None = None, allow_external_experts: bool | None = None) -> Community:
    """Edit a community's settings (its managers). Making it internal is refused while it has
    external members, so nobody silently keeps or loses access."""
    acc = access.community_for(actor, slug, "manage")
    community = acc.community
    name, new_slug, description, vis = _clean(name, new_slug or community.slug, description, visibility)
    if new_slug != community.slug and _slug_taken(new_slug, community.id):
        raise ValidationError({"slug": "Another community already uses this address."})
    if vis == Visibility.INTERNAL and community.visibility != Visibility.INTERNAL:
        externals = db.session.scalar(
            select(func.count()).select_from(Membership).join(User, User.id == Membership.user_id)
            .where(Membership.community_id == community.id, User.kind != UserKind.EMPLOYEE)) or 0
        if externals:
            raise ValidationError({"visibility": (
                f"{externals} customer or partner member(s) would lose access. Remove them first, "
                "or keep the community open or private.")})
    community.name, community.slug, community.description, community.visibility = name, new_slug, description, vis
    if allow_external_experts is not None:
        community.allow_external_experts = allow_external_experts
    db.session.commit()
    return community


def set_cover(actor: User, slug: str, data: bytes) -> Community:
    """Replace the cover image (validated and re-encoded). Managers only."""
    community = access.community_for(actor, slug, "manage").community
    key = storage.save_image(data, "covers", max_bytes=current_app.config["AVATAR_MAX_BYTES"],
                             size=(1200, 300), field="cover")
    old, community.cover_key = community.cover_key, key
    events.on_commit(lambda: storage.delete(old))  # the old file goes once the new key is stored
    db.session.commit()
    return community


# --- membership ---------------------------------------------------------------------------

def join(user: User, slug: str) -> Membership:
    """Join an open or internal community the person may read. Private ones need a request
    or an invitation. Joining twice is harmless (returns the existing membership)."""
    acc = access.community_for(user, slug, "discover")
    if acc.membership:
        return acc.membership
    community = acc.community
    if community.visibility == Visibility.PRIVATE:
        raise Forbidden("This community is private: ask to join, or ask a manager for an invitation.")
    if not acc.can_read or not access.may_be_member(user, community):
        raise NotFound("No such community.")
    membership = Membership(community_id=community.id, user_id=user.id, role=MemberRole.MEMBER)
    db.session.add(membership)
    db.session.commit()
    return membership


def leave(user: User, slug: str) -> None:
    """Leave a community. The last manager must appoint another first."""
    acc = access.community_for(user, slug, "discover")
    if acc.membership is None:
        raise ValidationError({"_": "You are not a member of this community."})
    if acc.membership.role == MemberRole.MANAGER and len(managers_of(acc.community)) == 1:
        raise ValidationError({"_": "You are the only manager. Make another member manager before you leave."})
    db.session.delete(acc.membership)
    if acc.community.visibility == Visibility.PRIVATE and not user.is_staff:
        events.member_removed(acc.community.id, user.id)
    db.session.commit()


def request_to_join(user: User, slug: str, message: str = "") -> JoinRequest:
    """Ask to join a private community. One open request per person."""
    acc = access.community_for(user, slug, "discover")
    community = acc.community
    if acc.membership:
        raise ValidationError({"_": "You are already a member."})
    if community.visibility != Visibility.PRIVATE:
        raise ValidationError({"_": "This community is not private: you can join it directly."})
    message = (message or "").strip()
    if len(message) > 500:
        raise ValidationError({"message": "Use at most 500 characters."})
    existing = db.session.scalar(select(JoinRequest).where(
        JoinRequest.community_id == community.id, JoinRequest.user_id == user.id,
        JoinRequest.decided_at.is_(None)))
    if existing:
        return existing
    req = JoinRequest(community_id=community.id, user_id=user.id, message=message)
    db.session.add(req)
    db.session.commit()
    return req


def decide_request(actor: User, slug: str, request_id: int, approve: bool) -> JoinRequest:
    """Approve (the person becomes a member) or decline a pending request. Managers only."""
    acc = access.community_for(actor, slug, "manage")
    req = db.session.get(JoinRequest, request_id)
    if req is None or req.community_id != acc.community.id:
        raise NotFound("No such request.")
    if req.decided_at is not None:
        raise ValidationError({"_": "This request was already decided."})
    req.decided_at, req.decided_by_id, req.approved = clock.utcnow(), actor.id, approve
    if approve:
        _ensure_member(acc.community, req.user)
    db.session.commit()
    return req


def _ensure_member(community: Community, user: User, role: MemberRole = MemberRole.MEMBER) -> Membership:
    if not access.may_be_member(user, community):
        raise ValidationError({"_": f"{user.display_name} is not an employee and cannot join an internal community."})
    if user.is_suspended:
        raise ValidationError({"_": f"{user.display_name}'s account is suspended."})
    membership = db.session.scalar(select(Membership).where(
        Membership.community_id == community.id, Membership.user_id == user.id))
    if membership is None:
        membership = Membership(community_id=community.id, user_id=user.id, role=role)
        db.session.add(membership)
        db.session.flush()
    return membership


def add_member(actor: User, slug: str, person: User, role: str = "member", *, ip: str | None = None) -> Membership:
    """Add an existing person to the community (managers). Closes their open request."""
    acc = access.community_for(actor, slug, "manage")
    role = _role(role)
    _check_role_allowed(person, role)
    membership = _ensure_member(acc.community, person, role)
    before = membership.role if membership.id else None
    membership.role = role

    audit.record(actor, "community.member_add", "community", acc.community.id, ip=ip,
                 before={"user_id": person.id, "role": before}, after={"user_id": person.id, "role": role})
    for req in db.session.scalars(select(JoinRequest).where(
            JoinRequest.community_id == acc.community.id, JoinRequest.user_id == person.id,
            JoinRequest.decided_at.is_(None))):
        req.decided_at, req.decided_by_id, req.approved = clock.utcnow(), actor.id, True
    db.session.commit()
    return membership


@dataclass
class Invited:
    """What add_or_invite did: `person` added (they had an account), or `email` invited."""
    person: User | None = None
    email: str | None = None


def add_or_invite(actor: User, slug: str, email: str, kind: str | None = None, note: str = "", *,
                  ip: str | None = None) -> Invited:
    """The members page's one box: a person with an account at `email` is added at once; anyone
    else gets an invitation as a customer or partner (`kind`), except to an internal community,
    which only employees with an account can join. Managers only. Raises NotFound, Forbidden,
    ValidationError ({"email": ...} or the invitation's fields)."""
    acc = access.community_for(actor, slug, "manage")
    if not (email or "").strip():
        raise ValidationError({"email": "Enter the person's email address."})
    address = accounts.normalize_email(email)
    person = db.session.scalar(select(User).where(User.email == address))
    if person is not None:
        if not access.may_be_member(person, acc.community):
            raise ValidationError({"email": f"{person.display_name} is not an employee and cannot join an "
                                            "internal community."})
        add_member(actor, acc.community.slug, person, ip=ip)
        return Invited(person=person)
    if acc.community.visibility == Visibility.INTERNAL:
        raise ValidationError({"email": "No one has an account with this address. Only employees join an "
                                        "internal community: they sign up with their company address first."})
    invitations.create(actor, address, kind or "", [acc.community.slug], note or "")
    return Invited(email=address)


def add_members_for_invitation(community: Community, user: User) -> None:
    """Join an invited person to a community (in the caller's transaction); skips ones they
    can no longer be a member of."""
    if access.may_be_member(user, community):
        _ensure_member(community, user)


def _role(role: str) -> MemberRole:
    try:
        return MemberRole(role)
    except ValueError:
        raise ValidationError({"role": "Choose member, moderator or manager."}) from None


def _check_role_allowed(person: User, role: MemberRole) -> None:
    if role != MemberRole.MEMBER and person.kind != UserKind.EMPLOYEE:
        raise ValidationError({"role": "Only employees can be moderators or managers."})


def set_role(actor: User, slug: str, user_id: int, role: str, *, ip: str | None = None) -> Membership:
    """Change a member's role (managers). The last manager cannot be demoted."""
    acc = access.community_for(actor, slug, "manage")
    role = _role(role)
    membership = db.session.scalar(select(Membership).where(
        Membership.community_id == acc.community.id, Membership.user_id == user_id))
    if membership is None:
        raise NotFound("This person is not a member.")
    _check_role_allowed(membership.user, role)
    if membership.role == MemberRole.MANAGER and role != MemberRole.MANAGER \
            and len(managers_of(acc.community)) == 1:
        raise ValidationError({"role": "A community needs at least one manager."})

    audit.record(actor, "community.role_change", "community", acc.community.id, ip=ip,
                 before={"user_id": user_id, "role": membership.role}, after={"user_id": user_id, "role": role})
    membership.role = role
    db.session.commit()
    return membership


def remove_member(actor: User, slug: str, user_id: int, *, ip: str | None = None) -> None:
    """Remove a member (managers). Their content stays; their live sockets leave the rooms."""
    acc = access.community_for(actor, slug, "manage")
    membership = db.session.scalar(select(Membership).where(
        Membership.community_id == acc.community.id, Membership.user_id == user_id))
    if membership is None:
        raise NotFound("This person is not a member.")
    if membership.role == MemberRole.MANAGER and len(managers_of(acc.community)) == 1:
        raise ValidationError({"_": "This is the only manager. Appoint another manager first."})

    audit.record(actor, "community.member_remove", "community", acc.community.id, ip=ip,
                 before={"user_id": user_id, "role": membership.role}, after=None)
    db.session.delete(membership)
    events.member_removed(acc.community.id, user_id)
    db.session.commit()


# --- topics -------------------------------------------------------------------------------

def _clean_topic(name: str, description: str) -> tuple[str, str, str]:
    errors = {}
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = "Give the topic a name."
    elif len(name) > 60:
        errors["name"] = "Use at most 60 characters."
    slug = slugify(name)
    if name and not slug:
        errors["name"] = "Use at least one letter or digit."
    description = (description or "").strip()
    if len(description) > 2000:
        errors["description"] = "Use at most 2,000 characters."
    if errors:
        raise ValidationError(errors)
    return name, slug, description


def create_topic(actor: User, slug: str, name: str, description: str = "") -> Topic:
    """Add a topic to a community (managers only). Returns the topic. Raises NotFound, Forbidden,
    ValidationError (bad name or description, or a topic of that name already exists)."""
    acc = access.community_for(actor, slug, "manage")
    name, topic_slug, description = _clean_topic(name, description)
    if db.session.scalar(select(Topic.id).where(Topic.community_id == acc.community.id, Topic.slug == topic_slug)):
        raise ValidationError({"name": "This community already has a topic with this name."})
    topic = Topic(community_id=acc.community.id, name=name, slug=topic_slug, description=description)
    db.session.add(topic)
    db.session.commit()
    return topic


def topic_for(viewer, slug: str, topic_slug: str, action: str = "read") -> tuple[access.CommunityAccess, Topic]:
    """Fetch a community's topic and authorize `action` on the community; returns (its CommunityAccess,
    the topic). Raises NotFound (community or topic), Forbidden (lacking the role for `action`)."""
    acc = access.community_for(viewer, slug, action)
    topic = db.session.scalar(select(Topic).where(Topic.community_id == acc.community.id, Topic.slug == topic_slug))
    if topic is None:
        raise NotFound("No such topic.")
    return acc, topic


def update_topic(actor: User, slug: str, topic_slug: str, name: str, description: str = "") -> Topic:
    """Rename or describe a topic (managers only); its slug follows the name. Returns the topic.
    Raises NotFound, Forbidden, ValidationError (bad fields, or the name is taken in the community)."""
    acc, topic = topic_for(actor, slug, topic_slug, "manage")
    name, new_slug, description = _clean_topic(name, description)
    if new_slug != topic.slug and db.session.scalar(select(Topic.id).where(
            Topic.community_id == acc.community.id, Topic.slug == new_slug)):
        raise ValidationError({"name": "This community already has a topic with this name."})
    topic.name, topic.slug, topic.description = name, new_slug, description
    db.session.commit()
    return topic


def delete_topic(actor: User, slug: str, topic_slug: str) -> None:
    """Delete a topic (managers only). Raises NotFound, Forbidden."""
    _acc, topic = topic_for(actor, slug, topic_slug, "manage")
    db.session.delete(topic)
    db.session.commit()
