"""@mention autocomplete: who could be mentioned in a community."""
from __future__ import annotations

from sqlalchemy import func, or_, select

from app import clock
from app.extensions import db
from app.models import Community, User
from app.services import access
from app.services.people import people

#: people looked at per answer (matching the text, visible), before ranking and the read check
SCANNED = 200


def candidates(viewer, community: Community, q: str, limit: int = 8) -> list[User]:
    """People `q` names (a handle or its start, a first or last name or its start; "@anna"
    finds anna.bakker) whom the viewer may see, who are not suspended and who may read
    `community`, so that a mention would reach them. Best match first (people.name_rank: the
    whole handle, a whole name, the start of the handle, the start of a name), then by name.
    At most `limit`."""
    q = " ".join((q or "").split()).lstrip("@")
    if not q:
        return []
    stmt = select(User).where(
        access.people_clause(viewer),
        or_(User.suspended_until.is_(None), User.suspended_until <= clock.utcnow()),
        people.name_clause(q),
    ).order_by(func.lower(User.display_name), User.id).limit(SCANNED)
    ranked = []
    for person in db.session.scalars(stmt):
        rank = people.name_rank(q, person.handle, person.display_name)
        if rank is not None:
            ranked.append((rank, person))
    ranked.sort(key=lambda pair: pair[0])  # stable: by name within a rank
    found = []
    for _rank, person in ranked:
        if access.access_to(person, community).can_read:
            found.append(person)
            if len(found) == limit:
                break
    return found
