"""Community pages: list, create, show (its posts), about, join/leave/request, members, manage,
topics, covers."""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import BooleanField, EmailField, RadioField, SelectChoice, SelectField, StringField, TextAreaField

from app.errors import ValidationError
from app.extensions import db
from app.models import JoinRequest
from app.services import access
from app.services.community import communities, follows, policy
from app.services.content import posts
from app.views.helpers import KringForm, Required, apply_errors, page_arg, send_upload

bp = Blueprint("communities", __name__)

VISIBILITY_CHOICES = [
    SelectChoice("open", "Open — everyone with an account, customers and partners included"),
    SelectChoice("internal", "Internal — employees only"),
    SelectChoice("private", "Private — members only, by invitation or approved request"),
]


class CommunityForm(KringForm):
    name = StringField("Name", validators=[Required()])
    slug = StringField("Address", validators=[Required()])
    description = TextAreaField("Description")
    visibility = RadioField("Who can see it", choices=VISIBILITY_CHOICES, default="open", validators=[Required()])
    allow_external_experts = BooleanField("Partners may be linked as experts in this community")


class CoverForm(KringForm):
    cover = FileField("Cover image")


class TopicForm(KringForm):
    name = StringField("Name", validators=[Required()])
    description = TextAreaField("Description")


class InviteForm(KringForm):
    email = EmailField("Email address", validators=[Required()])
    kind = SelectField("If they have no account yet, invite them as",
                       choices=[SelectChoice("customer", "Customer"), SelectChoice("partner", "Partner")],
                       validate_choice=False)  # the service checks it; a browser always sends one
    note = TextAreaField("Personal note (optional)")


class RequestForm(KringForm):
    message = TextAreaField("Why would you like to join? (optional)")


@bp.before_request
@login_required
def _signed_in():
    """Every community page needs a signed-in person."""


@bp.get("/communities")
def index():
    q = request.args.get("q", "").strip()
    mine = request.args.get("mine") == "1"
    cards = communities.list_for(current_user, q=q or None, mine=mine)
    return render_template("communities/index.html", cards=cards, q=q, mine=mine,
                           can_create=access.can_create_community(current_user))


