"""Comments on posts: one level of replies, edits with every earlier version kept, soft delete
and restore, likes, accepted answers on questions, and the thread shown on the post page.

Rules, in one place:
- Whoever may read a live post may comment on it and like others' comments. Replying to a
  reply attaches to that reply's top-level comment (one level of nesting).
- The author edits and deletes their own comment while it is not deleted; the community's
  moderators edit (with a reason, when it is someone else's), delete and restore any comment.
- A deleted comment stays in the thread as "This comment was deleted" (its replies stay
  visible); moderators still see its text.
- On a question, its author and the people who may respond officially accept one top-level
  answer (accepting another replaces it).

Counters (Post.comment_count, Comment.like_count) change with UPDATE ... SET x = x + n in the
same transaction as the change, so concurrent writers never lose an update.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete as sql_delete
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app import clock, events, inputs
from app.errors import Forbidden, ValidationError
from app.extensions import db
from app.models import Comment, CommentLike, Post, PostKind, Revision, User
from app.services import access, notifications
from app.services.community import follows, policy
from app.services.content import attachments, fanout, posts, premoderation
from app.services.platform import markup

BODY_MAX = 10_000
REASON_MAX = 500


# --- helpers ------------------------------------------------------------------------------

def clean_body(body: str | None) -> str:
    """The comment body, trimmed and checked (comments and moderation edits). Raises
    ValidationError({"body": ...}) when empty or not storable."""
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise ValidationError({"body": "Write something before you send it."})
    problem = markup.source_problem(body, BODY_MAX)
    if problem:
        raise ValidationError({"body": problem})
    return body


def bump_count(model, row, attr: str, delta: int) -> int:
    """UPDATE model SET attr = attr + delta WHERE id = row.id, in the current transaction;
    returns the new value and puts it on `row` (no lost updates, no stale copy)."""
    column = getattr(model, attr)
    value = db.session.execute(
        update(model).where(model.id == row.id).values({attr: column + delta}).returning(column)
        .execution_options(synchronize_session=False)).scalar_one()
    set_committed_value(row, attr, value)
    return value


def _require_live_post(pacc: access.PostAccess, message: str) -> None:
    if pacc.post.deleted_at is not None:
        raise Forbidden(message)


def _is_author(actor, comment: Comment) -> bool:
    return comment.author_id is not None and comment.author_id == getattr(actor, "id", None)


def for_edit(actor, comment_id) -> tuple[access.PostAccess, Comment]:
    """The comment and its post access when the actor may edit it; Forbidden otherwise."""
    pacc, comment = access.comment_for(actor, comment_id)
    if not access.may_edit_comment(pacc, comment, actor):
        raise Forbidden("Only the author and the community's moderators can edit this comment.")
    return pacc, comment


# --- writing ------------------------------------------------------------------------------

def add(author, post_id: int, body: str, parent_id=None, files=(), *, pending=(),
        confirm_sensitive: bool = False, accept_guidelines: bool = False) -> Comment:
    """Comment on a post the author may read (a reply when parent_id is given), with `files`
    and the author's pending uploads named by the tokens in `pending`
    (app.services.content.attachments.hold). Returns it. `accept_guidelines`: the author accepts the
    guidelines that apply there in the same transaction (stored only if the comment is).

    Raises NotFound (post), Forbidden (deleted post; locked post unless a moderator),
    ValidationError (body, parent, files; pre-moderation: "body", "confirm_sensitive").
    The author follows the post; followers, the replied-to person and mentioned people are
    notified after the commit. A comment held by pre-moderation is seen by its author and the
    moderators only, and counted and announced when approved."""
    pacc = access.post_for(author, post_id, "read")
    post = pacc.post
    _require_live_post(pacc, "This post was deleted; it takes no new comments.")
    if post.locked_at is not None and not pacc.can_moderate:
        raise Forbidden("This post is locked by a moderator; it takes no new comments.")
    body = clean_body(body)

    if accept_guidelines:
        policy.accept(author, post.community_id, commit=False)
    policy.require_accepted(author, post.community_id)  # the social policy, accepted before writing

    held = premoderation.check_comment(author, pacc, body, confirm_sensitive=confirm_sensitive)
    parent = None
    if parent_id not in (None, ""):
        number = inputs.id_or_none(parent_id)
        parent = db.session.get(Comment, number) if number else None
        if parent is None or parent.post_id != post.id:
            raise ValidationError({"parent_id": "The comment you reply to is not on this post."})
        if parent.deleted_at is None and parent.parent_id is not None:
            parent = db.session.get(Comment, parent.parent_id)  # one level: join the reply's thread
        if parent is None or parent.deleted_at is not None:
            raise ValidationError({"parent_id": "The comment you reply to was deleted."})

    uploads = attachments.prepare(files)  # images re-encoded before the first write (no lock held)
    now = clock.utcnow()
    comment = Comment(post_id=post.id, parent_id=parent.id if parent else None, author_id=author.id,
                      body=body, body_html=markup.to_html(body, embeds=True), like_count=0, created_at=now,
                      held_at=now if held else None, held_reason=held[:300] if held else None)
    db.session.add(comment)
    db.session.flush()
    if uploads or pending:
        attachments.attach(author, uploads, comment=comment, pending=pending)
    follows.ensure(author, "post", post.id)
    if not held:
        bump_count(Post, post, "comment_count", 1)
        posts.touch(post, now)
        posts.keep_seen(author, post.id, now)
        posts.refresh_hot(post)
        fanout.after_comment(comment)
        events.comment_added(comment, post)
    db.session.commit()
    return comment


def edit(actor, comment_id: int, body: str, reason: str = "") -> Comment:
    """Change a comment's text; the previous text is kept as a Revision. The author edits
    while the comment is not deleted; moderators edit any, giving a reason when it is someone
    else's (the author is told). Raises NotFound, Forbidden, ValidationError."""
    pacc, comment = for_edit(actor, comment_id)
    body = clean_body(body)
    reason = " ".join((reason or "").split())
    own = _is_author(actor, comment)
    if not own and not reason:
        raise ValidationError({"reason": "Say why you edit someone else's comment; the author will see it."})
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": f"Use at most {REASON_MAX} characters."})
    if body == comment.body:
        return comment
    now = clock.utcnow()
    db.session.add(Revision(comment_id=comment.id, body=comment.body, editor_id=actor.id,
                            reason=reason or None, created_at=now))
    comment.body, comment.body_html, comment.edited_at = body, markup.to_html(body, embeds=True), now
    if not own and comment.author_id:
        name = actor.display_name
        notifications.create("moderation", [comment.author_id], actor_id=actor.id, post=pacc.post,
                             comment=comment, text=f"{name} edited your comment on “{pacc.post.title}”: {reason}")
    fanout.after_comment_edited(comment)
    events.comment_updated(comment, pacc.post)
    db.session.commit()
    return comment


