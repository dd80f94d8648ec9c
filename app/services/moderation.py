"""Moderation: reports, the moderation queue, moderators' actions and internal notes.

- Whoever may read a post, comment or chat message reports it with a category and a text; one
  open report per person per target. The reporter is told that it arrived.
- Moderators of the community (and the social team, everywhere) work the queue: open reports
  grouped by target, and posts and comments held by pre-moderation.
- Actions, each with a stated reason, each in the audit log, none deleting anything and each
  undone by its opposite: hide/restore (post, comment, chat message), lock/unlock (post: no new
  comments), move (post, to another community the moderator moderates), edit (post or comment,
  keeps a Revision with the reason), approve/reject (held content; reject hides it), dismiss
  (the open reports), warn (a notification to the author), suspend until a date, ban, lift
  (ends a suspension or ban). Suspensions and bans are for the social team and admins; only
  admins sanction staff accounts.
- Internal notes on posts: for the post's staff (access.is_post_staff).

Over 500 lines: the queue, every action and its audit/notify/live follow-ups form one use-case set.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, true, update
from sqlalchemy.orm import joinedload

from app import clock, events
from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import (
    AuditEntry,
    ChatMessage,
    Comment,
    Community,
    InternalNote,
    Post,
    Report,
    Revision,
    User,
)
from app.models.moderation import REPORT_CATEGORIES, TARGET_TYPES
from app.services import access, chat, notifications
from app.services.content import fanout
from app.services.content.comments import bump_count, clean_body
from app.services.content.posts import clean_fields
from app.services.people import accounts
from app.services.platform import audit, markup

REASON_MAX = 500
TEXT_MAX = 2000
NOTE_MAX = 5000
QUEUE_LIMIT = 200

ACTIONS = {
    "post": ("hide", "restore", "lock", "unlock", "move", "edit", "approve", "reject", "dismiss", "warn",
             "suspend", "ban", "lift"),
    "comment": ("hide", "restore", "edit", "approve", "reject", "dismiss", "warn", "suspend", "ban", "lift"),
    "chat": ("hide", "restore", "dismiss", "warn", "suspend", "ban", "lift"),
}
ACCOUNT_ACTIONS = {"suspend", "ban", "lift"}
RESOLVES = {"hide", "lock", "move", "edit", "reject", "warn", "suspend", "ban"}


# --- targets ------------------------------------------------------------------------------

@dataclass
class Target:
    """Something that can be reported and moderated, as one viewer may see it."""

    type: str
    obj: object  # Post | Comment | ChatMessage
    community: Community
    post: Post | None  # the post (itself, or the comment's)
    can_moderate: bool

    @property
    def id(self) -> int:
        return self.obj.id

    @property
    def author_id(self) -> int | None:
        return self.obj.author_id

    @property
    def author(self) -> User | None:
        return self.obj.author

    @property
    def hidden(self) -> bool:
        return self.obj.hidden_at is not None

    @property
    def held(self) -> bool:
        return getattr(self.obj, "held_at", None) is not None

    @property
    def locked(self) -> bool:
        return getattr(self.obj, "locked_at", None) is not None

    @property
    def label(self) -> str:
        return {"post": "post", "comment": "comment", "chat": "chat message"}[self.type]

    @property
    def title(self) -> str:
        if self.type == "post":
            return self.obj.title
        if self.type == "comment":
            return f"Comment on “{self.post.title}”"
        return f"Chat message in {self.community.name}"

    @property
    def actions(self) -> tuple[str, ...]:
        return ACTIONS[self.type]


def target_for(viewer, target_type: str, target_id) -> Target:
    """Fetch a target the viewer may read. NotFound otherwise (also for an unknown type)."""
    if target_type not in TARGET_TYPES or not isinstance(target_id, int):
        raise NotFound("No such thing to report.")
    if target_type == "post":
        pacc = access.post_for(viewer, target_id, "read")
        if pacc.post.deleted_at is not None and not pacc.can_moderate:
            raise NotFound("No such post.")
        return Target("post", pacc.post, pacc.community.community, pacc.post, pacc.can_moderate)
    if target_type == "comment":
        pacc, comment = access.comment_for(viewer, target_id)
        if not access.can_see_comment(pacc, comment, viewer) or (
                comment.deleted_at is not None and not pacc.can_moderate):
            raise NotFound("No such comment.")
        return Target("comment", comment, pacc.community.community, pacc.post, pacc.can_moderate)
    acc, message = access.chat_message_for(viewer, target_id)
    if (message.deleted_at is not None or message.hidden_at is not None) and not acc.can_moderate:
        raise NotFound("No such message.")
    return Target("chat", message, acc.community, None, acc.can_moderate)


def moderate_target(actor, target_type: str, target_id) -> Target:
    """target_for, and Forbidden when the actor may not moderate it."""
    target = target_for(actor, target_type, target_id)
    if not target.can_moderate:
        raise Forbidden("Only the community's moderators can do this.")
    return target


# --- reports ------------------------------------------------------------------------------

def report(reporter, target_type: str, target_id, category: str, text: str = "") -> Report:
    """Report something the reporter may read. Returns the report. Raises NotFound,
    ValidationError (category, text, an open report of theirs on the same target)."""
    target = target_for(reporter, target_type, target_id)
    text = (text or "").replace("\r\n", "\n").strip()
    errors = {}
    if category not in REPORT_CATEGORIES:
        errors["category"] = "Choose what is wrong."
    if len(text) > TEXT_MAX:
        errors["text"] = f"Use at most {TEXT_MAX:,} characters."
    elif category == "other" and not text:
        errors["text"] = "Say what is wrong."
    if errors:
        raise ValidationError(errors)
    if target.author_id == reporter.id:
        raise ValidationError({"_": "You cannot report what you wrote yourself; edit or delete it instead."})
    if db.session.scalar(select(Report.id).where(
            Report.reporter_id == reporter.id, Report.target_type == target_type,
            Report.target_id == target.id, Report.status == "open")):
        raise ValidationError({"_": "You already reported this. The moderators will look at it."})
    row = Report(reporter_id=reporter.id, target_type=target_type, target_id=target.id,
                 community_id=target.community.id, category=category, text=text, status="open",
                 created_at=clock.utcnow())
    db.session.add(row)
    db.session.flush()

    notifications.create("moderation", [reporter.id], actor_id=None, community=target.community,
                         text=f"Thank you: your report of a {target.label} in {target.community.name} "
                              "arrived. The moderators will look at it.")
    db.session.commit()
    return row


def _resolve_reports(actor, target: Target, status: str, resolution: str) -> int:
    now = clock.utcnow()
    return db.session.execute(
        update(Report).where(Report.target_type == target.type, Report.target_id == target.id,
                             Report.status == "open")
        .values(status=status, resolved_at=now, resolved_by_id=actor.id, resolution=resolution[:500])
        .execution_options(synchronize_session=False)).rowcount


# --- the queue ----------------------------------------------------------------------------

@dataclass
class QueueItem:
    target: Target
    reports: list[Report] = field(default_factory=list)

    @property
    def categories(self) -> list[str]:
        seen = []
        for r in self.reports:
            if r.category_label not in seen:
                seen.append(r.category_label)
        return seen


@dataclass
class Queue:
    reported: list[QueueItem]
    held: list[QueueItem]
    communities: list[Community]

    @property
    def empty(self) -> bool:
        return not self.reported and not self.held


def _load(model, ids):
    if not ids:
        return {}
    opts = [joinedload(model.author)]
    return {o.id: o for o in db.session.scalars(select(model).options(*opts).where(model.id.in_(ids))).unique()}


def queue(viewer, *, community_slug: str | None = None) -> Queue:
    """Open reports grouped by target (most reported first, then oldest), and held posts and
    comments, in the communities the viewer moderates (all for the social team). Forbidden for
    people who moderate nothing."""
    ids = access.moderated_community_ids(viewer)
    if ids is not None and not ids:
        raise Forbidden("Only moderators can see the moderation queue.")
    if community_slug:
        acc = access.community_for(viewer, community_slug, "moderate")
        ids = {acc.community.id}
    in_scope = (lambda col: col.in_(ids)) if ids is not None else (lambda col: true())
    reports = list(db.session.scalars(
        select(Report).options(joinedload(Report.reporter))
        .where(Report.status == "open", in_scope(Report.community_id)).order_by(Report.id).limit(QUEUE_LIMIT * 5)))
    grouped: dict[tuple[str, int], list[Report]] = {}
    for r in reports:
        grouped.setdefault((r.target_type, r.target_id), []).append(r)
    posts = _load(Post, {i for t, i in grouped if t == "post"})
    comments_ = _load(Comment, {i for t, i in grouped if t == "comment"})
    chats = _load(ChatMessage, {i for t, i in grouped if t == "chat"})
    held_posts = list(db.session.scalars(
        select(Post).options(joinedload(Post.author)).where(
            Post.held_at.is_not(None), Post.deleted_at.is_(None), Post.hidden_at.is_(None),
            in_scope(Post.community_id)).order_by(Post.held_at).limit(QUEUE_LIMIT)).unique())
    held_comments = list(db.session.scalars(
        select(Comment).options(joinedload(Comment.author)).join(Post, Post.id == Comment.post_id).where(
            Comment.held_at.is_not(None), Comment.deleted_at.is_(None), Comment.hidden_at.is_(None),
            in_scope(Post.community_id)).order_by(Comment.held_at).limit(QUEUE_LIMIT)).unique())
    comment_posts = _load(Post, {c.post_id for c in list(comments_.values()) + held_comments})
    community_ids = ({p.community_id for p in posts.values()} | {p.community_id for p in held_posts}
                     | {p.community_id for p in comment_posts.values()} | {m.community_id for m in chats.values()})
    communities = {c.id: c for c in db.session.scalars(select(Community).where(Community.id.in_(community_ids)))} \
        if community_ids else {}

    def make(kind: str, obj) -> Target | None:
        if obj is None:
            return None
        if kind == "post":
            return Target("post", obj, communities[obj.community_id], obj, True)
        if kind == "comment":
            post = comment_posts.get(obj.post_id)
            return Target("comment", obj, communities[post.community_id], post, True) if post else None
        return Target("chat", obj, communities[obj.community_id], None, True)

    source = {"post": posts, "comment": comments_, "chat": chats}
    reported = []
    for (kind, target_id), rows in grouped.items():
        target = make(kind, source[kind].get(target_id))
        if target is not None:
            reported.append(QueueItem(target, rows))
    reported.sort(key=lambda it: (-len(it.reports), it.reports[0].id))
    held = [QueueItem(t) for t in (make("post", p) for p in held_posts) if t]
    held += [QueueItem(t) for t in (make("comment", c) for c in held_comments) if t]
    scope = list(db.session.scalars(select(Community).where(
        Community.id.in_(access.moderated_community_ids(viewer) or set())).order_by(Community.name))) \
        if access.moderated_community_ids(viewer) is not None else []
    return Queue(reported[:QUEUE_LIMIT], held, scope)


def open_reports(viewer, target: Target) -> list[Report]:
    """The target's open reports (with their reporters loaded), oldest first: for its moderators,
    empty for anyone else. Raises nothing."""
    if not target.can_moderate:
        return []
    return list(db.session.scalars(select(Report).options(joinedload(Report.reporter)).where(
        Report.target_type == target.type, Report.target_id == target.id, Report.status == "open")
        .order_by(Report.id)))


def history(viewer, target: Target, limit: int = 50) -> list[AuditEntry]:
    """The moderation history of a target (audit entries), newest first: for its moderators."""
    if not target.can_moderate:
        return []
    kind = {"post": "post", "comment": "comment", "chat": "chat_message"}[target.type]
    return list(db.session.scalars(select(AuditEntry).options(joinedload(AuditEntry.actor)).where(
        AuditEntry.target_type == kind, AuditEntry.target_id == target.id)
        .order_by(AuditEntry.id.desc()).limit(limit)).unique())


# --- actions ------------------------------------------------------------------------------

def _clean_reason(reason: str | None, required: bool = True) -> str:
    reason = " ".join((reason or "").split())
    if required and not reason:
        raise ValidationError({"reason": "State a reason: it is kept in the audit log."})
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": f"Use at most {REASON_MAX} characters."})
    return reason


def _audit_type(target: Target) -> str:
    return {"post": "post", "comment": "comment", "chat": "chat_message"}[target.type]


def _state(target: Target) -> dict:
    o = target.obj
    state = {"hidden": o.hidden_at is not None}
    if target.type in ("post", "comment"):
        state["held"] = o.held_at is not None
    if target.type == "post":
        state["locked"] = o.locked_at is not None
        state["community_id"] = o.community_id
    return state


def _notify_author(actor, target: Target, text: str) -> None:
    if not target.author_id or target.author_id == actor.id:
        return

    notifications.create("moderation", [target.author_id], actor_id=actor.id, community=target.community,
                         text=text)


def act(actor, target_type: str, target_id, action: str, reason: str = "", *, ip: str | None = None,
        until: datetime | None = None, to_slug: str | None = None, title: str | None = None,
        body: str | None = None) -> Target:
    """Take a moderation action on a target (see the module docstring). Returns the target.

    Raises NotFound (target), Forbidden (not a moderator here; account actions without the
    right), ValidationError (reason, unknown action, until, move destination, edit fields)."""
    target = moderate_target(actor, target_type, target_id)
    if action not in target.actions:
        raise ValidationError({"action": "This action does not apply here."})
    reason = _clean_reason(reason, required=action != "approve") or "Approved"
    before = _state(target)
    obj = target.obj
    now = clock.utcnow()
    extra: dict = {}
    if action in ACCOUNT_ACTIONS:
        return _account_action(actor, target, action, reason, ip=ip, until=until)
    if action == "hide":
        if obj.hidden_at is None:
            obj.hidden_at, obj.hidden_by_id = now, actor.id
    elif action == "restore":
        obj.hidden_at = obj.hidden_by_id = None
    elif action == "lock":
        obj.locked_at = obj.locked_at or now
    elif action == "unlock":
        obj.locked_at = None
    elif action == "approve":
        if obj.held_at is None:
            raise ValidationError({"action": "This is not waiting for review."})
        obj.held_at = obj.held_reason = None
    elif action == "reject":
        if obj.held_at is None:
            raise ValidationError({"action": "This is not waiting for review."})
        obj.held_at = None
        obj.hidden_at, obj.hidden_by_id = now, actor.id
    elif action == "move":
        extra = _move(actor, obj, to_slug)
    elif action == "edit":
        extra = _edit(actor, target, title, body, reason, now)
    elif action == "warn":
        if not target.author_id:
            raise ValidationError({"action": "This was written by a former member; there is nobody to warn."})
        _notify_author(actor, target, f"A moderator of {target.community.name} warns you about your "
                                      f"{target.label}: {reason}")
    if action == "dismiss":
        if not _resolve_reports(actor, target, "dismissed", reason):
            raise ValidationError({"action": "There are no open reports to dismiss."})
    elif action in RESOLVES:
        _resolve_reports(actor, target, "actioned", f"{action}: {reason}")
    after = {**_state(target), **extra}
    audit.record(actor, f"{target.type if target.type != 'chat' else 'chat_message'}.{action}", _audit_type(target),
                 target.id, before=before, after=after, reason=reason, ip=ip)
    if action in {"hide", "reject", "restore"} and target.author_id:
        verb = {"hide": "hid", "reject": "did not approve", "restore": "restored"}[action]
        _notify_author(actor, target, f"A moderator of {target.community.name} {verb} your {target.label}: {reason}")
    if action == "approve" and target.author_id:
        _notify_author(actor, target, f"Your {target.label} in {target.community.name} was approved and is now visible.")
    _after_change(target, action)
    db.session.commit()
    return target


def _after_change(target: Target, action: str) -> None:
    """Live events and follow-ups (sent after the commit by app.events)."""

    if target.type == "comment":
        if action in {"hide", "reject"}:
            events.comment_removed(target.obj, target.post, hidden=True)
        elif action in {"restore", "approve", "edit"}:
            events.comment_updated(target.obj, target.post)
        if action == "approve":
            bump_count(Post, target.post, "comment_count", 1)
            fanout.after_comment(target.obj)
    elif target.type == "post" and action == "approve":
        events.post_created(target.obj)
        fanout.after_new_post(target.obj)
    elif target.type == "chat" and action in {"hide", "restore"}:
        target.obj.changed_at = clock.utcnow()
        room = target.obj.room
        events.publish("chat.updated", chat.payload(target.obj), room)


def _move(actor, post: Post, to_slug: str | None) -> dict:
    if not to_slug:
        raise ValidationError({"to": "Choose the community to move it to."})
    try:
        dest = access.community_for(actor, to_slug, "moderate")
    except (NotFound, Forbidden):
        raise ValidationError({"to": "You can only move posts to communities you moderate."}) from None
    if dest.community.id == post.community_id:
        raise ValidationError({"to": "The post is already there."})
    post.community_id = dest.community.id
    post.community = dest.community
    post.topics = []  # topics belong to a community
    return {"community_id": dest.community.id}


def _edit(actor, target: Target, title: str | None, body: str | None, reason: str, now: datetime) -> dict:
    obj = target.obj
    if target.type == "post":
        _kind, title, body = clean_fields(obj.kind, title if title is not None else obj.title,
                                    body if body is not None else obj.body)
        if title == obj.title and body == obj.body:
            raise ValidationError({"body": "Nothing changed."})
        db.session.add(Revision(post_id=obj.id, title=obj.title, body=obj.body, editor_id=actor.id,
                                reason=reason, created_at=now))
        obj.title, obj.body, obj.body_html, obj.edited_at = title, body, markup.to_html(body, embeds=True), now
        return {"title": title}

    body = clean_body(body if body is not None else obj.body)
    if body == obj.body:
        raise ValidationError({"body": "Nothing changed."})
    db.session.add(Revision(comment_id=obj.id, body=obj.body, editor_id=actor.id, reason=reason, created_at=now))
    obj.body, obj.body_html, obj.edited_at = body, markup.to_html(body, embeds=True), now
    return {"edited": True}


def _account_action(actor, target: Target, action: str, reason: str, *, ip: str | None,
                    until: datetime | None) -> Target:
    """Suspend until a date, ban (no end), or lift either: the author of the target."""
    person = db.session.get(User, target.author_id) if target.author_id else None
    if person is None:
        raise ValidationError({"action": "This was written by a former member."})
    if not access.can_sanction_accounts(actor, person):
        raise Forbidden("Only the social team and administrators suspend or ban accounts "
                        "(and only administrators those of staff).")
    via = f"{_audit_type(target)}:{target.id}"
    if action == "lift":
        if not person.is_suspended:
            raise ValidationError({"action": "This account is not suspended."})
        accounts.lift_suspension(actor, person, action="user.lift", reason=reason, ip=ip, via=via)
        db.session.commit()
        return target
    if action == "suspend" and until is None:
        raise ValidationError({"until": "Choose until when."})
    accounts.apply_suspension(actor, person, until if action == "suspend" else None, reason,
                              action=f"user.{action}", ip=ip, via=via)
    _resolve_reports(actor, target, "actioned", f"{action}: {reason}")
    db.session.commit()  # apply_suspension queued the end of their live sessions
    return target


# --- internal notes -----------------------------------------------------------------------

def notes_for(viewer, pacc: access.PostAccess) -> list[InternalNote] | None:
    """The post's internal notes, oldest first, for its staff; None for everyone else."""
    if not access.is_post_staff(viewer, pacc.community):
        return None
    return list(db.session.scalars(select(InternalNote).options(joinedload(InternalNote.author))
                                   .where(InternalNote.post_id == pacc.post.id).order_by(InternalNote.id)))


