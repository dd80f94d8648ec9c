"""Moderation pages: report something, the moderation queue, one target with its reports,
history and actions, internal notes on posts, pre-moderation rules and settings, and the
admins' audit log (/admin/audit). Thin: the rules live in app.services.moderation,
app.services.content.premoderation and app.services.platform.audit."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms import BooleanField, IntegerField, RadioField, SelectChoice, StringField, TextAreaField
from wtforms.validators import Optional

from app.errors import ValidationError
from app.extensions import db
from app.models.moderation import REPORT_CATEGORIES, TARGET_TYPES
from app.services import access, moderation
from app.services.content import premoderation
from app.services.platform import audit
from app.views.helpers import KringForm, Required, apply_errors, rate_limited

bp = Blueprint("moderation", __name__)

ACTION_LABELS = {
    "hide": "Hide", "restore": "Restore (show again)", "lock": "Lock (no new comments)", "unlock": "Unlock",
    "move": "Move to another community", "edit": "Edit", "approve": "Approve", "reject": "Reject",
    "dismiss": "Dismiss the reports", "warn": "Warn the author", "suspend": "Suspend the author until…",
    "ban": "Ban the author", "lift": "Lift the author's suspension or ban",
}


def _ip() -> str | None:
    return request.remote_addr


class ReportForm(KringForm):
    category = RadioField("What is wrong?", choices=[SelectChoice(k, v) for k, v in REPORT_CATEGORIES.items()], validators=[Required()])
    text = TextAreaField("Tell the moderators more (optional, required for “Something else”)")


class NoteForm(KringForm):
    note = TextAreaField("Internal note", validators=[Required()])


class RuleForm(KringForm):
    pattern = StringField("Word, phrase or pattern", validators=[Required()])
    is_regex = BooleanField("It is a regular expression")
    action = RadioField("What happens", choices=[SelectChoice("hold", "Hold the post for review"),
                                                 SelectChoice("block", "Refuse the post")], default="hold", validators=[Required()])
    public_message = StringField("Message shown to the author when refused")


class SettingsForm(KringForm):
    hold_first_posts = IntegerField("Hold the first posts of new external accounts (0: off)",
                                    validators=[Optional()])
    confidential_words = TextAreaField("Confidential words (one per line): posts containing them get a warning")


class EmptyForm(KringForm):
    """Only the CSRF token."""


@bp.before_request
@login_required
def _signed_in():
    """Every moderation page needs a signed-in person."""


# --- reports ------------------------------------------------------------------------------

def _back_to(target: moderation.Target) -> str:
    if target.type == "post":
        return url_for("posts.show", post_id=target.id)
    if target.type == "comment":
        return url_for("posts.show", post_id=target.post.id, _anchor=f"c{target.id}")
    return url_for("chat.channel", slug=target.community.slug)


@bp.route("/report/<target_type>/<int:target_id>", methods=["GET", "POST"])
@rate_limited("KRING_RATE_REPORT")
def report(target_type: str, target_id: int):
    if target_type not in TARGET_TYPES:
        abort(404)
    target = moderation.target_for(current_user, target_type, target_id)
    form = ReportForm()
    if form.validate_on_submit():
        try:
            moderation.report(current_user, target_type, target_id, form.category.data or "", form.text.data or "")
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash("Thank you: your report arrived. The moderators will look at it.", "success")
            return redirect(_back_to(target))
    status = 400 if (form.errors or form.form_errors) else 200
    return render_template("moderation/report.html", target=target, form=form, back=_back_to(target)), status


# --- the queue and targets ----------------------------------------------------------------

@bp.get("/moderation")
def queue():
    q = moderation.queue(current_user, community_slug=request.args.get("c") or None)
    return render_template("moderation/queue.html", queue=q, labels=ACTION_LABELS,
                           form=EmptyForm(formdata=None))


def _render_target(target: moderation.Target, errors: dict | None = None, status: int = 200, values=None):
    destinations = moderation.move_destinations(current_user, target.obj) if target.type == "post" else []
    return render_template("moderation/target.html", target=target, labels=ACTION_LABELS,
                           reports=moderation.open_reports(current_user, target),
                           history=moderation.history(current_user, target), destinations=destinations,
                           errors=errors or {}, values=values or {}, back=_back_to(target)), status


@bp.get("/moderation/<target_type>/<int:target_id>")
def target(target_type: str, target_id: int):
    if target_type not in TARGET_TYPES:
        abort(404)
    return _render_target(moderation.moderate_target(current_user, target_type, target_id))


def _until(raw: str | None) -> datetime | None:
    if not raw:
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(raw.strip(), fmt)
        except ValueError:
            continue
    raise ValidationError({"until": "Enter a date (and time), e.g. 2030-01-31T12:00."})


@bp.post("/moderation/<target_type>/<int:target_id>/act")
def act(target_type: str, target_id: int):
    if target_type not in TARGET_TYPES:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    action = request.form.get("action", "")
    values = request.form.to_dict()
    try:
        target = moderation.act(current_user, target_type, target_id, action, request.form.get("reason", ""),
                                ip=_ip(), until=_until(request.form.get("until")),
                                to_slug=request.form.get("to") or None,
                                title=request.form.get("title"), body=request.form.get("body"))
    except ValidationError as exc:
        db.session.rollback()
        current = moderation.moderate_target(current_user, target_type, target_id)
        return _render_target(current, errors=exc.errors, status=400, values=values)
    flash(f"Done: {ACTION_LABELS.get(action, action).split(' (')[0].rstrip('…').lower()}.", "success")
    if request.form.get("next") == "queue":
        return redirect(url_for("moderation.queue"))
    return redirect(url_for("moderation.target", target_type=target.type, target_id=target.id))


# --- internal notes -----------------------------------------------------------------------

@bp.post("/p/<int:post_id>/notes")
def add_note(post_id: int):
    form = NoteForm()
    if form.validate_on_submit():
        try:
            moderation.add_note(current_user, post_id, form.note.data or "", ip=_ip())
        except ValidationError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            flash("Internal note added. Only staff see it.", "success")
    return redirect(url_for("posts.show", post_id=post_id, _anchor="internal-notes"))


# --- pre-moderation rules -----------------------------------------------------------------

def _rules_page(slug: str | None, rule_form=None, settings_form=None, status: int = 200):
    acc = access.community_for(current_user, slug, "manage") if slug else None
    if slug is None:
        access.require_staff(current_user)
    row = premoderation.settings_for(current_user, slug)
    settings_form = settings_form or SettingsForm(formdata=None, obj=row)
    return render_template("moderation/rules.html", acc=acc, slug=slug,
                           rules=premoderation.rules(current_user, slug),
                           rule_form=rule_form or RuleForm(formdata=None), settings_form=settings_form,
                           toggle_form=EmptyForm(formdata=None)), status


def _rules_url(slug: str | None) -> str:
    return url_for("moderation.community_rules", slug=slug) if slug else url_for("moderation.global_rules")


def _rules_post(slug: str | None):
    if request.form.get("form") == "settings":
        form = SettingsForm()
        if form.validate_on_submit():
            try:
                premoderation.save_settings(current_user, slug, hold_first_posts=form.hold_first_posts.data or 0,
                                            confidential_words=form.confidential_words.data or "", ip=_ip())
            except ValidationError as exc:
                db.session.rollback()
                apply_errors(form, exc)
            else:
                flash("Moderation settings saved.", "success")
                return redirect(_rules_url(slug))
        return _rules_page(slug, settings_form=form, status=400)
    form = RuleForm()
    if form.validate_on_submit():
        try:
            premoderation.add_rule(current_user, slug, form.pattern.data or "", form.action.data or "",
                                   form.public_message.data or "", is_regex=bool(form.is_regex.data), ip=_ip())
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash("Rule added.", "success")
            return redirect(_rules_url(slug))
    return _rules_page(slug, rule_form=form, status=400)


@bp.route("/moderation/rules", methods=["GET", "POST"])
def global_rules():
    if request.method == "POST":
        return _rules_post(None)
    return _rules_page(None)


@bp.route("/c/<slug>/moderation/rules", methods=["GET", "POST"])
def community_rules(slug: str):
    if request.method == "POST":
        return _rules_post(slug)
    return _rules_page(slug)


@bp.post("/moderation/rules/<int:rule_id>/toggle")
def toggle_rule(rule_id: int):
    if EmptyForm().validate_on_submit():
        rule = premoderation.set_rule_active(current_user, rule_id, request.form.get("active") == "1", ip=_ip())
        flash("Rule switched on." if rule.active else "Rule switched off.", "success")
        if rule.community_id:
            community = access.community_by_id_for(current_user, rule.community_id, "manage").community
            return redirect(_rules_url(community.slug))
    return redirect(_rules_url(None))


# --- the audit log (admins) ---------------------------------------------------------------

@bp.get("/admin/audit")
def audit_log():
    access.require_admin(current_user)
    error = None
    try:
        filters = audit.Filters(actor=request.args.get("actor", "").strip(),
                                action=request.args.get("action", "").strip(),
                                target_type=request.args.get("target_type", "").strip(),
                                since=audit.parse_date(request.args.get("since")),
                                until=audit.parse_date(request.args.get("until")))
    except ValidationError as exc:
        error = exc.message
        filters = audit.Filters()
    result = audit.page(current_user, filters, cursor=request.args.get("cursor"))
    args = {k: v for k, v in request.args.items() if k != "cursor" and v}
    next_url = url_for("moderation.audit_log", cursor=result.next_cursor, **args) if result.next_cursor else None
    return render_template("moderation/audit.html", result=result, lines=audit.describe(current_user, result.rows),
                           filters=filters, error=error,
                           next_url=next_url, args=request.args), 400 if error else 200