def delete(actor, comment_id: int) -> Comment:
    """Soft-delete (author or moderators): the text is kept, the thread shows a placeholder,
    replies stay. An accepted answer that is deleted is no longer accepted."""
    pacc, comment = access.comment_for(actor, comment_id)
    if comment.deleted_at is not None:
        raise ValidationError({"_": "This comment is already deleted."})
    if not access.may_delete_comment(pacc, comment, actor):
        raise Forbidden("Only the author and the community's moderators can delete this comment.")
    post = pacc.post
    comment.deleted_at, comment.deleted_by_id = clock.utcnow(), actor.id
    if post.accepted_comment_id == comment.id:
        post.accepted_comment_id = None
    bump_count(Post, post, "comment_count", -1)
    posts.refresh_hot(post)
    events.comment_removed(comment, post)
    db.session.commit()
    return comment


def restore(moderator, comment_id: int) -> Comment:
    """Undo a deletion (the community's moderators only)."""
    pacc, comment = access.comment_for(moderator, comment_id)
    if not pacc.can_moderate:
        raise Forbidden("Only the community's moderators can restore a comment.")
    if comment.deleted_at is None:
        return comment
    comment.deleted_at = comment.deleted_by_id = None
    bump_count(Post, pacc.post, "comment_count", 1)
    posts.refresh_hot(pacc.post)
    events.comment_updated(comment, pacc.post)
    db.session.commit()
    return comment


