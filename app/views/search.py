"""Search pages: results with tabs, facets, highlights and "did you mean"; the similar-posts box
of the post form (JSON); saved searches with alerts."""
from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms import BooleanField, HiddenField, RadioField, SelectChoice, StringField

from app.errors import ValidationError
from app.extensions import db
from app.services import search
from app.views.helpers import KringForm, Required, apply_errors, rate_limited

bp = Blueprint("search", __name__)


class SavedForm(KringForm):
    name = StringField("Name")
    query = StringField("Search for", validators=[Required()])
    scope = RadioField("Where to look", default="readable", choices=[
        SelectChoice("readable", "Everything I can read"),
        SelectChoice("managed", "Only the communities I manage")])
    alerts = BooleanField("Tell me when something new matches", default=True)
    filters = HiddenField()


def _filters_from(args) -> dict:
    return search.clean_filters({key: args.get(key) for key in search.FILTER_KEYS})


def _encode(filters: dict) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(filters.items()))


def _decode(raw: str | None) -> dict:
    pairs = dict(part.split("=", 1) for part in (raw or "").split("&") if "=" in part)
    return search.clean_filters(pairs)


def _page_number() -> int:
    try:
        return max(1, min(int(request.args.get("page", 1)), search.MAX_PAGE))
    except (TypeError, ValueError):
        return 1


def _search_url(**changes) -> str:
    """This search's address with some parameters changed (None removes one); back to page 1."""
    args = {k: v for k, v in request.args.items() if k in ("q", "sort", "exact", *search.FILTER_KEYS)}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return url_for("search.index", **args)


@bp.before_request
@login_required
def _signed_in():
    """Every search page needs a signed-in person."""


@bp.get("/search")
@rate_limited("KRING_RATE_SEARCH", methods=("GET",))
def index():
    q = request.args.get("q", "")
    result = search.search(current_user, q, filters=_filters_from(request.args),
                           sort=request.args.get("sort", "relevance"), page=_page_number(),
                           correct=not request.args.get("exact"))
    form = SavedForm(formdata=None, name=result.typed[:80], query=result.typed, filters=_encode(result.filters))
    status = 503 if result.unavailable else 400 if result.error else 200
    response = render_template("search/index.html", result=result, save_form=form, search_url=_search_url,
                               can_save_managed=result.searched and search.can_save_managed(current_user),
                               sorts=search.SORTS, max_results=search.MAX_PAGE * result.per_page)
    headers = {"Retry-After": "30"} if result.unavailable else {}
    return response, status, headers


@bp.get("/search/similar")
def similar():
    """Posts like the title being typed (the new-post form's box), as JSON."""
    found = search.similar_posts(current_user, request.args.get("title", ""))
    return jsonify({"posts": [{
        "id": s.post.id, "title": s.post.title, "url": url_for("posts.show", post_id=s.post.id),
        "kind": s.post.kind.value, "kind_label": s.post.kind.label,
        "status": s.post.status.value if s.post.status else None,
        "status_label": s.post.status.label if s.post.status else None,
        "votes": s.post.vote_count, "comments": s.post.comment_count, "community": s.post.community.name,
        "can_vote": s.can_vote and not s.voted, "voted": s.voted,
        "vote_url": url_for("ideas.vote", post_id=s.post.id) if s.can_vote and not s.voted else None,
    } for s in found]})


@bp.route("/search/saved", methods=["GET", "POST"])
def saved():
    form = SavedForm()
    if request.method == "GET":
        form = SavedForm(formdata=None)
    elif form.validate_on_submit():
        try:
            item = search.save(current_user, form.name.data, form.query.data, _decode(form.filters.data),
                               scope=form.scope.data or "readable", alerts=form.alerts.data)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(f"Saved “{item.name}”." + (" We will tell you when something new matches." if item.alerts else ""),
                  "success")
            return redirect(url_for("search.saved"))
    status = 400 if form.errors or form.form_errors else 200
    return render_template("search/saved.html", items=search.list_saved(current_user), form=form,
                           can_save_managed=search.can_save_managed(current_user)), status


@bp.route("/search/saved/<int:saved_id>/edit", methods=["GET", "POST"])
def edit_saved(saved_id: int):
    item = search.saved_for(current_user, saved_id)
    form = SavedForm(obj=item) if request.method == "GET" else SavedForm()
    if request.method == "GET":
        form.filters.data = _encode(item.filters or {})
    elif form.validate_on_submit():
        try:
            search.update_saved(current_user, saved_id, name=form.name.data, text=form.query.data,
                                filters=_decode(form.filters.data), scope=form.scope.data or "readable",
                                alerts=form.alerts.data)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash("Saved search updated.", "success")
            return redirect(url_for("search.saved"))
    status = 400 if form.errors or form.form_errors else 200
    return render_template("search/saved_form.html", item=item, form=form,
                           can_save_managed=search.can_save_managed(current_user)), status


@bp.post("/search/saved/<int:saved_id>/delete")
def delete_saved(saved_id: int):
    search.delete_saved(current_user, saved_id)
    flash("Saved search deleted.", "success")
    return redirect(url_for("search.saved"))
