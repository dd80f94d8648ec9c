"""People: directory, profiles, profile editing, avatars."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("people", __name__)


@bp.get("/people")
def directory():
    return "people"


@bp.get("/people/<handle>")
def profile(handle):
    return "profile"


@bp.route("/profile", methods=["GET", "POST"])
def edit_profile():
    return "edit"


@bp.get("/people/<handle>/avatar/<key>")
def avatar(handle, key):
    return "avatar"
