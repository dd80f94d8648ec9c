"""Who sees whom: employees see everyone; externals see themselves and people they share a
community with, and never another person's email address. Closed accounts are gone for all."""
from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.orm import aliased

from app.errors import NotFound
from app.extensions import db
from app.models import AccountClosure, Membership, User, UserKind
from app.services.access.base import is_active_account


def sees_all_people(viewer) -> bool:
    """Whether the viewer sees every open account (employees and staff), rather than only
    themselves and the people they share a community with. Raises nothing."""
    return viewer.kind == UserKind.EMPLOYEE or viewer.is_staff


def people_clause(viewer) -> ColumnElement[bool]:
    """A WHERE clause on User: the people this viewer may see in the directory and profiles.
    Raises nothing."""
    if not is_active_account(viewer):
        return false()
    open_account = ~exists().where(AccountClosure.user_id == User.id)  # closed accounts are gone
    if sees_all_people(viewer):
        return open_account
    mine = aliased(Membership)
    theirs = aliased(Membership)
    shared = exists().where(mine.user_id == viewer.id, theirs.community_id == mine.community_id,
                            theirs.user_id == User.id)
    return and_(open_account, or_(User.id == viewer.id, shared))


def can_see_person(viewer, person: User) -> bool:
    """Whether the viewer may see this person's profile. Raises nothing."""
    if not is_active_account(viewer):
        return False
    if viewer.id == person.id:
        return True
    return bool(db.session.scalar(select(exists().where(User.id == person.id, people_clause(viewer)))))


def person_for(viewer, handle: str) -> User:
    """Fetch a person by handle and return them. Raises NotFound if absent or not visible to
    the viewer."""
    person = db.session.scalar(select(User).where(User.handle == handle))
    if person is None or not can_see_person(viewer, person):
        raise NotFound("No such person.")
    return person


def can_see_email(viewer, person: User) -> bool:
    """Email addresses are shown to employees and to the person themselves, never to externals.
    Raises nothing."""
    return is_active_account(viewer) and (viewer.id == person.id or viewer.kind == UserKind.EMPLOYEE)


def may_see_vote_details(viewer) -> bool:
    """Whether an idea's vote breakdown names organisations and departments for the viewer
    (employees and staff; others get counts by kind). Raises nothing."""
    return viewer.kind == UserKind.EMPLOYEE or viewer.is_staff


def may_download_export(actor, export) -> bool:
    """Whether `actor` may download the data export `export`: its owner, or the admin who asked
    for it (for a person who cannot sign in). Raises nothing."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    return export.user_id == actor.id or (export.requested_by_id == actor.id and bool(actor.is_admin))
