"""Follow a post, a topic or a community to be notified of what happens there."""
from __future__ import annotations

from sqlalchemy import delete, select

from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import Follow, Topic
from app.services import access

TARGETS = ("post", "topic", "community")


def _authorize(user, target_type: str, target_id: int) -> None:
    """The follower must be able to read what they follow (NotFound otherwise)."""
    if target_type == "post":
        access.post_for(user, target_id, "read")
    elif target_type == "topic":
        topic = db.session.get(Topic, target_id)
        if topic is None:
            raise NotFound("No such topic.")
        access.community_by_id_for(user, topic.community_id, "read")
    elif target_type == "community":
        access.community_by_id_for(user, target_id, "read")
    else:
        raise ValidationError({"target": "You can follow a post, a topic or a community."})


def ensure(user, target_type: str, target_id: int) -> None:
    """Follow without checks or commit (the caller already authorized, e.g. the author)."""
    exists = db.session.scalar(select(Follow.id).where(
        Follow.user_id == user.id, Follow.target_type == target_type, Follow.target_id == target_id))
    if exists is None:
        db.session.add(Follow(user_id=user.id, target_type=target_type, target_id=target_id))


def follow(user, target_type: str, target_id: int) -> None:
    """Follow a post, topic or community the person may read (already following: no change).
    Raises NotFound (no such target, or one they may not read), ValidationError (unknown target type)."""
    _authorize(user, target_type, target_id)
    ensure(user, target_type, target_id)
    db.session.commit()


def unfollow(user, target_type: str, target_id: int) -> None:
    """Stop following a target (not following: no change). Raises ValidationError for an unknown target type."""
    if target_type not in TARGETS:
        raise ValidationError({"target": "You can follow a post, a topic or a community."})
    db.session.execute(delete(Follow).where(Follow.user_id == user.id, Follow.target_type == target_type,
                                            Follow.target_id == target_id))
    db.session.commit()


def is_following(user, target_type: str, target_id: int) -> bool:
    """Whether the person follows this target. Raises nothing."""
    return db.session.scalar(select(Follow.id).where(
        Follow.user_id == user.id, Follow.target_type == target_type, Follow.target_id == target_id)) is not None


def followers(target_type: str, target_id: int) -> select:
    """A SELECT of the user ids following a target (for notification fan-out)."""
    return select(Follow.user_id).where(Follow.target_type == target_type, Follow.target_id == target_id)


def move(from_type: str, from_id: int, to_id: int) -> None:
    """Move every follower of one target to another of the same type (idea merges), without
    duplicates. In the caller's transaction."""
    existing = set(db.session.scalars(select(Follow.user_id).where(
        Follow.target_type == from_type, Follow.target_id == to_id)))
    for row in db.session.scalars(select(Follow).where(Follow.target_type == from_type, Follow.target_id == from_id)):
        if row.user_id in existing:
            db.session.delete(row)
        else:
            row.target_id = to_id
            existing.add(row.user_id)


