"""Rights on comments, given the viewer's PostAccess on the comment's post."""
from __future__ import annotations

from app.errors import NotFound
from app.extensions import db
from app.models import Comment, PostKind
from app.services.access.base import PostAccess, is_active_account
from app.services.access.posts import post_for


def _is_author(actor, comment: Comment) -> bool:
    return comment.author_id is not None and comment.author_id == getattr(actor, "id", None)


def can_see_comment(pacc: PostAccess, comment, user) -> bool:
    """A hidden comment is seen only by moderators and staff; a held one also by its author.
    Raises nothing."""
    if comment.hidden_at is not None and not pacc.can_moderate:
        return False
    if comment.held_at is not None and not (
            pacc.can_moderate or (is_active_account(user) and comment.author_id == user.id)):
        return False
    return True


def comment_for(actor, comment_id) -> tuple[PostAccess, Comment]:
    """Fetch a comment; returns (the actor's PostAccess on its post, the comment). Raises
    NotFound when the comment does not exist, the actor may not read its post, or it is hidden
    or held by moderation from the actor."""
    comment = db.session.get(Comment, comment_id) if isinstance(comment_id, int) else None
    if comment is None:
        raise NotFound("No such comment.")
    try:
        pacc = post_for(actor, comment.post_id, "read")
    except NotFound:
        raise NotFound("No such comment.") from None
    if not can_see_comment(pacc, comment, actor):  # hidden or held by moderation
        raise NotFound("No such comment.")
    return pacc, comment


def may_edit_comment(pacc: PostAccess, comment: Comment, actor) -> bool:
    """Moderators always; the author while neither the comment nor the post is deleted.
    Raises nothing."""
    if pacc.can_moderate:
        return True
    return _is_author(actor, comment) and comment.deleted_at is None and pacc.post.deleted_at is None


def may_delete_comment(pacc: PostAccess, comment: Comment, actor) -> bool:
    """A live comment: moderators, or its author while the post is live. Raises nothing."""
    if comment.deleted_at is not None:
        return False
    return pacc.can_moderate or (_is_author(actor, comment) and pacc.post.deleted_at is None)


def may_accept_comment(pacc: PostAccess, comment: Comment) -> bool:
    """Accept as the answer: a live top-level comment on a live question, by the question's
    author or someone who responds officially. Raises nothing."""
    post = pacc.post
    return (post.kind == PostKind.QUESTION and post.deleted_at is None and comment.parent_id is None
            and comment.deleted_at is None and (pacc.is_author or pacc.can_respond))


def may_see_comment_revisions(pacc: PostAccess, comment: Comment, actor) -> bool:
    """Moderators always; otherwise not for a deleted comment, and then official responders
    and the author. Raises nothing."""
    if pacc.can_moderate:
        return True
    if comment.deleted_at is not None:
        return False  # a deleted comment's text is for moderators only
    return pacc.can_respond or _is_author(actor, comment)
