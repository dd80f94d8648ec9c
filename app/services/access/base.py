"""The ground every access rule stands on: who is an active account, who reads or discovers a
community (as Python checks and as SQL clauses), and the CommunityAccess / PostAccess records
the other access modules hand out.

Two levels for communities:

- *discover*: know the community exists (name, description, member count). Employees discover
  every community, so they can ask to join a private one; externals discover only what they read.
- *read*: see what is inside. Open: every active account. Internal: employees. Private: members.
  Admins and the social team (global community managers) read everything.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true

from app.extensions import db
from app.models import Community, MemberRole, Membership, User, UserKind, Visibility


def is_active_account(user) -> bool:
    """True when `user` is a signed-in, not suspended account (False for None and anonymous)."""
    return user is not None and getattr(user, "is_authenticated", False) and user.is_active


def membership_of(user, community: Community) -> Membership | None:
    """The viewer's membership row in the community, or None. Raises nothing."""
    if not is_active_account(user):
        return None
    return db.session.scalar(
        select(Membership).where(Membership.community_id == community.id,
                                 Membership.user_id == user.id))


def can_read(user, community: Community, membership: Membership | None) -> bool:
    """Whether the viewer may see what is inside the community (given their membership row).
    Raises nothing."""
    if not is_active_account(user):
        return False
    if user.is_staff:
        return True
    if community.visibility == Visibility.OPEN:
        return True
    if community.visibility == Visibility.INTERNAL:
        return user.kind == UserKind.EMPLOYEE
    return membership is not None  # private


def can_discover(user, community: Community, membership: Membership | None) -> bool:
    """Whether the viewer may know the community exists. Raises nothing."""
    if can_read(user, community, membership):
        return True
    return is_active_account(user) and user.kind == UserKind.EMPLOYEE


def kind_may_be_member(kind: UserKind, community: Community) -> bool:
    """Whether a person of this kind may hold a membership (externals never in internal ones),
    e.g. for someone invited who has no account yet. Raises nothing."""
    return not (community.visibility == Visibility.INTERNAL and kind != UserKind.EMPLOYEE)


def may_be_member(user: User, community: Community) -> bool:
    """Whether this person may hold a membership at all (externals never in internal ones).
    Raises nothing."""
    return kind_may_be_member(user.kind, community)


def readable_clause(user) -> ColumnElement[bool]:
    """A WHERE clause on Community: the communities this viewer may read. Raises nothing."""
    if not is_active_account(user):
        return false()
    if user.is_staff:
        return true()
    is_member = exists().where(Membership.community_id == Community.id, Membership.user_id == user.id)
    if user.kind == UserKind.EMPLOYEE:
        return or_(Community.visibility.in_([Visibility.OPEN, Visibility.INTERNAL]), is_member)
    return or_(Community.visibility == Visibility.OPEN,
               and_(Community.visibility == Visibility.PRIVATE, is_member))


def person_reads_clause(person, community, membership) -> ColumnElement[bool]:
    """The read rule of `can_read` as a WHERE clause joining three (aliased) tables: the
    `person` row (User) may read the `community` row (Community); `membership` is the Membership
    alias to probe. Account state (suspension) is left to the caller. Raises nothing."""
    member = exists().where(membership.community_id == community.id, membership.user_id == person.id)
    return or_(person.is_admin.is_(True), person.is_global_manager.is_(True),
               community.visibility == Visibility.OPEN,
               and_(community.visibility == Visibility.INTERNAL, person.kind == UserKind.EMPLOYEE), member)


def discoverable_clause(user) -> ColumnElement[bool]:
    """A WHERE clause on Community: the communities this viewer may know about. Raises nothing."""
    if is_active_account(user) and user.kind == UserKind.EMPLOYEE:
        return true()
    return readable_clause(user)


def readable_community_ids(user) -> set[int]:
    """Ids of every community the viewer may read (for search filters, feeds, sockets).
    Raises nothing."""
    return set(db.session.scalars(select(Community.id).where(readable_clause(user))))


@dataclass(frozen=True)
class CommunityAccess:
    """A community together with what the viewer may do in it."""

    community: Community
    membership: Membership | None
    can_read: bool
    can_manage: bool
    can_moderate: bool

    @property
    def is_member(self) -> bool:
        return self.membership is not None

    @property
    def role(self) -> MemberRole | None:
        return self.membership.role if self.membership else None


def access_to(user, community: Community, membership: Membership | None = None,
              *, membership_known: bool = False) -> CommunityAccess:
    """What `user` may do in `community` (loads the membership unless given): a CommunityAccess.
    Raises nothing."""
    if not membership_known and membership is None:
        membership = membership_of(user, community)
    readable = can_read(user, community, membership)
    manage = readable and is_active_account(user) and (
        user.is_staff or (membership is not None and membership.role == MemberRole.MANAGER))
    moderate = manage or (readable and membership is not None
                          and membership.role == MemberRole.MODERATOR)
    return CommunityAccess(community, membership, readable, manage, moderate)


@dataclass(frozen=True)
class PostAccess:
    """A post with what the viewer may do with it."""

    post: object  # app.models.Post
    community: CommunityAccess
    is_author: bool
    can_edit: bool
    can_delete: bool
    can_moderate: bool
    can_respond: bool  # change an idea's status with an official response, accept answers

    @property
    def can_see_voters(self) -> bool:
        return self.can_moderate or self.can_respond
