"""@mention autocomplete: who could be mentioned in a community."""
from __future__ import annotations

from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import Community, User
from app.services import access


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def candidates(viewer, community: Community, q: str, limit: int = 8) -> list[User]:
    """People matching `q` (start of the handle, or of a word of the name) whom the viewer may
    see and who may read `community`, so that a mention would reach them. At most `limit`."""
    like = _escape(q.lower())
    stmt = select(User).where(
        access.people_clause(viewer),
        User.suspended_until.is_(None),
        or_(func.lower(User.handle).like(f"{like}%", escape="\\"),
            func.lower(User.display_name).like(f"{like}%", escape="\\"),
            func.lower(User.display_name).like(f"% {like}%", escape="\\")),
    ).order_by(User.display_name).limit(limit * 4)
    found = []
    for person in db.session.scalars(stmt):
        if access.access_to(person, community).can_read:
            found.append(person)
            if len(found) == limit:
                break
    return found
