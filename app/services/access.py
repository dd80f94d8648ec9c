"""The ONE place that decides who may see and do what.

Every door (pages, JSON, sockets, search, notifications, feeds, exports) asks this module.
Two levels for communities:

- *discover*: know the community exists (name, description, member count). Employees discover
  every community, so they can ask to join a private one; externals discover only what they read.
- *read*: see what is inside. Open: every active account. Internal: employees. Private: members.
  Admins and the social team (global community managers) read everything.

A community the viewer may not discover answers NotFound, so its existence does not leak.
Managing (settings, topics, members, requests, invitations) needs a manager role; moderating
needs a moderator or manager role (or staff). People: employees see everyone; externals see
themselves and people they share a community with, and never another person's email address.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select, true
from sqlalchemy.orm import aliased

from app.errors import Forbidden, NotFound
from app.extensions import db
from app.models import AccountClosure, Community, MemberRole, Membership, User, UserKind, Visibility


def _active(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.is_active


# --- communities --------------------------------------------------------------------------

def membership_of(user, community: Community) -> Membership | None:
    """The viewer's membership row in the community, or None."""
    if not _active(user):
        return None
    return db.session.scalar(
        select(Membership).where(Membership.community_id == community.id,
                                 Membership.user_id == user.id))


def can_read(user, community: Community, membership: Membership | None) -> bool:
    if not _active(user):
        return False
    if user.is_staff:
        return True
    if community.visibility == Visibility.OPEN:
        return True
    if community.visibility == Visibility.INTERNAL:
        return user.kind == UserKind.EMPLOYEE
    return membership is not None  # private


def can_discover(user, community: Community, membership: Membership | None) -> bool:
    if can_read(user, community, membership):
        return True
    return _active(user) and user.kind == UserKind.EMPLOYEE


def may_be_member(user: User, community: Community) -> bool:
    """Whether this person may hold a membership at all (externals never in internal ones)."""
    return not (community.visibility == Visibility.INTERNAL and user.kind != UserKind.EMPLOYEE)


def readable_clause(user) -> ColumnElement[bool]:
    """A WHERE clause on Community: the communities this viewer may read."""
    if not _active(user):
        return false()
    if user.is_staff:
        return true()
    is_member = exists().where(Membership.community_id == Community.id, Membership.user_id == user.id)
    if user.kind == UserKind.EMPLOYEE:
        return or_(Community.visibility.in_([Visibility.OPEN, Visibility.INTERNAL]), is_member)
    return or_(Community.visibility == Visibility.OPEN,
               and_(Community.visibility == Visibility.PRIVATE, is_member))


def discoverable_clause(user) -> ColumnElement[bool]:
    """A WHERE clause on Community: the communities this viewer may know about."""
    if _active(user) and user.kind == UserKind.EMPLOYEE:
        return true()
    return readable_clause(user)


def readable_community_ids(user) -> set[int]:
    """Ids of every community the viewer may read (for search filters, feeds, sockets)."""
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
    """Compute what `user` may do in `community` (loads the membership unless given)."""
    if not membership_known and membership is None:
        membership = membership_of(user, community)
    readable = can_read(user, community, membership)
    manage = readable and _active(user) and (
        user.is_staff or (membership is not None and membership.role == MemberRole.MANAGER))
    moderate = manage or (readable and membership is not None
                          and membership.role == MemberRole.MODERATOR)
    return CommunityAccess(community, membership, readable, manage, moderate)


def community_for(user, slug: str, action: str = "read") -> CommunityAccess:
    """Fetch a community by slug and authorize `action` for the viewer.

    action: "discover" (landing page), "read" (contents), "moderate", "manage".
    Raises NotFound when the viewer may not know the community exists, and also when it may
    know it exists but not read it and asked for more than "discover" (nothing inside leaks);
    Forbidden when it may read it but lacks the role.
    """
    community = db.session.scalar(select(Community).where(Community.slug == slug))
    if community is None:
        raise NotFound("No such community.")
    acc = access_to(user, community)
    if not can_discover(user, community, acc.membership):
        raise NotFound("No such community.")
    if action == "discover":
        return acc
    if not acc.can_read:
        raise NotFound("No such community.")
    if action == "read":
        return acc
    if action == "moderate" and not acc.can_moderate:
        raise Forbidden("Only the community's moderators and managers can do this.")
    if action == "manage" and not acc.can_manage:
        raise Forbidden("Only the community's managers can do this.")
    if action not in {"moderate", "manage"}:
        raise ValueError(f"unknown action {action!r}")
    return acc


def community_by_id_for(user, community_id: int, action: str = "read") -> CommunityAccess:
    """Like community_for, by id (sockets, search, jobs)."""
    slug = db.session.scalar(select(Community.slug).where(Community.id == community_id))
    if slug is None:
        raise NotFound("No such community.")
    return community_for(user, slug, action)


# --- people -------------------------------------------------------------------------------

