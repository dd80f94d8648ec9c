"""Idea pages: vote (a form POST that works without JavaScript), the voters list for staff,
and the status change with an official response."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms import SelectChoice, SelectField, StringField, TextAreaField

from app.errors import ValidationError
from app.extensions import db
from app.services import access
from app.services.content import ideas
from app.views.helpers import KringForm, apply_errors, page_arg, rate_limited, safe_next
from app.views.posts import post_view
from app.wording import plural

bp = Blueprint("ideas", __name__)


class StatusForm(KringForm):
    """Field names carry the prefix "idea-" (ids stay unique on the post page); the page-wide
    CSRFProtect checks the token, which the template adds as a plain csrf_token field."""

    class Meta:
        csrf = False

    status = SelectField("New status", validate_choice=False)
    response = TextAreaField("Official response")
    duplicate_of = StringField("Duplicate of (only for “Duplicate”)")


def _choices(panel: ideas.IdeaPanel | None) -> list[SelectChoice]:
    return [SelectChoice(s.value, s.label) for s in panel.next_statuses] if panel else []


def status_form(panel: ideas.IdeaPanel) -> StatusForm:
    """An empty status change form for the idea panel (templates call it as
    idea_status_form(idea)). Unbound, so a page re-rendered after another form's POST does
    not pick up that form's fields."""
    form = StatusForm(formdata=None, prefix="idea")
    form.status.choices = _choices(panel)
    return form


@bp.app_context_processor
def _helpers():
    return {"idea_status_form": status_form}


@bp.before_request
@login_required
def _signed_in():
    """Every idea action needs a signed-in person."""


@bp.post("/p/<int:post_id>/vote")
@rate_limited("KRING_RATE_VOTE")
def vote(post_id: int):
    try:
        voted, count = ideas.toggle_vote(current_user, post_id)
    except ValidationError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        votes = plural(count, 'vote')
        flash(f"Thanks, your vote counts ({votes})." if voted else f"Your vote was taken back ({votes}).", "success")
    default = url_for("posts.show", post_id=post_id, _anchor="idea")
    return redirect(safe_next(request.values.get("next"), default))


@bp.get("/p/<int:post_id>/voters")
def voters(post_id: int):
    result = ideas.voters(current_user, post_id, page=page_arg())
    return render_template("ideas/voters.html", result=result, post=result.pacc.post)


@bp.post("/p/<int:post_id>/status")
def change_status(post_id: int):
    """On bad input the post page is rendered again (400) with the typed response kept."""
    access.post_for(current_user, post_id, "respond")  # 404/403 before reading the form
    form = StatusForm(prefix="idea")
    problem = "Please check the form."
    if form.validate_on_submit():
        try:
            change = ideas.change_status(current_user, post_id, form.status.data or "", form.response.data or "",
                                         form.duplicate_of.data or None, ip=request.remote_addr)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
            problem = exc.message
        else:
            if change.duplicate_of_id:
                flash(f"Merged into #{change.duplicate_of_id}: its votes and followers moved there. "
                      "Voters and followers will be notified.", "success")
            else:
                flash(f"The idea is now “{change.to_status.label}”. Voters and followers will be notified.", "success")
            return redirect(url_for("posts.show", post_id=post_id, _anchor="idea"))
    pacc = access.post_for(current_user, post_id, "read")
    view = post_view(current_user, pacc)
    if view["idea"] is None:  # not an idea: there is no form to show the message next to
        flash(problem, "error")
        return redirect(url_for("posts.show", post_id=post_id))
    form.status.choices = _choices(view["idea"])
    return render_template("posts/show.html", pacc=pacc, status_form=form, **view), 400
