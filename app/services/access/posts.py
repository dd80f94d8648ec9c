"""Rights on posts: fetch-and-authorize, who edits, deletes, moderates and responds officially,
and which posts a viewer sees (hidden and held posts, readable-post clauses)."""
from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from app.errors import Forbidden, NotFound
from app.extensions import db
from app.models import Community, Post
from app.services.access import experts as expert_rules
from app.services.access.base import CommunityAccess, PostAccess, access_to, is_active_account, readable_clause


def can_respond_officially(user, community_access: CommunityAccess, post) -> bool:
    """Whether the viewer speaks for the organisation on a post: the community's managers,
    staff, and the current experts of the post's topics. Raises nothing."""
    if not is_active_account(user) or not community_access.can_read:
        return False
    if community_access.can_manage:
        return True
    return expert_rules.is_expert_for(user, post)


def post_access(user, post, community_access: CommunityAccess | None = None) -> PostAccess:
    """The viewer's rights on a post as a PostAccess (its community's access is loaded unless
    given). Raises nothing."""
    acc = community_access or access_to(user, post.community)
    author = is_active_account(user) and post.author_id == user.id
    moderate = acc.can_moderate
    live = post.deleted_at is None
    return PostAccess(
        post=post, community=acc, is_author=author,
        can_edit=acc.can_read and ((author and live) or moderate),
        can_delete=acc.can_read and live and (author or moderate),
        can_moderate=moderate,
        can_respond=live and can_respond_officially(user, acc, post),
    )


def can_see_post(pacc: PostAccess) -> bool:
    """Moderation: a hidden post is seen only by the community's moderators and staff; a post
    held for review also by its author. Raises nothing."""
    post = pacc.post
    if getattr(post, "hidden_at", None) is not None and not pacc.can_moderate:
        return False
    if getattr(post, "held_at", None) is not None and not (pacc.can_moderate or pacc.is_author):
        return False
    return True


def moderation_visible_clause(user, community_access: CommunityAccess | None = None) -> ColumnElement[bool]:
    """A WHERE clause on Post for lists in one community (or, without it, anywhere): hidden
    posts only for its moderators, held posts for them and the author. Raises nothing."""
    if community_access is not None and community_access.can_moderate:
        return true()
    mine = Post.author_id == user.id if is_active_account(user) else false()
    return and_(Post.hidden_at.is_(None), or_(Post.held_at.is_(None), mine))


def post_for(user, post_id: int, action: str = "read") -> PostAccess:
    """Fetch a post and authorize `action` ("read", "edit", "delete", "moderate", "respond");
    returns its PostAccess.

    Raises NotFound when the viewer may not read its community, or the post is deleted and the
    viewer is neither its author nor a moderator; Forbidden when it may read but not do
    `action`; ValueError for an unknown action."""
    post = db.session.get(Post, post_id) if isinstance(post_id, int) else None
    if post is None:
        raise NotFound("No such post.")
    acc = post_access(user, post)
    if not acc.community.can_read:
        raise NotFound("No such post.")
    if post.deleted_at is not None and not (acc.is_author or acc.can_moderate):
        raise NotFound("This post was deleted.")
    if not can_see_post(acc):
        raise NotFound("No such post.")
    allowed = {"read": True, "edit": acc.can_edit, "delete": acc.can_delete,
               "moderate": acc.can_moderate, "respond": acc.can_respond}
    if action not in allowed:
        raise ValueError(f"unknown action {action!r}")
    if not allowed[action]:
        messages = {"edit": "Only the author and the community's moderators can edit this.",
                    "delete": "Only the author and the community's moderators can delete this.",
                    "moderate": "Only the community's moderators can do this.",
                    "respond": "Only the community's managers and the topic's experts can do this."}
        raise Forbidden(messages[action])
    return acc


def readable_posts_clause(user) -> ColumnElement[bool]:
    """A WHERE clause on Post: live posts in communities the viewer may read, neither hidden
    by moderation nor held for review (search, feeds, notifications). Raises nothing."""
    return and_(Post.deleted_at.is_(None), Post.hidden_at.is_(None), Post.held_at.is_(None),
                Post.community_id.in_(select(Community.id).where(readable_clause(user))))


def can_read_post(user, post) -> bool:
    """For notifications and mentions: may this person read this (live) post now? Raises nothing."""
    if post is None or post.deleted_at is not None:
        return False
    if post.hidden_at is not None or post.held_at is not None:
        return post_access(user, post).can_moderate  # hidden / held: moderators only
    return access_to(user, post.community).can_read
