"""The one notification module. Everything that tells a person something goes through here
(`create`); live updates and email plug in there. Who is told about new posts, comments,
status changes and accepted answers is decided by app.services.content.fanout, in background
jobs that call `create`.

Recipients are checked through app.services.access when
the notification is made (may they read the post now?) and again when it is shown (the
list and the unread count only include notifications whose post they may still read).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import joinedload

from app import clock, events, inputs
from app.errors import NotFound
from app.extensions import db
from app.models import ChatMention, ChatMessage, Comment, Community, Notification, NotificationSetting, Post, User
from app.services import access
from app.services.platform import mail

KINDS: dict[str, str] = {
    "mention": "Someone mentions you",
    "reply": "Someone replies to your comment",
    "comment": "New comments on posts you follow",
    "new_post": "New posts in topics and communities you follow",
    "status": "Status changes and official responses on ideas you voted for or follow",
    "accepted": "Your answer is accepted",
    "moderation": "Staff edit or restore your posts",
    "chat_mention": "Someone mentions you in a live discussion",
    "routed": "New questions and ideas in topics you are an expert of",
    "escalation": "Questions and ideas waiting too long, and topics without an expert, in communities you manage",
    "expert": "You are made an expert of a topic, or no longer one",
    "saved_search": "New content matching your saved searches",
    "community_manager": "A community loses its last manager (the social team)",
    "ask": "Someone asks you to answer a question or give your view on a post",
}


# --- making notifications -----------------------------------------------------------------

def create(kind: str, recipient_ids, *, actor_id: int | None, post: Post | None = None,
           comment: Comment | None = None, text: str, exclude: set[int] | None = None,
           community: Community | None = None) -> list[int]:
    """Tell each recipient who may read the post (or, without a post, the `community`) now: an
    in-app notification unless they turned this kind off in Kring, and an email when they asked
    for it by email (either may be on alone); never the actor. Returns the ids of the people
    told. Runs in the caller's transaction; each person's open pages hear of it live after the
    commit (notification.created with the new unread count)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    ids = {int(i) for i in recipient_ids} - {actor_id} - (exclude or set())
    if not ids:
        return []
    people = list(db.session.scalars(select(User).where(User.id.in_(ids))))
    off = set(db.session.scalars(select(NotificationSetting.user_id).where(
        NotificationSetting.kind == kind, NotificationSetting.in_app.is_(False),
        NotificationSetting.user_id.in_(ids))))
    emailed = set(db.session.scalars(select(NotificationSetting.user_id).where(
        NotificationSetting.kind == kind, NotificationSetting.email.is_(True), NotificationSetting.user_id.in_(ids))))
    made = []
    live = []
    now = clock.utcnow()
    for person in people:
        if person.is_suspended or (person.id in off and person.id not in emailed):
            continue
        if post is not None and not access.can_read_post(person, post):
            continue  # never tell someone about what they may not read
        if post is None and community is not None and not access.access_to(person, community).can_read:
            continue
        if person.id not in off:
            note = Notification(
                user_id=person.id, kind=kind, actor_id=actor_id, post_id=post.id if post else None,
                community_id=post.community_id if post else (community.id if community else None),
                comment_id=comment.id if comment else None, text=text[:300], created_at=now)
            db.session.add(note)
            live.append((person, note))
        made.append(person.id)
        if person.id in emailed:
            _email(person, text, post)
    if live:
        db.session.flush()
        for person, note in live:
            events.notification_created(note, unread_count(person))
    return made


def _email(person: User, text: str, post: Post | None) -> None:

    link = mail.external_url("posts.show", post_id=post.id) if post else ""
    mail.send(person.email, text[:120], f"{text}\n\n{link}\n\nChange what we email you under Notifications → Settings.\n")


# --- reading ------------------------------------------------------------------------------

def _visible(user):
    """Notifications the person may still see: none about posts they can no longer read.

    A correlated EXISTS probes each notification's post by primary key; an IN over every
    readable post built that whole list on each page view (228 ms vs 0.8 ms for the header
    count with 100,000 posts on SQLite)."""
    readable_communities = select(Community.id).where(access.readable_clause(user))
    post_readable = exists().where(Post.id == Notification.post_id, Post.deleted_at.is_(None),
                                   access.moderation_visible_clause(user),  # hidden, held for review
                                   Post.community_id.in_(readable_communities))
    community_only = and_(Notification.post_id.is_(None), or_(
        Notification.community_id.is_(None), Notification.community_id.in_(readable_communities)),
        or_(Notification.kind != "chat_mention", _chat_message_live()))
    return and_(Notification.user_id == user.id, or_(community_only, post_readable))


