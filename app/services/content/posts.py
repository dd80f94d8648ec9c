"""Posts: create, edit (every earlier version kept), soft delete and restore, the community
page (sort, filter, keyset pagination), the home feed and unread markers.

Lists load in a constant number of queries: the posts with their authors (joined), their
topics (one IN query), the viewer's votes and read markers (one query each).
"""
from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exists, or_, select, tuple_, update
from sqlalchemy.orm import joinedload, selectinload

from app import clock, events, inputs
from app.errors import Forbidden, ValidationError
from app.extensions import db
from app.models import (
    Community,
    Follow,
    IdeaStatus,
    Membership,
    Post,
    PostKind,
    PostRead,
    Revision,
    Topic,
    Vote,
    post_topics,
)
from app.services import access
from app.services.community import follows, policy
from app.services.content import attachments, fanout, premoderation, reads
from app.services.content import reads as read_markers
from app.services.platform import markup

TITLE_MIN, TITLE_MAX, BODY_MAX = 5, 200, 20_000
SORTS = ("hot", "new", "top", "active")
PAGE_SIZE = 20
_EPOCH = datetime(2024, 1, 1)


def hot_score(votes: int, comments: int, created_at: datetime) -> float:
    """Reddit-style: log of engagement plus a bonus for recency (no decay job needed)."""
    engagement = max(votes * 2 + comments, 1)
    return round(math.log10(engagement) + (created_at - _EPOCH).total_seconds() / 45_000, 7)


def refresh_hot(post: Post) -> None:
    """Recompute the post's hot score from its votes, comments and age (the caller commits). Raises nothing."""
    post.hot = hot_score(post.vote_count, post.comment_count, post.created_at)


# --- validation ---------------------------------------------------------------------------

def clean_fields(kind: str, title: str, body: str) -> tuple[PostKind, str, str]:
    """The post's (kind, title, body), checked and trimmed (posts and moderation edits).
    Raises ValidationError naming the fields at fault."""
    errors = {}
    try:
        kind = PostKind(kind)
    except ValueError:
        errors["kind"] = "Choose idea, question or discussion."
    title = " ".join((title or "").split())
    if len(title) < TITLE_MIN:
        errors["title"] = f"Write a title of at least {TITLE_MIN} characters."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Use at most {TITLE_MAX} characters (you wrote {len(title)})."
    body = (body or "").replace("\r\n", "\n").strip()
    if len(body) > BODY_MAX:
        errors["body"] = f"Use at most {BODY_MAX:,} characters (you wrote {len(body):,})."
    if "\x00" in title or "\x00" in body:
        errors["body"] = "The text contains a character that cannot be stored."
    if errors:
        raise ValidationError(errors)
    return kind, title, body


def _topics(community: Community, topic_ids) -> list[Topic]:
    ids = set()
    for raw in topic_ids or ():
        ids.add(inputs.as_id(raw, "topics", message="Choose topics from the list."))
    topics = list(db.session.scalars(select(Topic).where(Topic.community_id == community.id, Topic.id.in_(ids)))) if ids else []
    if len(topics) != len(ids):
        raise ValidationError({"topics": "Choose topics of this community."})
    has_topics = db.session.scalar(select(exists().where(Topic.community_id == community.id)))
    if has_topics and not topics:
        raise ValidationError({"topics": "File it under at least one topic."})
    return topics


# --- writing ------------------------------------------------------------------------------

def create(author, slug: str, kind: str, title: str, body: str, topic_ids=(), *, files=(),
           pending=(), confirm_sensitive: bool = False, accept_guidelines: bool = False) -> Post:
    """Post in a community the author may read, with `files` and the author's pending uploads
    named by the tokens in `pending` (app.services.content.attachments.hold). Returns the post.
    `accept_guidelines`: the author accepts the guidelines that apply there in the same
    transaction (stored only if the post is).

    Raises NotFound (community), ValidationError (fields, topics, attachments, pre-moderation:
    "body" when a rule blocks it, "confirm_sensitive" when it looks like personal data in a
    community externals read). The author follows their post; mentioned people who may read it
    and followers of its topics and community are notified after the commit (through a job).
    A post held by pre-moderation (post.held_at) is seen by its author and moderators only and
    announced when approved."""
    acc = access.community_for(author, slug, "read")
    kind, title, body = clean_fields(kind, title, body)

    if accept_guidelines:
        policy.accept(author, acc.community.id, commit=False)
    policy.require_accepted(author, acc.community.id)  # the social policy, accepted before writing
    topics = _topics(acc.community, topic_ids)

    held = premoderation.check_post(author, acc, title, body, confirm_sensitive=confirm_sensitive)

    uploads = attachments.prepare(files)  # images re-encoded before the first write (no lock held)
    now = clock.utcnow()
    post = Post(community_id=acc.community.id, author_id=author.id, kind=kind, title=title, body=body,
                body_html=markup.to_html(body, embeds=True), topics=topics, created_at=now,
                last_activity_at=now, status=IdeaStatus.NEW if kind == PostKind.IDEA else None,
                vote_count=0, comment_count=0, view_count=0,
                held_at=now if held else None, held_reason=held[:300] if held else None)
    refresh_hot(post)
    db.session.add(post)
    db.session.flush()
    if uploads or pending:
        attachments.attach(author, uploads, post=post, pending=pending)

    follows.ensure(author, "post", post.id)
    if not held:
        fanout.after_new_post(post)
        events.post_created(post)
    db.session.commit()
    return post


