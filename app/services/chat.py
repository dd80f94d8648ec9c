"""The live discussion channel of each community: post, edit and delete messages, history pages,
replies in a thread, turning a message into a post, and replay for clients that were offline.

Rules, in one place:
- Whoever may read a community may read and write in its channel (app.services.access decides).
- A message is short markdown (at most BODY_MAX characters), rendered and sanitised like posts;
  @mentions of people who may read the community notify them (each person once per message).
- Replies form one thread under a top-level message (a reply to a reply joins the same thread).
- The author edits their own message while it is not deleted; the author and the community's
  moderators delete it (soft: the thread keeps a placeholder, the text stays for the record).
- The author and the moderators turn a message into a discussion, idea or question ("promote").
- A send carries an idempotency key (unique per author): a retry with the same key returns the
  message stored the first time, never a second copy.
- Every change is published to the community's room after the commit (app.events): the store
  comes first, the broadcast second, and each message carries its id, so `replay()` can give a
  client that was offline exactly what it missed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app import clock, events, inputs
from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import ChatMention, ChatMessage, Comment, Community, Notification, Post, PostKind, User
from app.services import access, notifications
from app.services.community import policy
from app.services.content import posts
from app.services.platform import jobs, markup

BODY_MAX = 4_000
PAGE_SIZE = 50
THREAD_MAX = 500
REPLAY_MAX = 500
KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")
ROOM_RE = re.compile(r"^(community|post):([1-9][0-9]{0,17})$")


# --- helpers ------------------------------------------------------------------------------

def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() + "Z" if moment else None


site_path = events.site_path  # re-exported: the live payload helpers live in app.events
person = events.person


def payload(message: ChatMessage, author: User | None = None) -> dict:
    """The JSON-safe form of a message for live events and socket acks. A deleted message keeps
    its id and place but none of its text; so does one hidden by moderation ("hidden": true, so
    the page says so, and moderators get the link to see it). `author`: the author when the
    caller has it loaded."""
    deleted = message.deleted_at is not None or message.hidden_at is not None
    return {
        "room": message.room, "id": message.id, "community_id": message.community_id,
        "parent_id": message.parent_id, "key": message.client_key,
        "author": person(author if author is not None else message.author),
        "body_html": "" if deleted else message.body_html, "deleted": deleted,
        "hidden": message.hidden_at is not None and message.deleted_at is None,
        "created_at": _iso(message.created_at), "edited_at": _iso(message.edited_at),
        "reply_count": message.reply_count or 0, "last_reply_at": _iso(message.last_reply_at),
        "promoted_post_id": message.promoted_post_id,
    }


def _clean_body(body) -> str:
    if not isinstance(body, str):
        raise ValidationError({"body": "Write a message."})
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise ValidationError({"body": "Write something before you send it."})
    problem = markup.source_problem(body, BODY_MAX)
    if problem:
        raise ValidationError({"body": problem})
    return body


def _int_id(value, field_name: str, message: str) -> int:
    return inputs.as_id(value, field_name, message=message)


def parse_room(room) -> tuple[str, int] | None:
    """("community", 3) for "community:3", ("post", 9) for "post:9", else None."""
    if not isinstance(room, str):
        return None
    match = ROOM_RE.match(room)
    return (match.group(1), int(match.group(2))) if match else None


def _bump_parent(parent: ChatMessage, delta: int, now: datetime) -> None:
    values = {"reply_count": ChatMessage.reply_count + delta, "changed_at": now}
    if delta > 0:
        values["last_reply_at"] = now
    db.session.execute(update(ChatMessage).where(ChatMessage.id == parent.id).values(values)
                       .execution_options(synchronize_session=False))
    db.session.refresh(parent, ["reply_count", "last_reply_at", "changed_at"])
    events.publish("chat.updated", payload(parent), parent.room)


def _enqueue_mentions(message: ChatMessage) -> None:
    # the renderer turns mentions into links to /people/<handle>; the job checks them exactly
    if 'href="/people/' in message.body_html:
        jobs.enqueue("chat.notify_mentions", {"message_id": message.id})


def _readable_community(viewer, community_id: int) -> access.CommunityAccess:
    """access.community_by_id_for(viewer, id, "read") in two queries (the send path is hot)."""
    community = db.session.get(Community, community_id)
    if community is None:
        raise NotFound("No such community.")
    acc = access.access_to(viewer, community)
    if not acc.can_read:
        raise NotFound("No such community.")
    return acc


def _existing(author, client_key: str, community_id: int) -> ChatMessage | None:
    existing = db.session.scalar(select(ChatMessage).where(
        ChatMessage.author_id == author.id, ChatMessage.client_key == client_key))
    if existing is not None and existing.community_id != community_id:
        raise ValidationError({"key": "This message key was already used for another message."})
    return existing


# --- writing ------------------------------------------------------------------------------

def post(author, community_id, body, *, parent_id=None, client_key=None) -> tuple[ChatMessage, bool]:
    """Send a message to a community's channel (a reply in a thread when parent_id is given).

    Returns (message, created): with a `client_key` the author already used, the message
    stored the first time and False (nothing is stored or broadcast again). The new message's
    live payload is kept as `message.live_payload` (the socket ack sends it without reloading).
    Raises NotFound (community, or parent not readable), ValidationError (body, key, parent)."""
    community_id = _int_id(community_id, "room", "Choose a community.")
    acc = _readable_community(author, community_id)
    if client_key is not None and (not isinstance(client_key, str) or not KEY_RE.match(client_key)):
        raise ValidationError({"key": "The message key must be 8 to 64 letters, digits, dots, colons, - or _."})
    try:
        body = _clean_body(body)
    except ValidationError:
        # a retry of a message that was stored is answered with it even if it is refused now
        existing = _existing(author, client_key, acc.community.id) if client_key else None
        if existing is None:
            raise
        return existing, False

    policy.require_accepted(author, acc.community.id)  # the social policy, accepted before writing
    parent = None
    if parent_id not in (None, ""):
        pid = _int_id(parent_id, "parent_id", "The message you reply to is not in this channel.")
        parent = db.session.get(ChatMessage, pid)
        if parent is not None and parent.parent_id is not None:
            parent = db.session.get(ChatMessage, parent.parent_id)  # one thread per top-level message
        if parent is None or parent.community_id != acc.community.id:
            raise ValidationError({"parent_id": "The message you reply to is not in this channel."})
        if parent.deleted_at is not None:
            raise ValidationError({"parent_id": "The message you reply to was deleted."})
    now = clock.utcnow()
    message = ChatMessage(community_id=acc.community.id, author_id=author.id, parent_id=parent.id if parent else None,
                          body=body, body_html=markup.to_html(body), client_key=client_key, reply_count=0,
                          created_at=now, changed_at=now)
    try:
        # the unique (author, key) index decides: a retry of a stored message lands here
        with db.session.begin_nested():
            db.session.add(message)
    except IntegrityError:
        existing = _existing(author, client_key, acc.community.id) if client_key else None
        if existing is None:
            raise
        db.session.commit()
        return existing, False
    if parent is not None:
        _bump_parent(parent, 1, now)
    _enqueue_mentions(message)
    data = payload(message, author)
    events.publish("chat.message", data, message.room)
    db.session.commit()
    message.live_payload = data
    return message, True


def edit(actor, message_id, body) -> ChatMessage:
    """Change the text of one's own message. Raises NotFound, Forbidden, ValidationError."""
    acc, message = access.chat_message_for(actor, message_id)
    if message.deleted_at is not None:
        raise ValidationError({"body": "This message was deleted; it cannot be edited."})
    if not access.may_edit_chat_message(actor, message):
        raise Forbidden("You can edit only your own messages.")
    body = _clean_body(body)
    if body == message.body:
        return message
    now = clock.utcnow()
    message.body, message.body_html = body, markup.to_html(body)
    message.edited_at = message.changed_at = now
    _enqueue_mentions(message)
    events.publish("chat.updated", payload(message), message.room)
    db.session.commit()
    return message