def toggle_like(user, comment_id: int) -> tuple[bool, int]:
    """Like a comment, or take the like back. Returns (liked now, like count).
    Readers of the live post only, never one's own comment nor a deleted one."""
    pacc, comment = access.comment_for(user, comment_id)
    _require_live_post(pacc, "This post was deleted; its comments cannot be liked.")
    if comment.deleted_at is not None:
        raise ValidationError({"_": "This comment was deleted; it cannot be liked."})
    if _is_author(user, comment):
        raise ValidationError({"_": "You cannot like your own comment."})
    removed = db.session.execute(sql_delete(CommentLike).where(
        CommentLike.comment_id == comment.id, CommentLike.user_id == user.id)).rowcount
    if removed:
        count = bump_count(Comment, comment, "like_count", -1)
        db.session.commit()
        return False, count
    try:
        with db.session.begin_nested():
            db.session.add(CommentLike(comment_id=comment.id, user_id=user.id, created_at=clock.utcnow()))
    except IntegrityError:  # a concurrent click of the same person already liked it
        db.session.commit()
        return True, db.session.scalar(select(Comment.like_count).where(Comment.id == comment.id))
    count = bump_count(Comment, comment, "like_count", 1)
    db.session.commit()
    return True, count


def accept(actor, comment_id: int) -> Comment:
    """Mark a top-level answer to a question as the accepted one (replacing any earlier one).
    The question's author or someone who may respond officially. The answer's author is told."""
    pacc, comment = access.comment_for(actor, comment_id)
    post = pacc.post
    if post.kind != PostKind.QUESTION:
        raise ValidationError({"_": "Only answers to questions can be accepted."})
    if not (pacc.is_author or pacc.can_respond):
        raise Forbidden("Only the person who asked and the community's staff can accept an answer.")
    _require_live_post(pacc, "This question was deleted.")
    if comment.parent_id is not None:
        raise ValidationError({"_": "Only answers can be accepted, not replies to them."})
    if comment.deleted_at is not None:
        raise ValidationError({"_": "This answer was deleted; it cannot be accepted."})
    if post.accepted_comment_id == comment.id:
        return comment
    previous = post.accepted_comment_id
    post.accepted_comment_id = comment.id
    fanout.after_accepted(comment, actor)
    events.answer_accepted(post, comment.id, previous)
    db.session.commit()
    return comment


def unaccept(actor, comment_id: int) -> Comment:
    """Withdraw the acceptance of an answer (same people as accept). Nothing happens when the
    comment is not the accepted one."""
    pacc, comment = access.comment_for(actor, comment_id)
    post = pacc.post
    if post.kind != PostKind.QUESTION:
        raise ValidationError({"_": "Only answers to questions can be accepted."})
    if not (pacc.is_author or pacc.can_respond):
        raise Forbidden("Only the person who asked and the community's staff can change the accepted answer.")
    if post.accepted_comment_id == comment.id:
        post.accepted_comment_id = None
        events.answer_accepted(post, None, comment.id)
        db.session.commit()
    return comment


def revisions(viewer, comment_id: int) -> tuple[access.PostAccess, Comment, list[Revision]]:
    """Earlier versions of a comment, newest first: for its author and the community's staff."""
    pacc, comment = access.comment_for(viewer, comment_id)
    if not access.may_see_comment_revisions(pacc, comment, viewer):
        raise Forbidden("Only the author and the community's staff can see earlier versions.")
    rows = db.session.scalars(select(Revision).options(joinedload(Revision.editor))
                              .where(Revision.comment_id == comment.id).order_by(Revision.id.desc()))
    return pacc, comment, list(rows)


# --- reading ------------------------------------------------------------------------------

@dataclass
class ThreadItem:
    """A comment as one viewer sees it, with what they may do with it."""

    comment: Comment
    replies: list[ThreadItem] = field(default_factory=list)
    liked: bool = False
    can_edit: bool = False
    can_delete: bool = False
    can_restore: bool = False
    can_accept: bool = False
    can_like: bool = False
    can_reply: bool = False
    can_see_revisions: bool = False
    is_accepted: bool = False
    show_body: bool = True  # False: "This comment was deleted" (or hidden by a moderator)
    files: list = field(default_factory=list)

    @property
    def is_deleted(self) -> bool:
        return self.comment.deleted_at is not None

    @property
    def is_hidden(self) -> bool:
        return self.comment.hidden_at is not None

    @property
    def is_held(self) -> bool:
        return self.comment.held_at is not None


