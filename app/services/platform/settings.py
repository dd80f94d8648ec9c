"""Site settings that admins change at run time (e.g. open sign-up for customers)."""
from __future__ import annotations

from app.extensions import db
from app.models import SiteSetting
from app.services import access

DEFAULTS: dict[str, object] = {
    "open_signup": False,  # customers may sign up without an invitation
    # what happens to a closed account's posts, comments and messages:
    # "choice" (the person chooses), "anonymise" (kept without author), "remove" (soft-deleted)
    "content_on_delete": "choice",
}


def get(key: str) -> object:
    """A setting's current value (its default when never set). Raises KeyError for unknown keys."""
    row = db.session.get(SiteSetting, key)
    return row.value if row is not None else DEFAULTS[key]


def set_value(actor, key: str, value: object) -> None:
    """Change a setting (admins only). Raises Forbidden, KeyError for unknown keys."""
    access.require_admin(actor)
    if key not in DEFAULTS:
        raise KeyError(key)
    row = db.session.get(SiteSetting, key)
    if row is None:
        db.session.add(SiteSetting(key=key, value=value))
    else:
        row.value = value
    db.session.commit()