def delete(actor, message_id) -> ChatMessage:
    """Delete a message (its author, or the community's moderators). The text is kept for the
    record but shown to nobody; a thread keeps its replies. Raises NotFound, Forbidden,
    ValidationError (already deleted)."""
    acc, message = access.chat_message_for(actor, message_id)
    if message.deleted_at is not None:
        raise ValidationError({"_": "This message is already deleted."})
    if not access.may_delete_chat_message(actor, acc, message):
        raise Forbidden("Only the author and the community's moderators can delete this message.")
    now = clock.utcnow()
    message.deleted_at, message.deleted_by_id, message.changed_at = now, actor.id, now
    if message.parent_id is not None:
        parent = db.session.get(ChatMessage, message.parent_id)
        if parent is not None:
            _bump_parent(parent, -1, now)
    events.publish("chat.updated", payload(message), message.room)
    db.session.commit()
    return message


def promote_defaults(message: ChatMessage, community: Community) -> tuple[str, str]:
    """A title and body for the post a message becomes (the form shows them to edit)."""
    plain = " ".join(markup.to_text(message.body).split())
    title = plain[:120].rstrip()
    if len(plain) > 120:
        title = title.rsplit(" ", 1)[0] + "…"
    if len(title) < 5:
        title = f"From the live discussion: {title}".strip()
    who = f"@{message.author.handle}" if message.author else "a former member"
    body = f"{message.body}\n\n*From the live discussion in {community.name}, started by {who}.*"
    return title, body


