"""Expert pages: the finder, "my topics", the needs-attention queue, a community's experts
(overview, escalation time, metrics) and a topic's experts (assign, remove, suggestions,
history). Also the template helpers that show experts on community, topic and post pages, and
`flask experts escalate`."""
from __future__ import annotations

import click
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms import HiddenField, StringField

from app import inputs
from app.errors import ValidationError
from app.extensions import db
from app.services import access
from app.services.community import departments
from app.services.experts import expert_reports, experts
from app.views.helpers import KringForm, Required, apply_errors, id_arg, page_arg

bp = Blueprint("experts", __name__)


class AssignForm(KringForm):
    person = StringField("Person", validators=[Required()])
    user_id = HiddenField()
    note = StringField("Note (optional)")


class SettingsForm(KringForm):
    escalation_hours = StringField("Hours before an unanswered question or idea escalates", validators=[Required()])


class EmptyForm(KringForm):
    """Only the CSRF token (remove and one-click assign buttons)."""


# --- template helpers (community, topic and post pages) -----------------------------------

@bp.app_template_global()
def community_experts(community):
    """[TopicExperts] of a community: for its page's sidebar (two queries)."""
    return experts.community_experts(community)


@bp.app_template_global()
def topic_experts(topic):
    """[ExpertEntry] of one topic: for the topic page (one query)."""
    return experts.experts_by_topic([topic.id]).get(topic.id, [])


@bp.app_template_global()
def expert_post_ids(rows):
    """Ids of the posts in a list whose author is an expert of the post's topics (one query)."""
    return experts.expert_post_ids(getattr(r, "post", r).id for r in rows or ())


@bp.app_template_filter("duration")
def duration(delta):
    return experts.format_duration(delta)


@bp.app_template_filter("percent")
def percent(share):
    return "—" if share is None else f"{round(share * 100)}%"


# --- CLI ----------------------------------------------------------------------------------

@bp.cli.command("escalate")
def escalate_command() -> None:
    """Escalate overdue questions and ideas and flag topics without experts (idempotent)."""
    click.echo(str(experts.escalate()))


# --- pages --------------------------------------------------------------------------------

@bp.before_request
@login_required
def _signed_in():
    """Every expert page needs a signed-in person."""


def _nav() -> dict:
    return {"manages": access.manages_any(current_user)}


@bp.get("/experts")
def finder():
    q = request.args.get("q", "").strip()
    tag = request.args.get("tag", "").strip()
    topic_id = id_arg("topic")
    department_id = id_arg("department") if current_user.is_employee else None
    experts_only = request.args.get("experts") == "1"
    result = expert_reports.find(current_user, q=q or None, topic_id=topic_id, tag=tag or None,
                          department_id=department_id, experts_only=experts_only, page=page_arg())
    return render_template("experts/finder.html", result=result, q=q, tag=tag, topic_id=topic_id,
                           department_id=department_id, experts_only=experts_only,
                           topics=expert_reports.finder_topics(current_user),
                           departments=departments.all_departments() if current_user.is_employee else [],
                           **_nav())


@bp.get("/experts/mine")
def mine():
    data = expert_reports.my_topics(current_user, request.args.get("period"))
    return render_template("experts/mine.html", data=data, periods=expert_reports.PERIODS, **_nav())


@bp.get("/experts/attention")
def attention():
    queue = experts.attention(current_user, page=page_arg())
    return render_template("experts/attention.html", queue=queue, manages=True)


@bp.route("/c/<slug>/experts", methods=["GET", "POST"])
def community(slug: str):
    acc = access.community_for(current_user, slug, "manage")
    form = SettingsForm()
    if request.method == "GET":
        form.escalation_hours.data = str(experts.escalation_hours(acc.community))
    if form.validate_on_submit():
        try:
            experts.set_escalation_hours(current_user, slug, form.escalation_hours.data)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash("Escalation time saved.", "success")
            return redirect(url_for("experts.community", slug=slug))
    metrics = expert_reports.community_metrics(current_user, slug, request.args.get("period"))
    status = 400 if form.errors or form.form_errors else 200
    return render_template("experts/community.html", acc=acc, form=form, metrics=metrics,
                           overview=experts.community_experts(acc.community), periods=expert_reports.PERIODS), status


def _topic_page(slug: str, topic_slug: str, form: AssignForm, status: int = 200):
    data = expert_reports.topic_page(current_user, slug, topic_slug, request.args.get("period"))
    return render_template("experts/topic.html", form=form, action_form=EmptyForm(),
                           periods=expert_reports.PERIODS, **data), status


@bp.get("/c/<slug>/t/<topic_slug>/experts")
def topic(slug: str, topic_slug: str):
    return _topic_page(slug, topic_slug, AssignForm())


@bp.post("/c/<slug>/t/<topic_slug>/experts")
def assign(slug: str, topic_slug: str):
    form = AssignForm()
    if form.validate_on_submit():
        chosen = inputs.id_or_none(form.user_id.data)  # a suggestion's one-click button
        one_click = chosen is not None
        person = chosen if one_click else form.person.data
        try:
            row = experts.assign(current_user, slug, topic_slug, person, form.note.data or "", ip=request.remote_addr)
        except ValidationError as exc:
            db.session.rollback()
            if one_click:  # a suggestion's button: the message goes on top
                flash(exc.message, "error")
                return redirect(url_for("experts.topic", slug=slug, topic_slug=topic_slug))
            apply_errors(form, exc)
        else:
            flash(f"{row.user.display_name} is now an expert of {row.topic.name}.", "success")
            return redirect(url_for("experts.topic", slug=slug, topic_slug=topic_slug))
    return _topic_page(slug, topic_slug, form, 400)


@bp.post("/c/<slug>/t/<topic_slug>/experts/<int:assignment_id>/remove")
def remove(slug: str, topic_slug: str, assignment_id: int):
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            row = experts.remove(current_user, slug, topic_slug, assignment_id, ip=request.remote_addr)
        except ValidationError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            flash(f"{row.user.display_name} is no longer an expert of {row.topic.name}. "
                  "Their posts and answers stay.", "success")
    return redirect(url_for("experts.topic", slug=slug, topic_slug=topic_slug))
