"""Fanout: who is told about what is new (mentions, replies, followers, the topic's experts).

Each `after_*` is called by the content service inside its transaction and enqueues a job, so
the fanout runs only if the change commits, off the request. The jobs (`notify.*`; their names
are stored in the jobs table, keep them) call app.services.notifications.create for each
audience, most specific first, each person once.
"""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Comment, Notification, Post, User, Vote
from app.services.community import follows
from app.services.experts import experts
from app.services.notifications import create
from app.services.platform import jobs, markup


def after_new_post(post: Post) -> None:
    """Queue the fanout of a new (or newly published) post. Returns nothing."""
    jobs.enqueue("notify.new_post", {"post_id": post.id})


def after_post_edited(post: Post, editor: User) -> None:
    """Mentions added by an edit notify too (each person once per post); a staff edit tells
    the author."""
    jobs.enqueue("notify.post_edited", {"post_id": post.id, "editor_id": editor.id})


def after_comment(comment: Comment) -> None:
    """Queue the fanout of a new (or newly published) comment. Returns nothing."""
    jobs.enqueue("notify.comment", {"comment_id": comment.id})


def after_comment_edited(comment: Comment) -> None:
    """People newly mentioned by an edit are told (each once per comment)."""
    jobs.enqueue("notify.comment_edited", {"comment_id": comment.id})


def after_status_change(post: Post, actor: User, text: str) -> None:
    """Queue telling an idea's voters and followers of its new status. Returns nothing."""
    jobs.enqueue("notify.status", {"post_id": post.id, "actor_id": actor.id, "text": text[:300]})


def after_accepted(comment: Comment, actor: User) -> None:
    """Queue telling an answer's author that it was accepted. Returns nothing."""
    jobs.enqueue("notify.accepted", {"comment_id": comment.id, "actor_id": actor.id})


def _mentioned_ids(text: str) -> list[int]:
    handles = markup.mentioned_handles(text)[:50]
    if not handles:
        return []
    return list(db.session.scalars(select(User.id).where(User.handle.in_(handles))))


def _already_notified(post_id: int, kind: str) -> set[int]:
    return set(db.session.scalars(select(Notification.user_id).where(
        Notification.post_id == post_id, Notification.kind == kind)))


@jobs.handler("notify.new_post")
def _new_post(payload: dict) -> None:
    post = db.session.get(Post, payload["post_id"])
    if post is None or post.deleted_at is not None:
        return
    author = post.author.display_name if post.author else "Someone"
    mentioned = _mentioned_ids(post.body)
    done = set(create("mention", mentioned, actor_id=post.author_id, post=post,
                      text=f"{author} mentioned you in “{post.title}”", exclude=_already_notified(post.id, "mention")))
    done |= experts.route(post, already_told=done)  # the topic's experts first, once each
    audience = set(db.session.scalars(follows.followers("community", post.community_id)))
    for topic in post.topics:
        audience |= set(db.session.scalars(follows.followers("topic", topic.id)))
    create("new_post", audience, actor_id=post.author_id, post=post,
           text=f"New {post.kind.value} by {author}: “{post.title}”",
           exclude=done | _already_notified(post.id, "new_post"))


@jobs.handler("notify.post_edited")
def _post_edited(payload: dict) -> None:
    post = db.session.get(Post, payload["post_id"])
    if post is None or post.deleted_at is not None:
        return
    editor = db.session.get(User, payload["editor_id"])
    name = editor.display_name if editor else "Someone"
    mentioned = create("mention", _mentioned_ids(post.body), actor_id=payload["editor_id"], post=post,
                       text=f"{name} mentioned you in “{post.title}”", exclude=_already_notified(post.id, "mention"))
    experts.route(post, already_told=set(mentioned), open_only=True)  # moved into a topic: its experts
    if post.author_id and post.author_id != payload["editor_id"]:
        create("moderation", [post.author_id], actor_id=payload["editor_id"], post=post,
               text=f"{name} edited your post “{post.title}”")


@jobs.handler("notify.comment")
def _comment(payload: dict) -> None:
    comment = db.session.get(Comment, payload["comment_id"])
    if comment is None or comment.deleted_at is not None:
        return
    post = db.session.get(Post, comment.post_id)
    author = comment.author.display_name if comment.author else "Someone"
    done = set(create("mention", _mentioned_ids(comment.body), actor_id=comment.author_id, post=post,
                      comment=comment, text=f"{author} mentioned you in a comment on “{post.title}”"))
    if comment.parent_id:
        parent = db.session.get(Comment, comment.parent_id)
        if parent and parent.author_id:
            done |= set(create("reply", [parent.author_id], actor_id=comment.author_id, post=post,
                               comment=comment, text=f"{author} replied to your comment on “{post.title}”",
                               exclude=done))
    create("comment", db.session.scalars(follows.followers("post", post.id)), actor_id=comment.author_id,
           post=post, comment=comment, text=f"{author} commented on “{post.title}”", exclude=done)
    experts.recheck(post)  # an expert's or staff answer takes it out of the needs-attention queue


@jobs.handler("notify.comment_edited")
def _comment_edited(payload: dict) -> None:
    comment = db.session.get(Comment, payload["comment_id"])
    if comment is None or comment.deleted_at is not None:
        return
    post = db.session.get(Post, comment.post_id)
    told = set(db.session.scalars(select(Notification.user_id).where(
        Notification.comment_id == comment.id, Notification.kind == "mention")))
    author = comment.author.display_name if comment.author else "Someone"
    create("mention", _mentioned_ids(comment.body), actor_id=comment.author_id, post=post, comment=comment,
           text=f"{author} mentioned you in a comment on “{post.title}”", exclude=told)


@jobs.handler("notify.status")
def _status(payload: dict) -> None:
    post = db.session.get(Post, payload["post_id"])
    if post is None:
        return
    voters = set(db.session.scalars(select(Vote.user_id).where(Vote.post_id == post.id)))
    audience = voters | set(db.session.scalars(follows.followers("post", post.id)))
    create("status", audience, actor_id=payload["actor_id"], post=post, text=payload["text"])
    experts.recheck(post)  # an official response takes it out of the needs-attention queue


@jobs.handler("notify.accepted")
def _accepted(payload: dict) -> None:
    comment = db.session.get(Comment, payload["comment_id"])
    if comment is None or comment.author_id is None:
        return
    post = db.session.get(Post, comment.post_id)
    create("accepted", [comment.author_id], actor_id=payload["actor_id"], post=post, comment=comment,
           text=f"Your answer on “{post.title}” was accepted")
    experts.recheck(post)  # an accepted answer takes it out of the needs-attention queue