def people_clause(viewer) -> ColumnElement[bool]:
    """A WHERE clause on User: the people this viewer may see in the directory and profiles."""
    if not _active(viewer):
        return false()
    open_account = ~exists().where(AccountClosure.user_id == User.id)  # closed accounts are gone
    if viewer.kind == UserKind.EMPLOYEE or viewer.is_staff:
        return open_account
    mine = aliased(Membership)
    theirs = aliased(Membership)
    shared = exists().where(mine.user_id == viewer.id, theirs.community_id == mine.community_id,
                            theirs.user_id == User.id)
    return and_(open_account, or_(User.id == viewer.id, shared))


def can_see_person(viewer, person: User) -> bool:
    if not _active(viewer):
        return False
    if viewer.id == person.id:
        return True
    return bool(db.session.scalar(select(exists().where(User.id == person.id, people_clause(viewer)))))


def person_for(viewer, handle: str) -> User:
    """Fetch a person by handle; NotFound if absent or not visible to the viewer."""
    person = db.session.scalar(select(User).where(User.handle == handle))
    if person is None or not can_see_person(viewer, person):
        raise NotFound("No such person.")
    return person


def can_see_email(viewer, person: User) -> bool:
    """Email addresses are shown to employees and to the person themselves, never to externals."""
    return _active(viewer) and (viewer.id == person.id or viewer.kind == UserKind.EMPLOYEE)


# --- global roles -------------------------------------------------------------------------

def require_admin(user) -> None:
    if not (_active(user) and user.is_admin):
        raise Forbidden("Only administrators can do this.")


def require_staff(user) -> None:
    """Admins and the social team (global community managers)."""
    if not (_active(user) and user.is_staff):
        raise Forbidden("Only administrators and the social team can do this.")


def can_create_community(user) -> bool:
    return _active(user) and user.is_staff


def can_invite_externals(user) -> bool:
    """Staff, or an employee who manages at least one community."""
    return header_roles(user).invite


# --- posts and comments -------------------------------------------------------------------

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


def can_respond_officially(user, community_access: CommunityAccess, post) -> bool:
    """Community managers and staff speak for the organisation on a post. (The topic's experts
    join them when expert assignment lands.)"""
    if not _active(user) or not community_access.can_read:
        return False
    if community_access.can_manage:
        return True
    from app.services import experts_hook

    return experts_hook.is_expert_for(user, post)


def post_access(user, post, community_access: CommunityAccess | None = None) -> PostAccess:
    """Compute the viewer's rights on a post (its community's access is loaded unless given)."""
    acc = community_access or access_to(user, post.community)
    author = _active(user) and post.author_id == user.id
    moderate = acc.can_moderate
    live = post.deleted_at is None
    return PostAccess(
        post=post, community=acc, is_author=author,
        can_edit=acc.can_read and ((author and live) or moderate),
        can_delete=acc.can_read and live and (author or moderate),
        can_moderate=moderate,
        can_respond=live and can_respond_officially(user, acc, post),
    )


def can_see_post(pacc: PostAccess) -> bool:
    """Moderation: a hidden post is seen only by the community's moderators and staff; a post
    held for review also by its author."""
    post = pacc.post
    if getattr(post, "hidden_at", None) is not None and not pacc.can_moderate:
        return False
    if getattr(post, "held_at", None) is not None and not (pacc.can_moderate or pacc.is_author):
        return False
    return True


def can_see_comment(pacc: PostAccess, comment, user) -> bool:
    """A hidden comment is seen only by moderators and staff; a held one also by its author."""
    if comment.hidden_at is not None and not pacc.can_moderate:
        return False
    if comment.held_at is not None and not (
            pacc.can_moderate or (_active(user) and comment.author_id == user.id)):
        return False
    return True


def moderation_visible_clause(user, community_access: CommunityAccess | None = None) -> ColumnElement[bool]:
    """A WHERE clause on Post for lists in one community (or, without it, anywhere): hidden
    posts only for its moderators, held posts for them and the author."""
    from app.models import Post

    if community_access is not None and community_access.can_moderate:
        return true()
    mine = Post.author_id == user.id if _active(user) else false()
    return and_(Post.hidden_at.is_(None), or_(Post.held_at.is_(None), mine))