def _chat_message_live():
    """For a chat mention: its message (the one app.services.chat.mention_target opens) is
    neither hidden by moderation nor deleted, so the quoted snippet may still be shown."""
    message_id = (select(ChatMention.message_id)
                  .where(ChatMention.user_id == Notification.user_id,
                         ChatMention.community_id == Notification.community_id,
                         ChatMention.created_at <= Notification.created_at)
                  .order_by(ChatMention.created_at.desc(), ChatMention.message_id.desc())
                  .limit(1).correlate(Notification).scalar_subquery())
    return exists().where(ChatMessage.id == message_id, ChatMessage.hidden_at.is_(None),
                          ChatMessage.deleted_at.is_(None))


def unread_count(user) -> int:
    """How many unread notifications the person may still see (the header count). Raises nothing."""
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        _visible(user), Notification.read_at.is_(None))) or 0


@dataclass
class NotificationPage:
    items: list[Notification]
    next_before: int | None


def page(user, *, before: int | None = None, limit: int = 30, unread_only: bool = False) -> NotificationPage:
    """Newest first by when it happened, ties broken by id (newer id first): rows are not
    always made in time order (a job run late, imported or demo content), so the id alone is
    no clock. Keyset pages: `before` is the id of the last row shown; the page goes on after
    it in the same order. Actor and post are loaded with the rows (constant queries)."""
    stmt = select(Notification).options(joinedload(Notification.actor)).where(_visible(user))
    if before:
        moment = db.session.scalar(select(Notification.created_at).where(
            Notification.id == before, Notification.user_id == user.id))
        if moment is None:  # not theirs, or gone: fall back to the id alone
            stmt = stmt.where(Notification.id < before)
        else:
            stmt = stmt.where(or_(Notification.created_at < moment,
                                  and_(Notification.created_at == moment, Notification.id < before)))
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    order = (Notification.created_at.desc(), Notification.id.desc())
    rows = list(db.session.scalars(stmt.order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return NotificationPage(rows, rows[-1].id if more and rows else None)


def mark_read(user, ids=None) -> int:
    """Mark some (ids) or all of the person's notifications read. Returns how many changed."""
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if ids is not None:
        clean = [n for n in (inputs.id_or_none(i) for i in ids) if n is not None]
        if not clean:
            return 0
        stmt = stmt.where(Notification.id.in_(clean))
    changed = db.session.execute(stmt.values(read_at=clock.utcnow())).rowcount
    if changed:
        events.notifications_read(user.id, unread_count(user))
    db.session.commit()
    return changed


def open_notification(user, notification_id: int) -> Notification:
    """Mark one notification read and return it (for the redirect to its post)."""
    note = db.session.scalar(select(Notification).where(Notification.id == notification_id, _visible(user)))
    if note is None:
        raise NotFound("No such notification.")
    if note.read_at is None:
        note.read_at = clock.utcnow()
        events.notifications_read(user.id, unread_count(user))
        db.session.commit()
    return note


def preferences(user) -> dict[str, dict[str, bool]]:
    """{kind: {"in_app": bool, "email": bool}} for every kind (defaults: in-app on, email off)."""
    prefs = {kind: {"in_app": True, "email": False} for kind in KINDS}
    for row in db.session.scalars(select(NotificationSetting).where(NotificationSetting.user_id == user.id)):
        if row.kind in prefs:
            prefs[row.kind] = {"in_app": row.in_app, "email": row.email}
    return prefs


def set_preferences(user, choices: dict[str, dict[str, bool]]) -> None:
    """Save the person's choices; unknown kinds are ignored."""
    for kind in KINDS:
        choice = choices.get(kind, {"in_app": False, "email": False})
        row = db.session.get(NotificationSetting, (user.id, kind))
        if row is None:
            row = NotificationSetting(user_id=user.id, kind=kind)
            db.session.add(row)
        row.in_app, row.email = bool(choice.get("in_app")), bool(choice.get("email"))
    db.session.commit()
