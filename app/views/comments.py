"""Comment pages and actions: add (with replies and files), edit, delete/restore, like,
accept/unaccept an answer, earlier versions. Every change is a POST; on success it goes back to
the post page at the comment (#c<id>)."""
from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms import StringField, TextAreaField

from app import inputs
from app.errors import ValidationError
from app.extensions import db
from app.services import access
from app.services.content import attachments, comments
from app.views.helpers import KringForm, Required, apply_errors, hold_uploads, pending_uploads, rate_limited
from app.views.posts import post_view

bp = Blueprint("comments", __name__)


class EditForm(KringForm):
    body = TextAreaField("Comment", validators=[Required()])
    reason = StringField("Reason for the edit (shown to the author)")


@bp.before_request
@login_required
def _signed_in():
    """Every comment action needs a signed-in person."""


def _at(post_id: int, comment_id: int | None = None):
    anchor = f"c{comment_id}" if comment_id else "comments"
    return redirect(url_for("posts.show", post_id=post_id, _anchor=anchor))


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


@bp.post("/p/<int:post_id>/comments")
@rate_limited("KRING_RATE_COMMENT")
def add(post_id: int):
    body = request.form.get("body", "")
    parent_id = request.form.get("parent_id") or None
    files = [f for f in request.files.getlist("files") if getattr(f, "filename", "")]
    try:
        comment = comments.add(current_user, post_id, body, parent_id, files=files, pending=pending_uploads(),
                               confirm_sensitive=bool(request.form.get("confirm_sensitive")),
                               accept_guidelines=bool(request.form.get("accept_guidelines")))
    except ValidationError as exc:
        db.session.rollback()
        held, refused = hold_uploads(files)  # the chosen files stay attached to the form
        if refused is not None and "files" not in exc.errors:
            exc = ValidationError({**exc.errors, **refused.errors})
        return _show_with_error(post_id, exc, body, parent_id, held)
    if comment.held_at:
        flash("Thank you: your comment waits for a moderator's review before others see it.", "success")
    else:
        flash("Your reply was posted." if comment.parent_id else "Your comment was posted.", "success")
    return _at(post_id, comment.id)


def _show_with_error(post_id: int, exc: ValidationError, body: str, parent_id, held=()):
    """Re-render the post page with the message next to the form, keeping what was typed and
    the files chosen (`held`: pending uploads, app.services.content.attachments.Pending)."""
    pacc = access.post_for(current_user, post_id, "read")
    view = post_view(current_user, pacc)
    parent = inputs.id_or_none(parent_id)
    return render_template("posts/show.html", pacc=pacc, comment_error=exc.message, comment_errors=exc.errors,
                           comment_text=body, comment_parent_id=parent, comment_held=list(held), **view), 400


@bp.route("/comments/<int:comment_id>/edit", methods=["GET", "POST"])
def edit(comment_id: int):
    pacc, comment = comments.for_edit(current_user, comment_id)
    own = comment.author_id == current_user.id
    form = EditForm(data={"body": comment.body} if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            comments.edit(current_user, comment_id, form.body.data or "", form.reason.data or "")
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash("Saved. The earlier version is kept.", "success")
            return _at(comment.post_id, comment_id)
    status = 400 if (form.errors or form.form_errors) else 200

    return render_template("comments/edit.html", pacc=pacc, post=pacc.post, comment=comment, form=form,
                           own=own, files=attachments.for_comments([comment.id]).get(comment.id, [])), status


@bp.post("/comments/<int:comment_id>/delete")
def delete(comment_id: int):
    try:
        comment = comments.delete(current_user, comment_id)
    except ValidationError as exc:
        return _flash_back(comment_id, exc)
    flash("The comment was deleted. Moderators can restore it.", "success")
    return _at(comment.post_id, comment.id)


@bp.post("/comments/<int:comment_id>/restore")
def restore(comment_id: int):
    comment = comments.restore(current_user, comment_id)
    flash("The comment was restored.", "success")
    return _at(comment.post_id, comment.id)


@bp.post("/comments/<int:comment_id>/like")
def like(comment_id: int):
    try:
        liked, count = comments.toggle_like(current_user, comment_id)
    except ValidationError as exc:
        if _wants_json():
            return jsonify({"errors": exc.errors}), 400
        return _flash_back(comment_id, exc)
    if _wants_json():
        return jsonify({"liked": liked, "count": count})
    _pacc, comment = access.comment_for(current_user, comment_id)
    return _at(comment.post_id, comment_id)


@bp.post("/comments/<int:comment_id>/accept")
def accept(comment_id: int):
    try:
        comment = comments.accept(current_user, comment_id)
    except ValidationError as exc:
        return _flash_back(comment_id, exc)
    flash("Marked as the accepted answer.", "success")
    return _at(comment.post_id, comment.id)


@bp.post("/comments/<int:comment_id>/unaccept")
def unaccept(comment_id: int):
    try:
        comment = comments.unaccept(current_user, comment_id)
    except ValidationError as exc:
        return _flash_back(comment_id, exc)
    flash("The answer is no longer marked as accepted.", "success")
    return _at(comment.post_id, comment.id)


@bp.get("/comments/<int:comment_id>/revisions")
def revisions(comment_id: int):
    pacc, comment, rows = comments.revisions(current_user, comment_id)
    return render_template("comments/revisions.html", pacc=pacc, post=pacc.post, comment=comment,
                           revisions=rows)


def _flash_back(comment_id: int, exc: ValidationError):
    db.session.rollback()
    flash(exc.message, "error")
    _pacc, comment = access.comment_for(current_user, comment_id)
    return _at(comment.post_id, comment_id)
