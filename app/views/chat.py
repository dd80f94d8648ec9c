"""The live discussion channel pages (they work without JavaScript: history pages with
older/newer links and plain POST forms; app/static/js/live.js makes them live), a thread page,
editing, deleting and promoting a message, the jump from a chat mention notification, and the
server-rendered comment list the post page fetches when comments change live.

Also the page side of live connections: `live_rooms()` for base.html (which rooms the page's
socket joins), and the browser's live-session token (`_live` in the session), whose sign-out
disconnects exactly that browser's sockets in every server process.
"""
from __future__ import annotations

import secrets

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, user_logged_out
from wtforms import HiddenField, RadioField, SelectChoice, SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import CheckboxInput, ListWidget

from app import events, inputs
from app.errors import Forbidden, NotFound, ValidationError
from app.events import SESSION_TOKEN
from app.extensions import db
from app.models import PostKind
from app.services import access, chat
from app.services.content import ideas
from app.views.helpers import KringForm, Required, apply_errors
from app.views.posts import post_view

bp = Blueprint("chat", __name__)


# --- the page side of live connections ----------------------------------------------------

@bp.before_app_request
def _live_session_token():
    """Give each signed-in browser a token, so its sign-out can end exactly its sockets."""
    if request.endpoint == "static":
        return
    if session.get("_user_id") and not session.get(SESSION_TOKEN):
        session[SESSION_TOKEN] = secrets.token_urlsafe(16)
    g.live_session_token = session.get(SESSION_TOKEN)


def _signed_out(sender, user=None, **_extra):
    events.browser_signed_out(g.get("live_session_token"))


user_logged_out.connect(_signed_out)


@bp.get("/socket.io/", endpoint="socketio_path", strict_slashes=False)
def _socketio_path():
    """Never reached: the Socket.IO middleware answers /socket.io/ before Flask. The rule lets
    the request context Flask-SocketIO builds for every socket event match a URL instead of
    raising (and keeping) a NotFound with its traceback, garbage that cost a collector pause."""
    abort(404)


@bp.app_context_processor
def _live_rooms():
    """`live_rooms()` for base.html: the rooms this page's socket asks to join."""

    def live_rooms() -> list[str]:
        if "live_rooms" in g:
            return g.live_rooms
        # Pages that show a room set g.live_rooms after their own access check (the community
        # and topic pages); a post page's room is its id (the socket's join is checked again).
        rooms: list[str] = []
        args = request.view_args or {}
        if request.endpoint == "posts.show" and "post_id" in args:
            rooms = [f"post:{args['post_id']}"]
        g.live_rooms = rooms
        return rooms

    return {"live_rooms": live_rooms}


# --- forms --------------------------------------------------------------------------------

class MessageForm(KringForm):
    body = TextAreaField("Message", validators=[Required()])
    key = HiddenField()
    parent_id = HiddenField()


class EditForm(KringForm):
    body = TextAreaField("Message", validators=[Required()])


class DeleteForm(KringForm):
    """Only the CSRF token."""


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class PromoteForm(KringForm):
    kind = RadioField("Turn it into", choices=[
        SelectChoice("discussion", "Discussion — keep the conversation going where everyone finds it"),
        SelectChoice("idea", "Idea — people vote and the organisation answers"),
        SelectChoice("question", "Question — an answer can be accepted"),
    ], default="discussion", validators=[Required()])
    title = StringField("Title", validators=[Required()])
    body = TextAreaField("Text")
    topics = MultiCheckboxField("Topics", coerce=str, validate_choice=False)


def _new_key() -> str:
    return secrets.token_urlsafe(16)


@bp.before_request
@login_required
def _signed_in():
    """Every channel page needs a signed-in person."""


def _message_in(acc, message_id: int):
    """The message (with access) when it belongs to this community; NotFound otherwise."""
    macc, message = access.chat_message_for(current_user, message_id)
    if message.community_id != acc.community.id:
        raise NotFound("No such message.")
    return macc, message


def _channel_context(acc, page, form, status_code: int = 200):
    room = f"community:{acc.community.id}"
    g.live_rooms = []  # the chat page's own script joins the channel (with its last id)
    try:
        here = events.presence_of(room)
    except Exception:  # noqa: BLE001 - Redis away: the page still works
        here = {"count": 0, "people": []}
    return render_template("chat/channel.html", acc=acc, page=page, form=form, room=room, here=here,
                           last_id=chat.latest_id(acc.community.id) if page.newer is None else page.last_id,
                           body_max=chat.BODY_MAX), status_code


# --- the channel --------------------------------------------------------------------------

@bp.get("/c/<slug>/chat")
def channel(slug: str):
    page = chat.history(current_user, slug, before=request.args.get("before"), after=request.args.get("after"))
    form = MessageForm(key=_new_key())
    return _channel_context(page.acc, page, form)


@bp.post("/c/<slug>/chat")
def send(slug: str):
    acc = access.community_for(current_user, slug, "read")
    form = MessageForm()
    if form.validate_on_submit():
        try:
            message, _created = chat.post(current_user, acc.community.id, form.body.data,
                                          parent_id=form.parent_id.data or None, client_key=form.key.data or None)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            if message.parent_id:
                return redirect(url_for("chat.thread", slug=slug, message_id=message.parent_id, _anchor=f"m{message.id}"))
            return redirect(url_for("chat.channel", slug=slug, _anchor=f"m{message.id}"))
    if form.parent_id.data:
        try:
            found = chat.thread(current_user, inputs.id_or_none(form.parent_id.data))
        except NotFound:
            found = None
        if found is not None and found.root.community_id == acc.community.id:
            return _thread_page(acc, found, form, 400)
    page = chat.history(current_user, slug)
    return _channel_context(acc, page, form, 400)