def promote(actor, message_id, kind: str, title: str, body: str, topic_ids=()) -> Post:
    """Turn a message into a post of `kind` (discussion, idea or question) in the same community,
    written by `actor` (the author or a moderator). The message links to the post from then on.
    Raises NotFound, Forbidden, ValidationError (the post's fields, already promoted)."""
    acc, message = access.chat_message_for(actor, message_id)
    if message.deleted_at is not None:
        raise ValidationError({"_": "This message was deleted."})
    if not access.may_promote_chat_message(actor, acc, message):
        raise Forbidden("Only the author and the community's moderators can turn this message into a post.")
    if message.promoted_post_id:
        existing = db.session.get(Post, message.promoted_post_id)
        if existing is not None and existing.deleted_at is None:
            raise ValidationError({"_": f"This message already became a post: “{existing.title}”."})
    if kind not in {k.value for k in PostKind}:
        raise ValidationError({"kind": "Choose discussion, idea or question."})
    new_post = posts.create(actor, acc.community.slug, kind, title, body, topic_ids)
    message = db.session.get(ChatMessage, message.id)
    message.promoted_post_id, message.changed_at = new_post.id, clock.utcnow()
    events.publish("chat.updated", payload(message), message.room)
    db.session.commit()
    return new_post


# --- reading ------------------------------------------------------------------------------

@dataclass
class HistoryPage:
    """Top-level messages of a channel, oldest first, with keyset cursors for the pages around."""

    acc: access.CommunityAccess
    messages: list[ChatMessage] = field(default_factory=list)
    older: int | None = None  # pass as before= for the page of older messages
    newer: int | None = None  # pass as after= for the page of newer messages (None: this is the latest)

    @property
    def last_id(self) -> int:
        """The newest id in the channel the page shows (replies included): where replay starts."""
        return max((m.id for m in self.messages), default=0)


