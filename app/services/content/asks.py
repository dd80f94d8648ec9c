"""Asking a person to answer: anyone who may read a post can ask a colleague (or, in a community
externals read, anyone who may read it) to answer a question or give their view on an idea or
a discussion. The person is notified (kind "ask") only if they may read the post; each person is
asked once per post, whoever asks; the post page lists who was asked, by whom, and who answered.

Rules: the post is live and open for comments (a locked post takes no answers, so nobody is asked
to give one); the person is someone the asker may see in the directory, active, not the asker and
not the post's author; an asker asks at most ASKS_PER_POST people on one post.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload

from app import clock
from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import AnswerRequest, Comment, Community, Post, PostKind, User
from app.services import access, notifications
from app.services.experts import experts

ASKS_PER_POST = 10


@dataclass
class Asked:
    """One line of the post page's "Asked to answer" list."""

    person: User
    asker: User | None
    created_at: datetime
    answered: bool


def takes_answers(post: Post) -> bool:
    """Whether people may be asked to answer the post: it is live and takes new comments."""
    return post.deleted_at is None and post.hidden_at is None and post.held_at is None and post.locked_at is None


def _answered_since(person_id):
    """SQL: the person (`person_id`, a column or a value) wrote a live comment on the request's
    post after they were asked."""
    return exists().where(and_(Comment.post_id == AnswerRequest.post_id, Comment.author_id == person_id,
                               Comment.deleted_at.is_(None), Comment.hidden_at.is_(None),
                               Comment.created_at >= AnswerRequest.created_at))


def _clean_handle(handle) -> str:
    if not isinstance(handle, str):
        return ""
    return handle.strip().lstrip("@").strip().lower()[:80]


def ask(asker, post_id, handle) -> AnswerRequest:
    """Ask the person with `handle` to answer post `post_id`. Raises NotFound (the post),
    ValidationError (field "person": nobody by that name, not them, already asked, too many;
    "_": the post takes no answers). Commits."""
    pacc = access.post_for(asker, post_id, "read")
    post = pacc.post
    if not takes_answers(post):
        raise ValidationError({"_": "This post is locked: it takes no new answers, so nobody can be asked for one."
                               if post.locked_at is not None else "This post is not open for answers."})
    name = _clean_handle(handle)
    if not name:
        raise ValidationError({"person": "Name the person to ask, by their @name."})
    try:
        person = access.person_for(asker, name)
    except NotFound:
        raise ValidationError({"person": f"Nobody called @{name} was found."}) from None
    if person.id == asker.id:
        raise ValidationError({"person": "You cannot ask yourself."})
    if person.id == post.author_id:
        raise ValidationError({"person": f"{person.display_name} wrote this post."})
    if person.is_suspended:
        raise ValidationError({"person": f"{person.display_name} cannot be asked at the moment."})
    if not access.can_read_post(person, post):
        raise ValidationError({"person": f"{person.display_name} may not read this post, so cannot answer it."})
    earlier = db.session.scalar(select(AnswerRequest).where(AnswerRequest.post_id == post.id,
                                                            AnswerRequest.person_id == person.id))
    if earlier is not None:
        raise ValidationError({"person": f"{person.display_name} was already asked."})
    mine = db.session.scalar(select(func.count()).select_from(AnswerRequest).where(
        AnswerRequest.post_id == post.id, AnswerRequest.asker_id == asker.id)) or 0
    if mine >= ASKS_PER_POST:
        raise ValidationError({"person": f"You have asked {ASKS_PER_POST} people on this post already."})
    request = AnswerRequest(post_id=post.id, person_id=person.id, asker_id=asker.id, created_at=clock.utcnow())
    db.session.add(request)
    try:
        db.session.flush()
    except IntegrityError:  # asked by someone else a moment ago
        db.session.rollback()
        raise ValidationError({"person": f"{person.display_name} was already asked."}) from None

    what = "asks you to answer" if post.kind == PostKind.QUESTION else "asks for your view on"
    notifications.create("ask", [person.id], actor_id=asker.id, post=post,
                         text=f"{asker.display_name} {what}: {post.title}")
    db.session.commit()
    return request


def asked_on(viewer, post: Post) -> list[Asked]:
    """Who was asked to answer this post, oldest first, with whether they have commented on it
    since (a live comment). Only people the viewer may see in the directory are listed (an
    asker they may not see is shown without a name). One cheap query when nobody was asked
    (most posts), two otherwise."""
    if db.session.scalar(select(AnswerRequest.id).where(AnswerRequest.post_id == post.id).limit(1)) is None:
        return []
    person, asker = aliased(User), aliased(User)
    visible = select(User.id).where(access.people_clause(viewer))
    rows = db.session.execute(
        select(person, asker, asker.id.in_(visible), AnswerRequest.created_at,
               _answered_since(AnswerRequest.person_id))
        .join(person, person.id == AnswerRequest.person_id)
        .outerjoin(asker, asker.id == AnswerRequest.asker_id)
        .where(AnswerRequest.post_id == post.id, person.id.in_(visible))
        .order_by(AnswerRequest.created_at, AnswerRequest.id))
    return [Asked(p, a if seen else None, created_at, bool(done)) for p, a, seen, created_at, done in rows]


@dataclass
class Suggestion:
    """An expert of the post's topics who could be asked (one click on the post page)."""

    person: User
    topics: list[str]


def suggestions(viewer, post: Post, badges=None, limit: int = 4) -> list[Suggestion]:
    """The current experts of the post's topics (who may read its community: see
    app.services.experts.experts) not asked yet, neither the viewer nor the author, whom the viewer may
    see: at most `limit`, by name. `badges`: the post page's experts.badges_for_post(post), so
    that a post without experts costs no query; else they are read here. At most two queries."""
    if not takes_answers(post):
        return []
    badges = badges if badges is not None else experts.badges_for_post(post)
    topics = {user_id: names for user_id, names in badges.items() if user_id not in (viewer.id, post.author_id)}
    if not topics:
        return []
    asked = select(AnswerRequest.person_id).where(AnswerRequest.post_id == post.id)
    people = db.session.scalars(
        select(User).where(User.id.in_(list(topics)), User.id.not_in(asked), access.people_clause(viewer))
        .order_by(User.display_name, User.id).limit(limit))
    return [Suggestion(person, topics[person.id]) for person in people]


@dataclass
class Waiting:
    """A post someone asked this person to answer, and they have not yet."""

    post: Post
    asker: User | None
    created_at: datetime


def waiting_for(user, limit: int = 20) -> list[Waiting]:
    """The posts `user` was asked to answer and has not commented on since, newest ask first:
    only live, unlocked posts in communities they may read. One cheap query for someone who
    was never asked (most people, on every home page), two otherwise."""
    if db.session.scalar(select(AnswerRequest.id).where(AnswerRequest.person_id == user.id).limit(1)) is None:
        return []
    asker = aliased(User)
    readable = select(Community.id).where(access.readable_clause(user))
    rows = db.session.execute(
        select(Post, asker, AnswerRequest.created_at).options(joinedload(Post.community))
        .join(AnswerRequest, AnswerRequest.post_id == Post.id)
        .outerjoin(asker, asker.id == AnswerRequest.asker_id)
        .where(AnswerRequest.person_id == user.id, ~_answered_since(user.id), Post.deleted_at.is_(None),
               Post.hidden_at.is_(None), Post.held_at.is_(None), Post.locked_at.is_(None),
               Post.community_id.in_(readable))
        .order_by(AnswerRequest.created_at.desc(), AnswerRequest.id.desc()).limit(limit))
    return [Waiting(post, a, created_at) for post, a, created_at in rows]