# --- threads ------------------------------------------------------------------------------

def _thread_page(acc, found, form, status_code: int = 200):
    g.live_rooms = []
    return render_template("chat/thread.html", acc=acc, root=found.root, replies=found.replies, form=form,
                           room=f"community:{acc.community.id}", last_id=chat.latest_id(acc.community.id),
                           body_max=chat.BODY_MAX), status_code


@bp.get("/c/<slug>/chat/<int:message_id>")
def thread(slug: str, message_id: int):
    acc = access.community_for(current_user, slug, "read")
    _message_in(acc, message_id)
    found = chat.thread(current_user, message_id)
    if found.root.id != message_id:
        return redirect(url_for("chat.thread", slug=slug, message_id=found.root.id, _anchor=f"m{message_id}"))
    form = MessageForm(key=_new_key(), parent_id=str(found.root.id))
    return _thread_page(acc, found, form)


def _back_to(acc, message) -> str:
    if message.parent_id:
        return url_for("chat.thread", slug=acc.community.slug, message_id=message.parent_id, _anchor=f"m{message.id}")
    return url_for("chat.channel", slug=acc.community.slug, before=message.id + 1, _anchor=f"m{message.id}")


# --- editing, deleting, promoting ---------------------------------------------------------

@bp.route("/c/<slug>/chat/<int:message_id>/edit", methods=["GET", "POST"])
def edit(slug: str, message_id: int):
    acc = access.community_for(current_user, slug, "read")
    macc, message = _message_in(acc, message_id)
    if not access.may_edit_chat_message(current_user, message):
        raise Forbidden("You can edit only your own messages that are not deleted.")
    form = EditForm(body=message.body) if request.method == "GET" else EditForm()
    if form.validate_on_submit():
        try:
            chat.edit(current_user, message_id, form.body.data)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash("Your message was changed.", "success")
            return redirect(_back_to(acc, message))
    status = 400 if (form.errors or form.form_errors) else 200
    return render_template("chat/edit.html", acc=acc, message=message, form=form, back=_back_to(acc, message),
                           body_max=chat.BODY_MAX), status


@bp.post("/c/<slug>/chat/<int:message_id>/delete")
def delete(slug: str, message_id: int):
    acc = access.community_for(current_user, slug, "read")
    _macc, message = _message_in(acc, message_id)
    form = DeleteForm()
    if not form.validate_on_submit():
        flash("Your form expired. Try again.", "error")
        return redirect(_back_to(acc, message))
    try:
        chat.delete(current_user, message_id)
    except ValidationError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash("The message was deleted.", "success")
    return redirect(_back_to(acc, message))


@bp.route("/c/<slug>/chat/<int:message_id>/promote", methods=["GET", "POST"])
def promote(slug: str, message_id: int):
    acc = access.community_for(current_user, slug, "read")
    macc, message = _message_in(acc, message_id)
    if not access.may_promote_chat_message(current_user, macc, message):
        raise Forbidden("Only the author and the community's moderators can turn this message into a post.")
    form = PromoteForm()
    form.topics.choices = [SelectChoice(str(t.id), t.name) for t in acc.community.topics]
    if request.method == "GET":
        title, body = chat.promote_defaults(message, acc.community)
        form.title.data, form.body.data = title, body
        if request.args.get("kind") in {"discussion", "idea", "question"}:
            form.kind.data = request.args["kind"]
    if form.validate_on_submit():
        try:
            post = chat.promote(current_user, message_id, form.kind.data, form.title.data, form.body.data,
                                form.topics.data)
        except ValidationError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash("The message is now a post; the channel links to it.", "success")
            return redirect(url_for("posts.show", post_id=post.id))
    status = 400 if (form.errors or form.form_errors) else 200
    return render_template("chat/promote.html", acc=acc, message=message, form=form,
                           back=_back_to(acc, message)), status


# --- jumps and fragments ------------------------------------------------------------------

@bp.get("/chat/mentions/<int:notification_id>")
def mention(notification_id: int):
    """Where a "chat_mention" notification leads: the message in its channel or thread."""
    message = chat.mention_target(current_user, notification_id)
    acc = access.community_by_id_for(current_user, message.community_id, "read")
    return redirect(_back_to(acc, message))


@bp.get("/live/p/<int:post_id>/comments")
def comments_fragment(post_id: int):
    """The post's comment section as the viewer sees it (live.js takes the comments that
    changed from it, so live inserts are server-rendered and sanitised)."""
    pacc = access.post_for(current_user, post_id, "read")
    html = render_template("posts/_comments.html", pacc=pacc, **post_view(current_user, pacc))
    response = current_app.response_class(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/live/p/<int:post_id>/idea")
def idea_fragment(post_id: int):
    """The idea's vote box as the viewer sees it (count, their vote, and the voter breakdown
    when they may see voters): live.js puts it in place after an `idea.voted`."""
    pacc = access.post_for(current_user, post_id, "read")
    if pacc.post.kind != PostKind.IDEA:
        raise NotFound("No such idea.")
    html = render_template("posts/_idea.html", idea=ideas.panel(current_user, pacc))
    response = current_app.response_class(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response
