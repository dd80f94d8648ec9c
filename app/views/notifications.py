"""The notification centre: the list (newest first, keyset pages), opening one (a POST that
marks it read, then goes to its post), marking all read, per-kind settings, and the unread
count in the header."""
from __future__ import annotations

import logging

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError
from wtforms import BooleanField

from app.extensions import db
from app.models import Community
from app.services import notifications
from app.views.helpers import KringForm, id_arg, safe_next
from app.wording import plural

bp = Blueprint("notifications", __name__)
log = logging.getLogger(__name__)


@bp.app_context_processor
def _unread():
    """`unread_notifications()` for the header: one query, run only when a page calls it,
    only for a signed-in person, at most once per request."""

    def unread_notifications() -> int:
        if not current_user.is_authenticated:
            return 0
        if "unread_notifications" not in g:
            try:
                g.unread_notifications = notifications.unread_count(current_user)
            except SQLAlchemyError:  # never turn an error page into a second error
                log.exception("could not count unread notifications")
                g.unread_notifications = 0
        return g.unread_notifications

    return {"unread_notifications": unread_notifications}


@bp.before_request
@login_required
def _signed_in():
    """Every notification page needs a signed-in person."""


@bp.get("/notifications")
def index():
    unread_only = request.args.get("unread") == "1"
    before = id_arg("before")
    page = notifications.page(current_user, before=before, unread_only=unread_only)
    return render_template("notifications/index.html", page=page, unread_only=unread_only, before=before)


@bp.post("/notifications/<int:notification_id>/open")
def open_one(notification_id: int):
    """Mark one notification read and go to what it is about (its comment, if any)."""
    note = notifications.open_notification(current_user, notification_id)
    if note.kind == "chat_mention":
        return redirect(url_for("chat.mention", notification_id=note.id))
    if note.kind == "community_manager" and note.community_id is not None:
        community = db.session.get(Community, note.community_id)
        if community is not None:
            return redirect(url_for("communities.members", slug=community.slug))
    if note.post_id is None:
        return redirect(url_for("notifications.index"))
    anchor = f"c{note.comment_id}" if note.comment_id else None
    return redirect(url_for("posts.show", post_id=note.post_id, _anchor=anchor))


@bp.post("/notifications/read-all")
def read_all():
    changed = notifications.mark_read(current_user)
    flash(f"Marked {plural(changed, 'notification')} as read." if changed
          else "Nothing was unread.", "success")
    return redirect(safe_next(request.form.get("next"), url_for("notifications.index")))


def _settings_form(prefs: dict[str, dict[str, bool]]) -> KringForm:
    """A form with an in-app and an email checkbox for each kind, filled from `prefs` on GET."""

    class SettingsForm(KringForm):
        pass

    for kind in notifications.KINDS:
        setattr(SettingsForm, f"in_app_{kind}", BooleanField("In Kring", default=prefs[kind]["in_app"]))
        setattr(SettingsForm, f"email_{kind}", BooleanField("By email", default=prefs[kind]["email"]))
    return SettingsForm()


@bp.route("/notifications/settings", methods=["GET", "POST"])
def settings():
    form = _settings_form(notifications.preferences(current_user))
    if form.validate_on_submit():
        choices = {kind: {"in_app": form[f"in_app_{kind}"].data, "email": form[f"email_{kind}"].data}
                   for kind in notifications.KINDS}
        notifications.set_preferences(current_user, choices)
        flash("Your notification settings are saved.", "success")
        return redirect(url_for("notifications.settings"))
    rows = [(kind, label, form[f"in_app_{kind}"], form[f"email_{kind}"])
            for kind, label in notifications.KINDS.items()]
    return render_template("notifications/settings.html", form=form, rows=rows)