def post_for(user, post_id: int, action: str = "read") -> PostAccess:
    """Fetch a post and authorize `action`: "read", "edit", "delete", "moderate", "respond".

    NotFound when the viewer may not read its community, or the post is deleted and the viewer
    is neither its author nor a moderator; Forbidden when it may read but not do `action`."""
    from app.models import Post

    post = db.session.get(Post, post_id) if isinstance(post_id, int) else None
    if post is None:
        raise NotFound("No such post.")
    acc = post_access(user, post)
    if not acc.community.can_read:
        raise NotFound("No such post.")
    if post.deleted_at is not None and not (acc.is_author or acc.can_moderate):
        raise NotFound("This post was deleted.")
    if not can_see_post(acc):
        raise NotFound("No such post.")
    allowed = {"read": True, "edit": acc.can_edit, "delete": acc.can_delete,
               "moderate": acc.can_moderate, "respond": acc.can_respond}
    if action not in allowed:
        raise ValueError(f"unknown action {action!r}")
    if not allowed[action]:
        messages = {"edit": "Only the author and the community's moderators can edit this.",
                    "delete": "Only the author and the community's moderators can delete this.",
                    "moderate": "Only the community's moderators can do this.",
                    "respond": "Only the community's managers and the topic's experts can do this."}
        raise Forbidden(messages[action])
    return acc


def readable_posts_clause(user) -> ColumnElement[bool]:
    """A WHERE clause on Post: live posts in communities the viewer may read, neither hidden
    by moderation nor held for review (search, feeds, notifications)."""
    from app.models import Post

    return and_(Post.deleted_at.is_(None), Post.hidden_at.is_(None), Post.held_at.is_(None),
                Post.community_id.in_(select(Community.id).where(readable_clause(user))))


def can_read_post(user, post) -> bool:
    """For notifications and mentions: may this person read this (live) post now?"""
    if post is None or post.deleted_at is not None:
        return False
    if post.hidden_at is not None or post.held_at is not None:
        return post_access(user, post).can_moderate  # hidden / held: moderators only
    return access_to(user, post.community).can_read


# --- moderation ---------------------------------------------------------------------------

def is_post_staff(user, community_access: CommunityAccess) -> bool:
    """Internal notes: employees who moderate or manage the community, the social team, admins."""
    if not _active(user) or not community_access.can_read:
        return False
    if user.is_staff:
        return True
    return user.kind == UserKind.EMPLOYEE and community_access.can_moderate


def moderated_community_ids(user) -> set[int] | None:
    """Communities whose moderation queue the person works: None means every community (staff);
    an empty set means none."""
    if not _active(user):
        return set()
    if user.is_staff:
        return None
    ids = set(db.session.scalars(select(Membership.community_id).where(
        Membership.user_id == user.id, Membership.role.in_([MemberRole.MODERATOR, MemberRole.MANAGER]))))
    if not ids:
        return ids
    return set(db.session.scalars(select(Community.id).where(Community.id.in_(ids), readable_clause(user))))


def moderates_any(user) -> bool:
    """Whether the person works any moderation queue (staff, or a moderator or manager somewhere)."""
    return header_roles(user).moderation


def can_sanction_accounts(actor, person) -> bool:
    """Suspend or ban an account: the social team and admins; only admins sanction staff."""
    if not (_active(actor) and actor.is_staff) or actor.id == person.id:
        return False
    return actor.is_admin or not person.is_staff


# --- insight dashboards ----------------------------------------------------------------------

def is_active_employee(user) -> bool:
    return (user is not None and getattr(user, "is_authenticated", False) and user.is_active
            and user.kind == UserKind.EMPLOYEE)


def can_see_organisation(user) -> bool:
    """Admins, the social team and management (employees only)."""
    return is_active_employee(user) and (user.is_admin or user.is_global_manager or user.is_management)


def managed_communities(user) -> list[Community]:
    """The communities whose dashboard this person may open as their manager (staff: none
    listed here, they have the organisation dashboard)."""
    if not is_active_employee(user):
        return []
    return list(db.session.scalars(
        select(Community).join(Membership, Membership.community_id == Community.id)
        .where(Membership.user_id == user.id, Membership.role == MemberRole.MANAGER)
        .order_by(func.lower(Community.name))))


def may_open_insight(user) -> bool:
    """Whether the header shows the Insight link (organisation or a managed community)."""
    return header_roles(user).insight


# --- the header's links -------------------------------------------------------------------------

@dataclass(frozen=True)
class HeaderRoles:
    """Which staff doors a person has (one query): the header's links, and the answers of
    moderates_any, may_open_insight and can_invite_externals."""

    moderation: bool  # the moderation queue (moderates_any)
    insight: bool  # the Insight dashboards (may_open_insight)
    invite: bool  # inviting customers and partners (can_invite_externals)


def header_roles(user) -> HeaderRoles:
    """The person's staff doors from one query of their community roles (a manager or moderator
    is an employee and a member, so they read the community)."""
    if not _active(user):
        return HeaderRoles(False, False, False)
    roles: set[MemberRole] = set()
    if user.kind == UserKind.EMPLOYEE:
        roles = set(db.session.scalars(select(Membership.role).distinct().where(
            Membership.user_id == user.id, Membership.role.in_([MemberRole.MODERATOR, MemberRole.MANAGER]))))
    manages = MemberRole.MANAGER in roles
    return HeaderRoles(moderation=user.is_staff or bool(roles),
                       insight=can_see_organisation(user) or (is_active_employee(user) and manages),
                       invite=user.is_staff or manages)