def _files_by_comment(ids: list[int]) -> dict[int, list]:
    if not ids or not hasattr(attachments, "for_comments"):
        return {}
    found = attachments.for_comments(ids)
    if isinstance(found, dict):
        return {k: list(v) for k, v in found.items()}
    grouped: dict[int, list] = {}
    for item in found or ():
        grouped.setdefault(item.comment_id, []).append(item)
    return grouped


class ThreadAuthor:
    """The few things the thread shows of a comment's author."""

    __slots__ = ("id", "display_name", "handle", "kind", "avatar_key")

    def __init__(self, id, display_name, handle, kind, avatar_key):  # noqa: A002 - the column's name
        self.id, self.display_name, self.handle, self.kind, self.avatar_key = id, display_name, handle, kind, avatar_key


_COMMENT_KEYS = tuple(Comment.__table__.c.keys())


class ThreadComment:
    """A comment as the thread shows it: every column of Comment as a plain attribute, and
    `author` (a ThreadAuthor or None). Not an ORM instance: a post page with hundreds of
    comments loads, checks and renders these several times faster (bench/pages.py), and they
    are read-only; change comments through the functions above."""

    __slots__ = (*_COMMENT_KEYS, "author")

    def __init__(self, values, author: ThreadAuthor | None):
        for key, value in zip(_COMMENT_KEYS, values, strict=True):
            setattr(self, key, value)
        self.author = author

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


def _thread_comments(post_id: int) -> list[ThreadComment]:
    """The post's comments with their authors, oldest first: one query, plain objects."""
    n = len(_COMMENT_KEYS)
    rows = db.session.execute(
        select(*Comment.__table__.c, User.id, User.display_name, User.handle, User.kind, User.avatar_key)
        .outerjoin(User, User.id == Comment.author_id).where(Comment.post_id == post_id)
        .order_by(Comment.created_at, Comment.id))
    return [ThreadComment(row[:n], ThreadAuthor(*row[n:]) if row[n] is not None else None) for row in rows]


def thread(viewer, pacc: access.PostAccess) -> list[ThreadItem]:
    """The post's comments as top-level items with their replies, for `viewer`: the accepted
    answer first on a question, then oldest first. A constant number of queries (comments with
    their authors, the viewer's likes, the attachments) whatever the number of comments."""
    post = pacc.post
    comments = _thread_comments(post.id)
    if not comments:
        return []
    ids = [c.id for c in comments]
    viewer_id = getattr(viewer, "id", None)
    liked = set(db.session.scalars(select(CommentLike.comment_id).where(
        CommentLike.user_id == viewer_id, CommentLike.comment_id.in_(ids)))) if viewer_id else set()
    files = _files_by_comment(ids)
    live_post = post.deleted_at is None and (post.locked_at is None or pacc.can_moderate)
    by_id: dict[int, ThreadItem] = {}
    comments = [c for c in comments if c.held_at is None or access.can_see_comment(pacc, c, viewer)]
    for c in comments:
        deleted = c.deleted_at is not None or c.hidden_at is not None  # hidden: like deleted for readers
        own = _is_author(viewer, c)
        by_id[c.id] = ThreadItem(
            comment=c, liked=c.id in liked,
            can_edit=access.may_edit_comment(pacc, c, viewer), can_delete=access.may_delete_comment(pacc, c, viewer),
            can_restore=c.deleted_at is not None and pacc.can_moderate, can_accept=access.may_accept_comment(pacc, c),
            can_like=live_post and not deleted and not own and viewer_id is not None,
            can_reply=live_post and not deleted,
            can_see_revisions=access.may_see_comment_revisions(pacc, c, viewer),
            is_accepted=post.accepted_comment_id == c.id,
            show_body=not deleted or pacc.can_moderate,
            files=files.get(c.id, []) if (not deleted or pacc.can_moderate) else [])
    top: list[ThreadItem] = []
    for c in comments:
        item = by_id[c.id]
        parent = by_id.get(c.parent_id) if c.parent_id else None
        if parent is None:
            top.append(item)
        else:
            parent.replies.append(item)
            if parent.is_deleted:
                item.can_reply = False  # the thread it belongs to takes no new replies
    if post.kind == PostKind.QUESTION and post.accepted_comment_id:
        top.sort(key=lambda it: not it.is_accepted)  # stable: the rest stay oldest first
    return top