def history(viewer, slug: str, *, before=None, after=None, limit: int = PAGE_SIZE) -> HistoryPage:
    """A page of a channel's top-level messages (with their authors), oldest first: the latest
    page, or the page before message `before`, or after message `after`. Deleted messages keep
    their place as placeholders. Raises NotFound."""
    acc = access.community_for(viewer, slug, "read")
    limit = max(1, min(int(limit), 200))
    stmt = select(ChatMessage).options(joinedload(ChatMessage.author)).where(
        ChatMessage.community_id == acc.community.id, ChatMessage.parent_id.is_(None))
    before = _cursor(before)
    after = _cursor(after)
    if after is not None and before is None:
        rows = list(db.session.scalars(stmt.where(ChatMessage.id > after).order_by(ChatMessage.id).limit(limit + 1)))
        more_newer = len(rows) > limit
        rows = rows[:limit]
        older = rows[0].id if rows else None
        return HistoryPage(acc, rows, older=older, newer=rows[-1].id if more_newer and rows else None)
    if before is not None:
        stmt = stmt.where(ChatMessage.id < before)
    rows = list(db.session.scalars(stmt.order_by(ChatMessage.id.desc()).limit(limit + 1)))
    more_older = len(rows) > limit
    rows = list(reversed(rows[:limit]))
    newer = None
    if before is not None and rows:
        newer = rows[-1].id if db.session.scalar(select(ChatMessage.id).where(
            ChatMessage.community_id == acc.community.id, ChatMessage.parent_id.is_(None),
            ChatMessage.id > rows[-1].id).limit(1)) else None
    return HistoryPage(acc, rows, older=rows[0].id if more_older and rows else None, newer=newer)


def _cursor(value) -> int | None:
    return inputs.id_or_none(value)


@dataclass
class Thread:
    acc: access.CommunityAccess
    root: ChatMessage
    replies: list[ChatMessage]


def thread(viewer, message_id) -> Thread:
    """A top-level message with its replies, oldest first (given a reply, its whole thread).
    Raises NotFound."""
    acc, message = access.chat_message_for(viewer, message_id)
    root = message if message.parent_id is None else db.session.get(ChatMessage, message.parent_id)
    replies = list(db.session.scalars(
        select(ChatMessage).options(joinedload(ChatMessage.author)).where(ChatMessage.parent_id == root.id)
        .order_by(ChatMessage.id).limit(THREAD_MAX)))
    return Thread(acc, root, replies)


def latest_id(community_id: int) -> int:
    """The newest message id of a community's channel (0 when empty)."""
    return db.session.scalar(select(func.max(ChatMessage.id)).where(ChatMessage.community_id == community_id)) or 0


@dataclass
class Replay:
    """What a client missed in a room: events to send it, in order, and whether there was more
    than REPLAY_MAX (then the client reloads the page instead)."""

    events: list[tuple[str, dict]] = field(default_factory=list)
    truncated: bool = False


def replay(viewer, room: str, after, have=()) -> Replay:
    """Everything in `room` the viewer's client missed after the id `after` it has.

    community:<id>: the channel's messages with a larger id, except the ids in `have` (the
    newest ids the client holds, which may have arrived out of order), as chat.message; and the
    messages up to `after` that changed (edited, deleted, new replies) since it was sent, as
    chat.updated. post:<id>: the post's comments with a larger id as comment.added.
    Raises NotFound when the viewer may not read the room."""
    parsed = parse_room(room)
    if parsed is None:
        raise NotFound("No such room.")
    after = _cursor(after) or 0
    have = {n for n in (inputs.id_or_none(i) for i in (have or ()) if isinstance(i, int)) if n is not None}
    kind, target = parsed
    result = Replay()
    if kind == "community":
        acc = access.community_by_id_for(viewer, target, "read")
        floor = min(have) - 1 if have and min(have) <= after else after
        rows = list(db.session.scalars(
            select(ChatMessage).options(joinedload(ChatMessage.author))
            .where(ChatMessage.community_id == acc.community.id, ChatMessage.id > floor)
            .order_by(ChatMessage.id).limit(REPLAY_MAX + len(have) + 1)))
        fresh = [m for m in rows if m.id not in have and (m.id > after or floor < after)]
        result.truncated = len(fresh) > REPLAY_MAX
        result.events = [("chat.message", payload(m)) for m in fresh[:REPLAY_MAX]]
        if after:
            mark = db.session.scalar(select(ChatMessage.created_at).where(ChatMessage.id == after))
            if mark is not None:
                changed = db.session.scalars(
                    select(ChatMessage).options(joinedload(ChatMessage.author))
                    .where(ChatMessage.community_id == acc.community.id,
                           ChatMessage.changed_at >= mark - timedelta(seconds=5), ChatMessage.id <= after,
                           ChatMessage.changed_at > ChatMessage.created_at)
                    .order_by(ChatMessage.id).limit(REPLAY_MAX))
                result.events += [("chat.updated", payload(m)) for m in changed]
        return result
    pacc = access.post_for(viewer, target, "read")
    rows = db.session.execute(
        select(Comment.id, Comment.parent_id).where(Comment.post_id == pacc.post.id, Comment.id > after,
                                                    Comment.deleted_at.is_(None))
        .order_by(Comment.id).limit(REPLAY_MAX + 1)).all()
    result.truncated = len(rows) > REPLAY_MAX
    result.events = [("comment.added", {"room": room, "post_id": pacc.post.id, "comment_id": cid, "parent_id": parent,
                                        "comment_count": pacc.post.comment_count})
                     for cid, parent in rows[:REPLAY_MAX]]
    return result