def edit(actor, post_id: int, title: str, body: str, topic_ids=(), reason: str = "", *, files=(),
         pending=()) -> Post:
    """Change title, body and topics. The previous version is kept as a Revision. A moderator
    editing someone else's post must give a reason. Raises Forbidden, NotFound, ValidationError."""
    pacc = access.post_for(actor, post_id, "edit")
    post = pacc.post
    _kind, title, body = clean_fields(post.kind, title, body)
    topics = _topics(pacc.community.community, topic_ids)
    reason = (reason or "").strip()
    if not pacc.is_author and not reason:
        raise ValidationError({"reason": "Say why you edit someone else's post; the author will see it."})
    unchanged = title == post.title and body == post.body and {t.id for t in topics} == {t.id for t in post.topics}
    if unchanged and not files and not pending:
        return post

    uploads = attachments.prepare(files)  # images re-encoded before the first write (no lock held)
    db.session.add(Revision(post_id=post.id, title=post.title, body=post.body, editor_id=actor.id,
                            reason=reason[:500] or None, created_at=clock.utcnow()))
    post.title, post.body, post.topics = title, body, topics
    post.body_html = markup.to_html(body, embeds=True)
    post.edited_at = clock.utcnow()
    if uploads or pending:
        attachments.attach(actor, uploads, post=post, pending=pending)

    fanout.after_post_edited(post, actor)
    db.session.commit()
    return post


def delete(actor, post_id: int) -> Post:
    """Soft-delete (author or moderators). Nothing is removed; moderators can restore."""
    post = access.post_for(actor, post_id, "delete").post
    post.deleted_at, post.deleted_by_id = clock.utcnow(), actor.id
    db.session.commit()
    return post


def restore(actor, post_id: int) -> Post:
    """Undo a deletion (moderators only)."""
    post = access.post_for(actor, post_id, "moderate").post
    post.deleted_at = post.deleted_by_id = None
    db.session.commit()
    return post


def revisions(viewer, post_id: int) -> tuple[access.PostAccess, list[Revision]]:
    """Earlier versions, newest first: for the author and the community's moderators."""
    pacc = access.post_for(viewer, post_id, "read")
    if not (pacc.is_author or pacc.can_moderate or pacc.can_respond):
        raise Forbidden("Only the author and the community's staff can see earlier versions.")
    rows = db.session.scalars(select(Revision).options(joinedload(Revision.editor))
                              .where(Revision.post_id == post_id).order_by(Revision.id.desc()))
    return pacc, list(rows)


def mark_read(viewer, post) -> None:
    """Remember that the viewer saw the post as it is now (unread markers); the first time
    counts a view. `post`: the Post or its id (the caller has checked that the viewer may read
    it). Queued, not written: no write lock, and the viewer's next page already shows it read
    (app.services.content.reads writes the queue within a second; `reads.flush()` writes it now)."""
    reads.note(viewer.id, post if isinstance(post, int) else post.id, clock.utcnow())


# --- reading ------------------------------------------------------------------------------

@dataclass
class PostRow:
    post: Post
    unread: bool
    voted: bool


@dataclass
class Page:
    rows: list[PostRow] = field(default_factory=list)
    next_cursor: str | None = None


def _sort_columns(sort: str):
    return {"hot": Post.hot, "new": Post.created_at, "top": Post.vote_count,
            "active": Post.last_activity_at}[sort]


