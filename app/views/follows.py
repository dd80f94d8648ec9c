"""Follow and unfollow a post, topic or community (one POST endpoint for all three)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, request
from flask_login import current_user, login_required

from app import inputs
from app.errors import ValidationError
from app.services.community import follows
from app.views.helpers import safe_next

bp = Blueprint("follows", __name__)


@bp.post("/follow")
@login_required
def toggle():
    target_type = request.form.get("target_type", "")
    target_id = inputs.as_id(request.form.get("target_id"), "target_id", message="Say what to follow.")
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
