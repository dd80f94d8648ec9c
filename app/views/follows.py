"""Follow and unfollow a post, topic or community (one POST endpoint for all three)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request
from flask_login import current_user, login_required

from app.errors import ValidationError
from app.services import follows
from app.setup import safe_next

bp = Blueprint("follows", __name__)


@bp.post("/follow")
@login_required
def toggle():
    target_type = request.form.get("target_type", "")
    try:
        target_id = int(request.form.get("target_id", ""))
    except ValueError:
        abort(400)
    try:
        if request.form.get("follow") == "1":
            follows.follow(current_user, target_type, target_id)
            flash(f"You follow this {target_type} now: you will be notified of what happens.", "success")
        else:
            follows.unfollow(current_user, target_type, target_id)
            flash(f"You no longer follow this {target_type}.", "success")
    except ValidationError as exc:
        flash(exc.message, "error")
    return redirect(safe_next(request.form.get("next"), "/"))