def add_note(actor, post_id: int, body: str, *, ip: str | None = None) -> InternalNote:
    """Add a staff-only note to a post. Raises NotFound, Forbidden, ValidationError."""
    pacc = access.post_for(actor, post_id, "read")
    if not access.is_post_staff(actor, pacc.community):
        raise Forbidden("Only the community's staff can write internal notes.")
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise ValidationError({"note": "Write the note first."})
    if len(body) > NOTE_MAX:
        raise ValidationError({"note": f"Use at most {NOTE_MAX:,} characters."})
    note = InternalNote(post_id=pacc.post.id, author_id=actor.id, body=body, created_at=clock.utcnow())
    db.session.add(note)
    db.session.flush()
    audit.record(actor, "note.add", "post", pacc.post.id, after={"note_id": note.id}, ip=ip)
    db.session.commit()
    return note


def move_destinations(viewer, post: Post) -> list[Community]:
    """Communities the viewer could move the post to (they moderate them; not its own)."""
    ids = access.moderated_community_ids(viewer)
    stmt = select(Community).where(Community.id != post.community_id, access.readable_clause(viewer))
    if ids is not None:
        stmt = stmt.where(Community.id.in_(ids or {0}))
    return list(db.session.scalars(stmt.order_by(Community.name).limit(300)))


__all__ = ["ACTIONS", "REPORT_CATEGORIES", "Queue", "QueueItem", "Target", "act", "add_note", "history",
           "moderate_target", "move_destinations", "notes_for", "open_reports", "queue", "report", "target_for"]