def authorize_room(viewer, room) -> str:
    """The normalised room name when the viewer may be in it; NotFound otherwise."""
    parsed = parse_room(room)
    if parsed is None:
        raise NotFound("No such room.")
    kind, target = parsed
    if kind == "community":
        access.community_by_id_for(viewer, target, "read")
    else:
        access.post_for(viewer, target, "read")
    return f"{kind}:{target}"


def community_of_room(room: str) -> int | None:
    """The community a community or post room belongs to (None for anything else)."""
    parsed = parse_room(room)
    if parsed is None:
        return None
    kind, target = parsed
    if kind == "community":
        return target
    return db.session.scalar(select(Post.community_id).where(Post.id == target))


def mention_target(viewer, notification_id: int) -> ChatMessage:
    """The message a "chat_mention" notification of the viewer is about (the latest mention of
    them in that community up to the notification). Raises NotFound."""
    note = db.session.scalar(select(Notification).where(
        Notification.id == notification_id, Notification.user_id == viewer.id, Notification.kind == "chat_mention"))
    if note is None or note.community_id is None:
        raise NotFound("No such notification.")
    message_id = db.session.scalar(
        select(ChatMention.message_id).where(ChatMention.user_id == viewer.id,
                                             ChatMention.community_id == note.community_id,
                                             ChatMention.created_at <= note.created_at)
        .order_by(ChatMention.created_at.desc(), ChatMention.message_id.desc()).limit(1))
    if message_id is None:
        raise NotFound("The message is no longer there.")
    return access.chat_message_for(viewer, message_id)[1]


# --- mentions -----------------------------------------------------------------------------

@jobs.handler("chat.notify_mentions")
def _notify_mentions(data: dict) -> None:
    """People a message mentions and who may read its community are told, once per message."""
    message = db.session.get(ChatMessage, data.get("message_id"))
    if message is None or message.deleted_at is not None:
        return
    handles = markup.mentioned_handles(message.body)[:50]
    if not handles:
        return
    community = db.session.get(Community, message.community_id)
    told = set(db.session.scalars(select(ChatMention.user_id).where(ChatMention.message_id == message.id)))
    now = clock.utcnow()
    fresh = []
    for someone in db.session.scalars(select(User).where(User.handle.in_(handles))):
        if someone.id in told or someone.id == message.author_id:
            continue
        if not access.access_to(someone, community).can_read:
            continue
        db.session.add(ChatMention(message_id=message.id, user_id=someone.id, community_id=community.id,
                                   created_at=now))
        fresh.append(someone.id)
    if not fresh:
        return
    name = message.author.display_name if message.author else "Someone"
    snippet = " ".join(markup.to_text(message.body).split())
    snippet = snippet if len(snippet) <= 120 else snippet[:119].rstrip() + "…"
    notifications.create("chat_mention", fresh, actor_id=message.author_id, community=community,
                         text=f"{name} mentioned you in the live discussion of {community.name}: “{snippet}”")
