"""The social policy: global guidelines (edited by the social team) and per-community
guidelines (edited by the community's managers), versioned; people accept the current
material version before they write anything, and again after a material change.

- Every save is a new GuidelineVersion (number 1, 2, ...); `material` marks a version
  people must accept again. The first version is always material.
- "Accepted" for a scope (global, or one community) means: the person accepted a version at
  least as new as the latest material version of that scope. A scope without guidelines
  needs nothing.
- `require_accepted(user, community_id)` is the check the writing services call (posts,
  comments, chat); it raises ValidationError({"accept_guidelines": ...}).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select

from app import clock
from app.errors import ValidationError
from app.extensions import db
from app.models import Community, GuidelineAcceptance, GuidelineVersion
from app.services import access
from app.services.platform import audit, markup

BODY_MAX = 50_000
ACCEPT_MESSAGE = "Read and accept the community guidelines before you post."


@dataclass(frozen=True)
class Pending:
    """Guidelines a person still has to accept before writing in a community."""

    versions: list[GuidelineVersion]

    def __bool__(self) -> bool:
        return bool(self.versions)


def _scope(stmt, model, community_id: int | None):
    column = model.community_id
    return stmt.where(column.is_(None) if community_id is None else column == community_id)


def current(community_id: int | None = None) -> GuidelineVersion | None:
    """The newest version of a scope (global when community_id is None), or None."""
    return db.session.scalar(_scope(select(GuidelineVersion), GuidelineVersion, community_id)
                             .order_by(GuidelineVersion.id.desc()).limit(1))


def history(community_id: int | None = None) -> list[GuidelineVersion]:
    """Every version of a scope, newest first."""
    return list(db.session.scalars(_scope(select(GuidelineVersion), GuidelineVersion, community_id)
                                   .order_by(GuidelineVersion.id.desc())))


def _accepted_id(user, community_id: int | None) -> int | None:
    return db.session.scalar(_scope(select(func.max(GuidelineAcceptance.version_id)), GuidelineAcceptance,
                                    community_id).where(GuidelineAcceptance.user_id == user.id))


def _in_scopes(column, community_id: int | None):
    return column.is_(None) if community_id is None else or_(column.is_(None), column == community_id)


def _unaccepted_scopes(user, community_id: int | None) -> list[int | None]:
    """The scopes (None: global, then the community) whose latest material version the person
    has not accepted yet: the one rule of "accepted". One query when no guidelines apply (the
    common case on every message and comment), two when some do."""
    needed = dict(db.session.execute(
        select(GuidelineVersion.community_id, func.max(GuidelineVersion.id))
        .where(GuidelineVersion.material.is_(True), _in_scopes(GuidelineVersion.community_id, community_id))
        .group_by(GuidelineVersion.community_id)).all())
    if not needed:
        return []
    accepted = dict(db.session.execute(
        select(GuidelineAcceptance.community_id, func.max(GuidelineAcceptance.version_id))
        .where(GuidelineAcceptance.user_id == user.id, _in_scopes(GuidelineAcceptance.community_id, community_id))
        .group_by(GuidelineAcceptance.community_id)).all())
    scopes = (None, community_id) if community_id is not None else (None,)
    return [scope for scope in scopes if scope in needed and (accepted.get(scope) or 0) < needed[scope]]


def has_accepted(user, community_id: int | None) -> bool:
    """True when the scope needs nothing from the person, or they accepted its latest material version."""
    return community_id not in _unaccepted_scopes(user, community_id)


def pending_for(user, community_id: int | None) -> Pending:
    """The current versions (global, then the community's) the person still has to accept."""
    out = [current(scope) for scope in _unaccepted_scopes(user, community_id)]
    return Pending([v for v in out if v is not None])


def require_accepted(user, community_id: int | None) -> None:
    """Raise ValidationError({"accept_guidelines": ...}) unless the person accepted the
    guidelines that apply to writing in this community (global and the community's)."""
    if pending_for(user, community_id):
        raise ValidationError({"accept_guidelines": ACCEPT_MESSAGE})


def accept(user, community_id: int | None = None, *, commit: bool = True) -> None:
    """Record that the person accepted the current guidelines of the global scope and, with a
    community, of that community too. Does nothing for scopes without guidelines."""
    now = clock.utcnow()
    for scope in (None, community_id) if community_id is not None else (None,):
        version = current(scope)
        if version is not None and _accepted_id(user, scope) != version.id:
            db.session.add(GuidelineAcceptance(user_id=user.id, community_id=scope,
                                               version_id=version.id, accepted_at=now))
    if commit:
        db.session.commit()


def accept_in(user, slug: str) -> Community:
    """Accept the guidelines that apply in a community the person may read. Raises NotFound."""
    acc = access.community_for(user, slug, "read")
    accept(user, acc.community.id)
    return acc.community


def save(actor, body: str, *, slug: str | None = None, material: bool = True, note: str = "") -> GuidelineVersion:
    """Save a new version of the global guidelines (slug None: social team) or of a
    community's (its managers). Returns the version. Raises Forbidden, NotFound, ValidationError."""
    community = None
    if slug is None:
        access.require_staff(actor)
    else:
        community = access.community_for(actor, slug, "manage").community
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise ValidationError({"body": "Write the guidelines."})
    if len(body) > BODY_MAX:
        raise ValidationError({"body": f"Use at most {BODY_MAX:,} characters."})
    community_id = community.id if community else None
    previous = current(community_id)
    if previous is not None and previous.body == body:
        raise ValidationError({"body": "Nothing changed."})
    version = GuidelineVersion(
        community_id=community_id, number=(previous.number + 1) if previous else 1, body=body,
        body_html=markup.to_html(body), material=bool(material) or previous is None,
        note=" ".join((note or "").split())[:500] or None, editor_id=actor.id, created_at=clock.utcnow())
    db.session.add(version)
    db.session.flush()
    # the editor accepts what they wrote (a non-material change keeps earlier acceptances valid)
    db.session.add(GuidelineAcceptance(user_id=actor.id, community_id=community_id, version_id=version.id,
                                       accepted_at=clock.utcnow()))
    _audit(actor, "guidelines.saved", community, version)
    db.session.commit()
    return version


def _audit(actor, action: str, community, version: GuidelineVersion) -> None:
    audit.record(actor, action, "community" if community else "guidelines",
                 community.id if community else version.id,
                 after={"version": version.number, "material": version.material})
