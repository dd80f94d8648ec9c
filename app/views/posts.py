"""Post pages: write (with preview), read, edit, delete/restore, earlier versions."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, RadioField, SelectChoice, SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import CheckboxInput, ListWidget

from app.errors import ValidationError
from app.extensions import db
from app.models import IdeaStatus, PostKind
from app.services import access, moderation
from app.services.community import follows, policy
from app.services.content import asks, attachments, comments, ideas, posts
from app.services.experts import experts
from app.services.platform import markup
from app.views.helpers import KringForm, Required, apply_errors, hold_uploads, pending_uploads, previewing, rate_limited

bp = Blueprint("posts", __name__)

KIND_CHOICES = [
    SelectChoice("idea", "Idea — propose something; people vote and the organisation answers"),
    SelectChoice("question", "Question — ask; an answer can be accepted"),
    SelectChoice("discussion", "Discussion — share news or knowledge, start a conversation"),
]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class PostForm(KringForm):
    kind = RadioField("What are you posting?", choices=KIND_CHOICES, default="discussion", validators=[Required()])
    title = StringField("Title", validators=[Required()])
    body = TextAreaField("Text")
    topics = MultiCheckboxField("Topics", coerce=str, validate_choice=False)
    files = MultipleFileField("Images or videos (optional)")
    reason = StringField("Reason for the edit (shown to the author)")
    accept_guidelines = BooleanField("I have read and accept the guidelines")
    confirm_sensitive = BooleanField("I checked it: post it as it is")  # pre-moderation data warning


def _topic_choices(community) -> list[SelectChoice]:
    return [SelectChoice(str(t.id), t.name) for t in community.topics]


def _files(form: PostForm) -> list:
    return [f for f in (form.files.data or []) if getattr(f, "filename", "")]


def _keep_files(form: PostForm) -> list:
    """The form is shown again: its files stay attached as pending uploads (hold_uploads)."""
    held, exc = hold_uploads(_files(form))
    if exc is not None and exc.errors.get("files") not in form.files.errors:
        apply_errors(form, exc)
    return held


@bp.before_request
@login_required
def _signed_in():
    """Every post page needs a signed-in person."""


@bp.route("/c/<slug>/new", methods=["GET", "POST"])
@rate_limited("KRING_RATE_POST", exempt_when=previewing)  # a preview stores nothing
def create(slug: str):
    acc = access.community_for(current_user, slug, "read")
    form = PostForm()
    form.topics.choices = _topic_choices(acc.community)
    if request.method == "GET":
        if request.args.get("kind") in {k.value for k in PostKind}:
            form.kind.data = request.args["kind"]
        if request.args.get("topic"):
            form.topics.data = [request.args["topic"]]
        if request.args.get("title"):
            form.title.data = request.args["title"][:200]
    preview = None
    if form.validate_on_submit():
        if "preview" in request.form:
            preview = markup.to_html(form.body.data, embeds=True)
        else:
            try:
                post = posts.create(current_user, slug, form.kind.data, form.title.data, form.body.data,
                                    form.topics.data, files=_files(form), pending=pending_uploads(),
                                    confirm_sensitive=bool(form.confirm_sensitive.data),
                                    accept_guidelines=bool(form.accept_guidelines.data))
            except ValidationError as exc:
                db.session.rollback()
                apply_errors(form, exc)
            else:
                flash("Thank you: your post waits for a moderator's review before others see it."
                      if post.held_at else "Posted.", "success")
                return redirect(url_for("posts.show", post_id=post.id))
    held = _keep_files(form) if request.method == "POST" else []
    status = 400 if (form.errors or form.form_errors) else 200
    return render_template("posts/form.html", acc=acc, form=form, post=None, preview=preview, held=held,
                           guidelines=policy.pending_for(current_user, acc.community.id)), status


@bp.get("/p/<int:post_id>")
def show(post_id: int):
    viewer = current_user._get_current_object()  # the page asks who is viewing hundreds of times
    pacc = access.post_for(viewer, post_id, "read")
    post = pacc.post
    if post.status == IdeaStatus.DUPLICATE and post.duplicate_of_id and not pacc.can_moderate:
        flash("This idea was merged into another one; its votes and followers moved there.", "info")
        return redirect(url_for("posts.show", post_id=post.duplicate_of_id), 301)
    html = render_template("posts/show.html", pacc=pacc, **post_view(viewer, pacc))
    posts.mark_read(viewer, post_id)  # queued, not written: a page view takes no write lock
    return html


def post_view(viewer, pacc: access.PostAccess) -> dict:
    """Everything the post page shows besides the post itself, in a constant number of queries.
    Features add their parts here (comments, idea status, attachments, follow state)."""
    post = pacc.post
    badges = experts.badges_for_post(post)  # who is an expert of the post's topics
    return {
        "thread": comments.thread(viewer, pacc),
        "idea": ideas.panel(viewer, pacc) if post.kind == PostKind.IDEA else None,
        "files": attachments.for_post(post),
        "following": follows.is_following(viewer, "post", post.id),
        "experts": badges,
        "notes": moderation.notes_for(viewer, pacc),  # internal notes: None unless the viewer is staff here
        "asked": asks.asked_on(viewer, post),  # who was asked to answer, and who did
        "ask_open": asks.takes_answers(post),  # the ask form and buttons
        "ask_suggestions": asks.suggestions(viewer, post, badges),  # experts of its topics, one click
    }


@bp.route("/p/<int:post_id>/edit", methods=["GET", "POST"])
def edit(post_id: int):
    pacc = access.post_for(current_user, post_id, "edit")
    post = pacc.post
    form = PostForm(obj=post)
    form.topics.choices = _topic_choices(pacc.community.community)
    if request.method == "GET":
        form.topics.data = [str(t.id) for t in post.topics]
        form.kind.data = post.kind.value
    preview = None
    if form.validate_on_submit():
        if "preview" in request.form:
            preview = markup.to_html(form.body.data, embeds=True)
        else:
            try:
                posts.edit(current_user, post_id, form.title.data, form.body.data, form.topics.data,
                           form.reason.data or "", files=_files(form), pending=pending_uploads())
            except ValidationError as exc:
                db.session.rollback()
                apply_errors(form, exc)
            else:
                flash("Saved. The earlier version is kept.", "success")
                return redirect(url_for("posts.show", post_id=post_id))
    held = _keep_files(form) if request.method == "POST" else []
    status = 400 if (form.errors or form.form_errors) else 200
    return render_template("posts/form.html", acc=pacc.community, form=form, post=post, pacc=pacc, held=held,
                           preview=preview, files=attachments.for_post(post)), status


@bp.post("/p/<int:post_id>/delete")
def delete(post_id: int):
    post = posts.delete(current_user, post_id)
    flash("The post was deleted. Moderators can restore it.", "success")
    return redirect(url_for("communities.show", slug=post.community.slug))


@bp.post("/p/<int:post_id>/restore")
def restore(post_id: int):
    posts.restore(current_user, post_id)
    flash("The post was restored.", "success")
    return redirect(url_for("posts.show", post_id=post_id))


@bp.post("/p/<int:post_id>/ask")
@rate_limited("KRING_RATE_ASK")
def ask(post_id: int):
    """Ask someone to answer; a mistake re-renders the post page with the name kept."""
    handle = request.form.get("person", "")
    try:
        request_ = asks.ask(current_user, post_id, handle)
    except ValidationError as exc:
        db.session.rollback()
        if "person" not in exc.errors:  # about the post (locked, hidden): the page shows no form
            flash(exc.message, "error")
            return redirect(url_for("posts.show", post_id=post_id))
        viewer = current_user._get_current_object()
        pacc = access.post_for(viewer, post_id, "read")
        return render_template("posts/show.html", pacc=pacc, ask_error=exc.errors["person"], ask_value=handle,
                               **post_view(viewer, pacc)), 400
    flash(f"You asked {request_.person.display_name} to answer.", "success")
    return redirect(url_for("posts.show", post_id=post_id, _anchor="asked"))


@bp.get("/p/<int:post_id>/revisions")
def revisions(post_id: int):
    pacc, rows = posts.revisions(current_user, post_id)
    return render_template("posts/revisions.html", pacc=pacc, post=pacc.post, revisions=rows)


@bp.get("/feed")
def feed():
    """The home feed as its own page (the start page shows its first page too)."""
    page = posts.home_feed(current_user, cursor=request.args.get("cursor"))
    return render_template("posts/feed.html", page=page)
