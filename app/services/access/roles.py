"""Global and community roles: admins, the social team (staff), management, community
managers; the staff doors they open (the header's links, Insight, invitations, a second
factor, the guidelines) and the communities a manager's tools cover."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import exists, func, select

from app.errors import Forbidden
from app.extensions import db
from app.models import Community, MemberRole, Membership, TotpSecret, UserKind
from app.services.access.base import access_to, is_active_account, readable_clause


def require_admin(user) -> None:
    """Returns None for an active administrator. Raises Forbidden for anyone else."""
    if not (is_active_account(user) and user.is_admin):
        raise Forbidden("Only administrators can do this.")


def require_staff(user) -> None:
    """Returns None for admins and the social team (global community managers). Raises
    Forbidden for anyone else."""
    if not (is_active_account(user) and user.is_staff):
        raise Forbidden("Only administrators and the social team can do this.")


def is_active_employee(user) -> bool:
    """Whether `user` is an active employee account. Raises nothing."""
    return is_active_account(user) and user.kind == UserKind.EMPLOYEE


def can_see_organisation(user) -> bool:
    """Admins, the social team and management (employees only). Raises nothing."""
    return is_active_employee(user) and (user.is_admin or user.is_global_manager or user.is_management)


def managed_communities(user) -> list[Community]:
    """The communities whose dashboard this person may open as their manager, by name (staff:
    none listed here, they have the organisation dashboard). Raises nothing."""
    if not is_active_employee(user):
        return []
    return list(db.session.scalars(
        select(Community).join(Membership, Membership.community_id == Community.id)
        .where(Membership.user_id == user.id, Membership.role == MemberRole.MANAGER)
        .order_by(func.lower(Community.name))))


def managed_community_ids(user) -> set[int] | None:
    """The communities a manager's tools cover (the needs-attention queue, saved searches over
    "the communities I manage"): None means every community (staff); else the ids of those
    where the person is a manager and may still read (empty for inactive accounts). Raises
    nothing."""
    if not is_active_account(user):
        return set()
    if user.is_staff:
        return None
    ids = set(db.session.scalars(select(Membership.community_id).where(
        Membership.user_id == user.id, Membership.role == MemberRole.MANAGER)))
    if not ids:
        return ids
    return set(db.session.scalars(select(Community.id).where(Community.id.in_(ids), readable_clause(user))))


def manages_any(user) -> bool:
    """Whether the person is staff or a manager of some community (active accounts only).
    Raises nothing."""
    if not is_active_account(user):
        return False
    if user.is_staff:
        return True
    return bool(db.session.scalar(select(exists().where(
        Membership.user_id == user.id, Membership.role == MemberRole.MANAGER))))


def may_enrol_totp(user) -> bool:
    """Staff (admins, the social team) and community managers may add a second factor.
    Raises nothing."""
    return manages_any(user)


def must_set_up_second_factor(user) -> bool:
    """Whether `user` must set up a second factor before using any other page: an administrator
    without a confirmed one, where KRING_REQUIRE_ADMIN_2FA is on. Raises nothing."""
    if not current_app.config.get("KRING_REQUIRE_ADMIN_2FA"):
        return False
    if not getattr(user, "is_authenticated", False) or not user.is_admin:
        return False
    return not db.session.scalar(select(exists().where(
        TotpSecret.user_id == user.id, TotpSecret.confirmed_at.is_not(None))))


def may_edit_guidelines(user, community: Community | None) -> bool:
    """Global guidelines (community None): the social team and admins; a community's: its
    managers. Raises nothing."""
    if community is None:
        return is_active_account(user) and user.is_staff
    return access_to(user, community).can_manage


def can_invite_externals(user) -> bool:
    """Staff, or an employee who manages at least one community. Raises nothing."""
    return header_roles(user).invite


def may_revoke_invitation(actor, invitation) -> bool:
    """An invitation is ended by its creator or staff. Raises nothing."""
    return actor.is_staff or invitation.created_by_id == actor.id


def sees_every_invitation(actor) -> bool:
    """Whether the invitations list shows everyone's (staff) rather than one's own. Raises nothing."""
    return actor.is_staff


def may_open_insight(user) -> bool:
    """Whether the header shows the Insight link (organisation or a managed community).
    Raises nothing."""
    return header_roles(user).insight


@dataclass(frozen=True)
class HeaderRoles:
    """Which staff doors a person has (one query): the header's links, and the answers of
    moderates_any, may_open_insight and can_invite_externals."""

    moderation: bool  # the moderation queue (moderates_any)
    insight: bool  # the Insight dashboards (may_open_insight)
    invite: bool  # inviting customers and partners (can_invite_externals)


def header_roles(user) -> HeaderRoles:
    """The person's staff doors from one query of their community roles (a manager or moderator
    is an employee and a member, so they read the community). Raises nothing."""
    if not is_active_account(user):
        return HeaderRoles(False, False, False)
    roles: set[MemberRole] = set()
    if user.kind == UserKind.EMPLOYEE:
        roles = set(db.session.scalars(select(Membership.role).distinct().where(
            Membership.user_id == user.id, Membership.role.in_([MemberRole.MODERATOR, MemberRole.MANAGER]))))
    manages = MemberRole.MANAGER in roles
    return HeaderRoles(moderation=user.is_staff or bool(roles),
                       insight=can_see_organisation(user) or (is_active_employee(user) and manages),
                       invite=user.is_staff or manages)
