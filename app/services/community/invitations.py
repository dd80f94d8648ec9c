"""Invitations for customers and partners: single-use, expiring links that create the account
and optionally pre-join it to communities.

Only a SHA-256 of the token is stored. Creating one needs an employee who manages every
community named (or staff); accepting it creates a verified account (the link proved the
mailbox) and joins the communities the person may still be a member of.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import clock
from app.errors import Forbidden, Gone, NotFound, ValidationError
from app.extensions import db
from app.models import Community, Invitation, User, UserKind
from app.services import access
from app.services.community import communities
from app.services.people import accounts
from app.services.platform import mail

INVITABLE_KINDS = (UserKind.CUSTOMER, UserKind.PARTNER)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(actor: User, email: str, kind: str, community_slugs: list[str] | tuple[str, ...] = (),
           note: str = "") -> tuple[Invitation, str]:
    """Invite a customer or partner by email. Returns (invitation, token); the link is mailed.

    Raises Forbidden (not allowed to invite), ValidationError (bad email, kind, an account that
    exists already, a community they cannot join)."""
    if not access.can_invite_externals(actor):
        raise Forbidden("Only community managers and the social team can invite people.")
    email = accounts.normalize_email(email)
    try:
        kind = UserKind(kind)
    except ValueError:
        kind = None
    if kind not in INVITABLE_KINDS:
        raise ValidationError({"kind": "Invite a customer or a partner. Employees sign up with their company address."})
    if db.session.scalar(select(User.id).where(User.email == email)):
        raise ValidationError({"email": "This person already has an account: add them from a community's member page."})
    note = (note or "").strip()
    if len(note) > 500:
        raise ValidationError({"note": "Use at most 500 characters."})
    chosen: list[Community] = []
    for slug in dict.fromkeys(community_slugs):
        acc = access.community_for(actor, slug, "manage")
        if not access.kind_may_be_member(kind, acc.community):
            raise ValidationError({"communities": f"{acc.community.name} is internal: customers and partners cannot join it."})
        chosen.append(acc.community)
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        token_hash=_hash(token), email=email, kind=kind, note=note, created_by_id=actor.id,
        expires_at=clock.utcnow() + timedelta(days=current_app.config["INVITATION_DAYS"]),
        communities=chosen)
    db.session.add(invitation)
    link = mail.external_url("auth.accept_invitation", token=token)
    where = "".join(f"\n- {c.name}" for c in chosen)
    mail.send(email, f"{actor.display_name} invites you to {current_app.config['KRING_SITE_NAME']}",
              f"Hello,\n\n{actor.display_name} invites you to join {current_app.config['KRING_SITE_NAME']}"
              f" as a {kind.value}." + (f"\n\n{note}" if note else "")
              + (f"\n\nYou will join:{where}" if where else "")
              + f"\n\nCreate your account here (the link works once, for "
              f"{current_app.config['INVITATION_DAYS']} days):\n\n{link}\n")
    db.session.commit()
    return invitation, token




def for_token(token: str) -> Invitation:
    """The open invitation behind a link. NotFound if unknown; Gone if used, revoked or expired."""
    invitation = db.session.scalar(select(Invitation).options(selectinload(Invitation.communities))
                                   .where(Invitation.token_hash == _hash(token or "")))
    if invitation is None:
        raise NotFound("This invitation link is not valid. Check that you copied all of it.")
    if invitation.used_at is not None:
        raise Gone("This invitation was already used. Sign in with the account it created, or ask for a new one.")
    if invitation.is_expired:
        raise Gone("This invitation has expired. Ask the person who invited you for a new one.")
    return invitation


def _join_all(invitation: Invitation, user: User) -> None:
    for community in invitation.communities:
        communities.add_members_for_invitation(community, user)
    invitation.used_at = clock.utcnow()
    invitation.used_by_id = user.id


def accept(token: str, display_name: str, password: str) -> User:
    """Create the invited person's account (verified) and join the communities."""
    invitation = for_token(token)
    user = accounts.create_user(invitation.email, password, display_name, invitation.kind,
                                verified=True, commit=False)
    _join_all(invitation, user)
    db.session.commit()
    return user


def accept_as(user: User, token: str) -> Invitation:
    """A signed-in person with the invited address accepts: join the communities."""
    invitation = for_token(token)
    if user.email != invitation.email:
        raise ValidationError({"_": "This invitation was sent to another email address."})
    _join_all(invitation, user)
    db.session.commit()
    return invitation


def revoke(actor: User, invitation_id: int) -> None:
    """End an unused invitation (its creator or staff)."""
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or not access.may_revoke_invitation(actor, invitation):
        raise NotFound("No such invitation.")
    if invitation.used_at is None and not invitation.is_expired:
        invitation.expires_at = clock.utcnow()
        db.session.commit()


def sent_by(actor: User, limit: int = 100) -> list[Invitation]:
    """The invitations this person sent (staff: everyone's), newest first."""
    stmt = select(Invitation).options(selectinload(Invitation.communities)).order_by(Invitation.created_at.desc())
    if not access.sees_every_invitation(actor):
        stmt = stmt.where(Invitation.created_by_id == actor.id)
    return list(db.session.scalars(stmt.limit(limit)))
