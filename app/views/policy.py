"""The social policy pages: global guidelines (/guidelines) and a community's
(/c/<slug>/guidelines), their history, editing (social team / community managers) and
accepting them."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms import BooleanField, StringField, TextAreaField

from app.errors import Forbidden, ValidationError
from app.extensions import db
from app.services import access
from app.services.community import policy
from app.views.helpers import KringForm, Required, apply_errors, safe_next

bp = Blueprint("policy", __name__)


class GuidelinesForm(KringForm):
    body = TextAreaField("Guidelines (Markdown)", validators=[Required()])
    material = BooleanField("Material change: everyone must accept this version before they write again")
    note = StringField("What changed (optional)")


class EmptyForm(KringForm):
    """Only the CSRF token."""


@bp.before_request
@login_required
def _signed_in():
    """Guidelines are for signed-in people (like every community page)."""


def _community(slug: str | None):
    return access.community_for(current_user, slug, "read").community if slug else None


def _links(slug: str | None) -> dict:
    kw = {"slug": slug} if slug else {}
    prefix = "policy.community_" if slug else "policy.global_"
    return {name: url_for(prefix + name, **kw) for name in ("show", "edit", "history", "accept")}


def _show(slug: str | None):
    acc = access.community_for(current_user, slug, "read") if slug else None  # the community's tabs
    community = acc.community if acc else None
    cid = community.id if community else None
    return render_template("policy/show.html", acc=acc, community=community, version=policy.current(cid),
                           accepted=policy.has_accepted(current_user, cid), links=_links(slug),
                           may_edit=access.may_edit_guidelines(current_user, community), form=EmptyForm(formdata=None),
                           next=request.args.get("next", ""))


def _history(slug: str | None):
    community = _community(slug)
    return render_template("policy/history.html", community=community,
                           versions=policy.history(community.id if community else None), links=_links(slug))


def _edit(slug: str | None):
    community = _community(slug)
    if not access.may_edit_guidelines(current_user, community):
        raise Forbidden("Only the social team (global guidelines) and the community's managers can edit these.")
    version = policy.current(community.id if community else None)
    form = GuidelinesForm() if request.method == "POST" else GuidelinesForm(
        formdata=None, data={"body": version.body if version else "", "material": False})
    if form.validate_on_submit():
        try:
            policy.save(current_user, form.body.data, slug=slug, material=form.material.data, note=form.note.data)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash("Guidelines saved as a new version.", "success")
            return redirect(_links(slug)["show"])
    status = 400 if (form.errors or form.form_errors) else 200
    return render_template("policy/edit.html", community=community, form=form, version=version,
                           links=_links(slug)), status


def _accept(slug: str | None):
    if EmptyForm().validate_on_submit():
        if slug:
            policy.accept_in(current_user, slug)
        else:
            policy.accept(current_user)
        flash("Thank you: you accepted the guidelines.", "success")
    return redirect(safe_next(request.form.get("next"), _links(slug)["show"]))


@bp.get("/guidelines")
def global_show():
    return _show(None)


@bp.get("/guidelines/history")
def global_history():
    return _history(None)


@bp.route("/guidelines/edit", methods=["GET", "POST"])
def global_edit():
    return _edit(None)


@bp.post("/guidelines/accept")
def global_accept():
    return _accept(None)


@bp.get("/c/<slug>/guidelines")
def community_show(slug: str):
    return _show(slug)


@bp.get("/c/<slug>/guidelines/history")
def community_history(slug: str):
    return _history(slug)


@bp.route("/c/<slug>/guidelines/edit", methods=["GET", "POST"])
def community_edit(slug: str):
    return _edit(slug)


@bp.post("/c/<slug>/guidelines/accept")
def community_accept(slug: str):
    return _accept(slug)
