"""Who moderates: internal notes on posts, the moderation queues a person works, and who may
sanction accounts."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Community, MemberRole, Membership, UserKind
from app.services.access.base import CommunityAccess, is_active_account, readable_clause
from app.services.access.roles import header_roles


def is_post_staff(user, community_access: CommunityAccess) -> bool:
    """Internal notes: employees who moderate or manage the community, the social team, admins.
    Raises nothing."""
    if not is_active_account(user) or not community_access.can_read:
        return False
    if user.is_staff:
        return True
    return user.kind == UserKind.EMPLOYEE and community_access.can_moderate


def moderated_community_ids(user) -> set[int] | None:
    """Communities whose moderation queue the person works: None means every community (staff);
    an empty set means none. Raises nothing."""
    if not is_active_account(user):
        return set()
    if user.is_staff:
        return None
    ids = set(db.session.scalars(select(Membership.community_id).where(
        Membership.user_id == user.id, Membership.role.in_([MemberRole.MODERATOR, MemberRole.MANAGER]))))
    if not ids:
        return ids
    return set(db.session.scalars(select(Community.id).where(Community.id.in_(ids), readable_clause(user))))


def moderates_any(user) -> bool:
    """Whether the person works any moderation queue (staff, or a moderator or manager
    somewhere). Raises nothing."""
    return header_roles(user).moderation


def can_sanction_accounts(actor, person) -> bool:
    """Suspend or ban an account: the social team and admins; only admins sanction staff.
    Raises nothing."""
    if not (is_active_account(actor) and actor.is_staff) or actor.id == person.id:
        return False
    return actor.is_admin or not person.is_staff