@bp.route("/communities/new", methods=["GET", "POST"])
def create():
    if not access.can_create_community(current_user):
        abort(403)
    form = CommunityForm()
    if form.validate_on_submit():
        try:
            community = communities.create(
                current_user, form.name.data, form.description.data, form.visibility.data,
                form.slug.data, allow_external_experts=form.allow_external_experts.data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            flash(f"{community.name} is ready. Add its topics next.", "success")
            return redirect(url_for("communities.manage", slug=community.slug))
    return render_template("communities/form.html", form=form, community=None), 400 if form.errors else 200


@bp.get("/c/<slug>")
def show(slug: str):
    acc = access.community_for(current_user, slug, "discover")
    community = acc.community
    requested = False
    if not acc.can_read:
        requested = db.session.scalar(select(JoinRequest.id).where(
            JoinRequest.community_id == community.id, JoinRequest.user_id == current_user.id,
            JoinRequest.decided_at.is_(None))) is not None
        return render_template("communities/landing.html", acc=acc, requested=requested,
                               member_count=communities.member_count(community), form=RequestForm())
    return _post_list("communities/show.html", acc, topic=None)


def _post_list(template: str, acc, topic):
    """The community page and a topic page: posts with sort, filters and keyset pages."""
    sort = request.args.get("sort", "hot")
    kind = request.args.get("kind") or None
    status = request.args.get("status") or None
    page = posts.community_page(current_user, acc, sort=sort, kind=kind, status=status, topic=topic,
                                cursor=request.args.get("cursor"))
    target = ("topic", topic.id) if topic else ("community", acc.community.id)
    g.live_rooms = [f"community:{acc.community.id}"]  # base.html's socket joins it (read checked above)
    return render_template(template, acc=acc, topic=topic, page=page,
                           sort=sort if sort in posts.SORTS else "hot", kind=kind, status=status,
                           member_count=communities.member_count(acc.community),
                           managers=communities.managers_of(acc.community),
                           following=follows.is_following(current_user, *target))


@bp.post("/c/<slug>/join")
def join(slug: str):
    try:
        communities.join(current_user, slug)
    except ValidationError as exc:
        flash(exc.message, "error")
    else:
        flash("Welcome! You are now a member.", "success")
    return redirect(url_for("communities.show", slug=slug))


@bp.post("/c/<slug>/leave")
def leave(slug: str):
    try:
        communities.leave(current_user, slug)
    except ValidationError as exc:
        flash(exc.message, "error")
    else:
        flash("You left the community.", "success")
    return redirect(url_for("communities.index"))


@bp.post("/c/<slug>/request")
def request_to_join(slug: str):
    form = RequestForm()
    if form.validate_on_submit():
        try:
            communities.request_to_join(current_user, slug, form.message.data or "")
        except ValidationError as exc:
            flash(exc.message, "error")
        else:
            flash("Your request was sent to the community's managers.", "success")
    return redirect(url_for("communities.show", slug=slug))


@bp.get("/c/<slug>/about")
def about(slug: str):
    """What the community is for and who runs it: description, guidelines, managers, experts,
    topics."""
    acc = access.community_for(current_user, slug, "read")
    return render_template("communities/about.html", acc=acc,
                           member_count=communities.member_count(acc.community),
                           managers=communities.managers_of(acc.community),
                           guidelines=policy.current(acc.community.id))


@bp.get("/c/<slug>/members")
def members(slug: str):
    acc = access.community_for(current_user, slug, "read")
    page = page_arg()
    q = request.args.get("q", "").strip()
    rows, total = communities.members_page(acc.community, page=page, q=q or None)
    return render_template("communities/members.html", acc=acc, rows=rows, total=total,
                           page=page, per_page=30, q=q)


@bp.get("/c/<slug>/cover/<key>")
def cover(slug: str, key: str):
    acc = access.community_for(current_user, slug, "discover")
    stored = acc.community.cover_key
    if not stored or stored.rsplit("/", 1)[-1] != key:
        abort(404)
    return send_upload(stored)


# --- managing -----------------------------------------------------------------------------

@bp.route("/c/<slug>/manage", methods=["GET", "POST"])
def manage(slug: str):
    acc = access.community_for(current_user, slug, "manage")
    community = acc.community
    form = CommunityForm(obj=community)
    if request.method == "GET":
        form.visibility.data = community.visibility.value
    if form.validate_on_submit():
        try:
            community = communities.update(
                current_user, slug, name=form.name.data, description=form.description.data,
                visibility=form.visibility.data, new_slug=form.slug.data,
                allow_external_experts=form.allow_external_experts.data)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash("Settings saved.", "success")
            return redirect(url_for("communities.manage", slug=community.slug))
    status = 400 if form.errors or form.form_errors else 200
    return render_template("communities/manage.html", acc=access.community_for(current_user, slug, "manage"),
                           form=form, cover_form=CoverForm(), topic_form=TopicForm()), status


@bp.post("/c/<slug>/manage/cover")
def upload_cover(slug: str):
    access.community_for(current_user, slug, "manage")
    form = CoverForm()
    if form.validate_on_submit():
        data = form.cover.data.read() if form.cover.data else b""
        try:
            communities.set_cover(current_user, slug, data)
        except ValidationError as exc:
            flash(exc.message, "error")
        else:
            flash("Cover image updated.", "success")
    return redirect(url_for("communities.manage", slug=slug))


def _invite_form(community) -> InviteForm:
    """The add-or-invite form; an internal community invites nobody new, so it has no kind."""
    form = InviteForm()
    if community.visibility.value == "internal":
        del form.kind
    return form


def _manage_members_page(acc, invite_form: InviteForm, status: int = 200):
    page = page_arg()
    q = request.args.get("q", "").strip()
    rows, total = communities.members_page(acc.community, page=page, q=q or None)
    return render_template("communities/manage_members.html", acc=acc, rows=rows, total=total,
                           page=page, per_page=30, q=q, requests=communities.pending_requests(acc.community),
                           invite_form=invite_form), status


@bp.route("/c/<slug>/manage/members", methods=["GET"])
def manage_members(slug: str):
    acc = access.community_for(current_user, slug, "manage")
    return _manage_members_page(acc, _invite_form(acc.community))


@bp.post("/c/<slug>/manage/members/<int:user_id>/role")
def set_role(slug: str, user_id: int):
    try:
        communities.set_role(current_user, slug, user_id, request.form.get("role", ""), ip=request.remote_addr)
    except ValidationError as exc:
        flash(exc.message, "error")
    else:
        flash("Role changed.", "success")
    return redirect(url_for("communities.manage_members", slug=slug))


@bp.post("/c/<slug>/manage/members/<int:user_id>/remove")
def remove_member(slug: str, user_id: int):
    try:
        communities.remove_member(current_user, slug, user_id, ip=request.remote_addr)
    except ValidationError as exc:
        flash(exc.message, "error")
    else:
        flash("Member removed. Their posts stay.", "success")
    return redirect(url_for("communities.manage_members", slug=slug))


@bp.post("/c/<slug>/manage/requests/<int:request_id>")
def decide_request(slug: str, request_id: int):
    decision = request.form.get("decision")
    if decision not in {"approve", "decline"}:
        abort(400)
    try:
        communities.decide_request(current_user, slug, request_id, decision == "approve")
    except ValidationError as exc:
        flash(exc.message, "error")
    else:
        flash("Request approved." if decision == "approve" else "Request declined.", "success")
    return redirect(url_for("communities.manage_members", slug=slug))


@bp.post("/c/<slug>/manage/invite")
def invite(slug: str):
    """Add an existing person by email, or send a customer/partner an invitation link. Bad
    input comes back as the members page with the form's errors (400)."""
    acc = access.community_for(current_user, slug, "manage")
    form = _invite_form(acc.community)
    if form.validate_on_submit():
        try:
            done = communities.add_or_invite(current_user, slug, form.email.data or "",
                                             (form.kind.data or "customer") if "kind" in form else None,
                                             form.note.data or "", ip=request.remote_addr)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            if done.person is not None:
                flash(f"{done.person.display_name} is now a member.", "success")
            else:
                flash(f"Invitation sent to {done.email}. It works once, for 14 days.", "success")
            return redirect(url_for("communities.manage_members", slug=acc.community.slug))
    return _manage_members_page(acc, form, 400)


# --- topics -------------------------------------------------------------------------------

@bp.post("/c/<slug>/topics")
def create_topic(slug: str):
    form = TopicForm()
    if form.validate_on_submit():
        try:
            topic = communities.create_topic(current_user, slug, form.name.data, form.description.data)
        except ValidationError as exc:
            flash(exc.message, "error")
        else:
            flash(f"Topic {topic.name} added.", "success")
    return redirect(url_for("communities.manage", slug=slug) + "#topics")


@bp.get("/c/<slug>/t/<topic_slug>")
def topic(slug: str, topic_slug: str):
    acc, topic = communities.topic_for(current_user, slug, topic_slug)
    return _post_list("communities/topic.html", acc, topic)


@bp.route("/c/<slug>/t/<topic_slug>/edit", methods=["GET", "POST"])
def edit_topic(slug: str, topic_slug: str):
    acc, topic = communities.topic_for(current_user, slug, topic_slug, "manage")
    form = TopicForm(obj=topic)
    if form.validate_on_submit():
        try:
            topic = communities.update_topic(current_user, slug, topic_slug, form.name.data, form.description.data)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash("Topic saved.", "success")
            return redirect(url_for("communities.manage", slug=slug) + "#topics")
    return render_template("communities/topic_form.html", acc=acc, topic=topic, form=form), \
        400 if form.errors or form.form_errors else 200


@bp.post("/c/<slug>/t/<topic_slug>/delete")
def delete_topic(slug: str, topic_slug: str):
    communities.delete_topic(current_user, slug, topic_slug)
    flash("Topic deleted.", "success")
    return redirect(url_for("communities.manage", slug=slug) + "#topics")