def encode_cursor(sort: str, post: Post) -> str:
    """The opaque next-page cursor after `post` in a list sorted by `sort` (read by decode_cursor).
    Raises KeyError for a sort not in SORTS."""
    value = getattr(post, {"hot": "hot", "new": "created_at", "top": "vote_count", "active": "last_activity_at"}[sort])
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps([sort, value, post.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str | None):
    """(value, id) from a cursor made for `sort`; None for no/garbled cursor."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        c_sort, value, post_id = json.loads(raw)
        if c_sort != sort or inputs.id_or_none(post_id) is None:
            return None
        if sort in ("new", "active"):
            value = datetime.fromisoformat(value)
        elif sort == "top":
            value = inputs.as_int(value, "cursor")
        else:
            value = float(value)
        return value, post_id
    except (ValueError, TypeError, json.JSONDecodeError, ValidationError):
        return None


def _page(viewer, stmt, sort: str, cursor: str | None, limit: int, *options) -> Page:
    column = _sort_columns(sort)
    after = decode_cursor(sort, cursor)
    if after is not None:
        stmt = stmt.where(tuple_(column, Post.id) < tuple_(*after))
    stmt = stmt.order_by(column.desc(), Post.id.desc()).limit(limit + 1)
    posts = list(db.session.scalars(stmt.options(joinedload(Post.author), selectinload(Post.topics),
                                                 *options)).unique())
    more = len(posts) > limit
    posts = posts[:limit]
    return Page(_rows(viewer, posts), encode_cursor(sort, posts[-1]) if more and posts else None)


def _rows(viewer, posts: list[Post]) -> list[PostRow]:
    ids = [p.id for p in posts]
    if not ids:
        return []
    voted = set(db.session.scalars(select(Vote.post_id).where(Vote.user_id == viewer.id, Vote.post_id.in_(ids))))

    reads = read_markers.read_at(viewer.id, ids)
    return [PostRow(p, unread=_new_activity(p, reads.get(p.id)), voted=p.id in voted) for p in posts]


def _new_activity(post: Post, read_at: datetime | None) -> bool:
    """"New activity": the viewer saw the post (its read marker) and something happened on it
    since (a comment, a status change: last_activity_at). A post they never opened has no
    "since" and gets no marker, so a first visit is not a wall of "New activity"; their own
    comments and responses move their marker along (keep_seen)."""
    return read_at is not None and read_at < post.last_activity_at


def keep_seen(user, post_id: int, when: datetime) -> None:
    """The person just added to the post (a comment, a response): what they did is not news to
    them. Moves an existing read marker (in the table, or still queued) to `when`; no marker is
    made and no view counted. Runs in the caller's transaction."""
    read_markers.advance(user.id, post_id, when)
    db.session.execute(update(PostRead).where(PostRead.user_id == user.id, PostRead.post_id == post_id,
                                              PostRead.read_at < when)
                       .values(read_at=when).execution_options(synchronize_session=False))


# An idea merged into another (status "duplicate") lives on only as a redirect to the idea it
# was merged into: its votes and followers moved there, so lists and feeds leave it out.
NOT_MERGED = Post.duplicate_of_id.is_(None)


def community_page(viewer, acc: access.CommunityAccess, *, sort: str = "hot", kind: str | None = None,
                   topic: Topic | None = None, status: str | None = None, cursor: str | None = None,
                   limit: int = PAGE_SIZE) -> Page:
    """A page of the community's live posts for a viewer who may read it (ideas merged into
    another one only when `status` asks for "duplicate")."""
    sort = sort if sort in SORTS else "hot"
    stmt = select(Post).where(Post.community_id == acc.community.id, Post.deleted_at.is_(None),
                              access.moderation_visible_clause(viewer, acc))
    if kind in {k.value for k in PostKind}:
        stmt = stmt.where(Post.kind == PostKind(kind))
    if status in {s.value for s in IdeaStatus}:
        stmt = stmt.where(Post.status == IdeaStatus(status))
    if status != IdeaStatus.DUPLICATE.value:
        stmt = stmt.where(NOT_MERGED)  # merged ideas: only under the explicit "Duplicate" filter
    if topic is not None:
        # EXISTS, not IN: SQLite then walks the sort order's index and stops after a page, where
        # IN (...) made it fetch and sort every post of the topic (EXPLAIN QUERY PLAN).
        stmt = stmt.where(exists().where(post_topics.c.post_id == Post.id, post_topics.c.topic_id == topic.id))
    return _page(viewer, stmt, sort, cursor, limit)


def home_feed(viewer, *, cursor: str | None = None, limit: int = PAGE_SIZE) -> Page:
    """Recently active posts from the communities the person belongs to or follows, the topics
    and posts they follow — only what they may read now."""
    member_of = select(Membership.community_id).where(Membership.user_id == viewer.id)
    followed_communities = select(Follow.target_id).where(Follow.user_id == viewer.id, Follow.target_type == "community")
    followed_topics = select(Follow.target_id).where(Follow.user_id == viewer.id, Follow.target_type == "topic")
    followed_posts = select(Follow.target_id).where(Follow.user_id == viewer.id, Follow.target_type == "post")
    readable = select(Community.id).where(access.readable_clause(viewer))
    stmt = select(Post).where(
        Post.deleted_at.is_(None), Post.community_id.in_(readable), access.moderation_visible_clause(viewer),
        NOT_MERGED,
        or_(Post.community_id.in_(member_of), Post.community_id.in_(followed_communities),
            Post.id.in_(followed_posts),
            Post.id.in_(select(post_topics.c.post_id).where(post_topics.c.topic_id.in_(followed_topics)))))
    return _page(viewer, stmt, "active", cursor, limit, joinedload(Post.community))  # shown on each row


def touch(post: Post, when: datetime | None = None) -> None:
    """Mark new activity on a post (comment, status change): moves it up in 'active'."""
    post.last_activity_at = when or clock.utcnow()

