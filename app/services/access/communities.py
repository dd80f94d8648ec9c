"""Fetching a community and authorizing an action on it, and who may create or invite into one.

A community the viewer may not discover answers NotFound, so its existence does not leak.
Managing (settings, topics, members, requests, invitations) needs a manager role; moderating
needs a moderator or manager role (or staff).
"""
from __future__ import annotations

from sqlalchemy import select

from app.errors import Forbidden, NotFound
from app.extensions import db
from app.models import Community, MemberRole, Membership, UserKind
from app.services.access.base import CommunityAccess, access_to, can_discover, is_active_account, kind_may_be_member


def community_for(user, slug: str, action: str = "read") -> CommunityAccess:
    """Fetch a community by slug and authorize `action` for the viewer; returns its CommunityAccess.

    action: "discover" (landing page), "read" (contents), "moderate", "manage".
    Raises NotFound when the viewer may not know the community exists, and also when it may
    know it exists but not read it and asked for more than "discover" (nothing inside leaks);
    Forbidden when it may read it but lacks the role; ValueError for an unknown action.
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
    """Like community_for, by id (sockets, search, jobs). Raises NotFound, Forbidden."""
    slug = db.session.scalar(select(Community.slug).where(Community.id == community_id))
    if slug is None:
        raise NotFound("No such community.")
    return community_for(user, slug, action)


def can_create_community(user) -> bool:
    """Whether the person may create communities (staff only). Raises nothing."""
    return is_active_account(user) and user.is_staff


def can_invite_into(viewer, community: Community, membership: Membership | None) -> bool:
    """Whether the viewer may invite customers and partners into this community (given their
    membership row): its managers and staff, and never into an internal one. Raises nothing."""
    if not is_active_account(viewer) or not kind_may_be_member(UserKind.CUSTOMER, community):
        return False
    return viewer.is_staff or (membership is not None and membership.role == MemberRole.MANAGER)
