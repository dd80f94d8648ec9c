"""Posts (ideas, questions, discussions) in a community, filed under its topics; comments with
one level of replies; revisions; votes; likes; idea status changes with official responses;
attachments."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, DateTime, Enum, Float, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.extensions import db
from app.models.communities import Community, Topic
from app.models.people import User


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, native_enum=False, length=20, create_constraint=True, name=name,
                values_callable=lambda e: [m.value for m in e])


class PostKind(enum.StrEnum):
    IDEA = "idea"
    QUESTION = "question"
    DISCUSSION = "discussion"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class IdeaStatus(enum.StrEnum):
    NEW = "new"
    UNDER_REVIEW = "under_review"
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    DECLINED = "declined"
    DUPLICATE = "duplicate"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


post_topics = Table(
    "post_topics",
    db.metadata,
    Column("post_id", ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_post_topics_topic_id_post_id", "topic_id", "post_id"),
)


class Post(db.Model):
    __tablename__ = "posts"
    __table_args__ = (
        # one index per sort order of the community page (keyset pagination)
        Index("ix_posts_community_hot", "community_id", "hot", "id"),
        Index("ix_posts_community_created", "community_id", "created_at", "id"),
        Index("ix_posts_community_votes", "community_id", "vote_count", "id"),
        Index("ix_posts_community_activity", "community_id", "last_activity_at", "id"),
        Index("ix_posts_activity", "last_activity_at", "id"),
        Index("ix_posts_author_id", "author_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[PostKind] = mapped_column(_enum(PostKind, "post_kind"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")  # rendered and sanitised once
    status: Mapped[IdeaStatus | None] = mapped_column(_enum(IdeaStatus, "idea_status"))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"))
    accepted_comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="SET NULL", use_alter=True))
    vote_count: Mapped[int] = mapped_column(Integer, default=0)
    comment_count: Mapped[int] = mapped_column(Integer, default=0)
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    hot: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_activity_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
    first_official_response_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # moderation (app.services.moderation): hidden from all but moderators; locked: no new
    # comments; held: waits for review (pre-moderation), seen by its author and moderators
    hidden_at: Mapped[datetime | None] = mapped_column(DateTime)
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    locked_at: Mapped[datetime | None] = mapped_column(DateTime)
    held_at: Mapped[datetime | None] = mapped_column(DateTime)
    held_reason: Mapped[str | None] = mapped_column(String(300))

    community: Mapped[Community] = relationship()
    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    topics: Mapped[list[Topic]] = relationship(secondary=post_topics, order_by=Topic.name)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Comment(db.Model):
    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_post_created", "post_id", "created_at", "id"),
                      Index("ix_comments_author_id", "author_id", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    like_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    hidden_at: Mapped[datetime | None] = mapped_column(DateTime)  # moderation, see Post
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    held_at: Mapped[datetime | None] = mapped_column(DateTime)
    held_reason: Mapped[str | None] = mapped_column(String(300))

    author: Mapped[User | None] = relationship(foreign_keys=[author_id])

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Revision(db.Model):
    """An earlier version of a post or comment, kept at every edit (nothing is lost)."""

    __tablename__ = "revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    title: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)

    editor: Mapped[User | None] = relationship()


class Vote(db.Model):
    __tablename__ = "votes"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)

    user: Mapped[User] = relationship()


class CommentLike(db.Model):
    __tablename__ = "comment_likes"

    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)


class StatusChange(db.Model):
    """An idea's status change, always with an official response."""

    __tablename__ = "status_changes"
    __table_args__ = (Index("ix_status_changes_post_created", "post_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    from_status: Mapped[IdeaStatus | None] = mapped_column(_enum(IdeaStatus, "from_status"))
    to_status: Mapped[IdeaStatus] = mapped_column(_enum(IdeaStatus, "to_status"))
    response: Mapped[str] = mapped_column(Text)
    response_html: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)

    actor: Mapped[User | None] = relationship()


class Attachment(db.Model):
    """An image or video attached to a post or a comment (files live in app.services.platform.storage)."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    media: Mapped[str] = mapped_column(String(10))  # "image" | "video"
    key: Mapped[str] = mapped_column(String(200))
    thumb_key: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    original_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
    # A pending upload (kept from a form that was refused, not yet on a post or comment): the
    # token the form sends back to claim it; None once attached (app.services.content.attachments.hold)
    pending_token: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)


class PostRead(db.Model):
    """When a person last opened a post (unread markers)."""

    __tablename__ = "post_reads"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)


class AnswerRequest(db.Model):
    """Someone asked a person to answer a post (a question) or give their view (an idea, a
    discussion); each person is asked once per post."""

    __tablename__ = "answer_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    asker_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)

    person: Mapped[User] = relationship(foreign_keys=[person_id])
    asker: Mapped[User | None] = relationship(foreign_keys=[asker_id])

    __table_args__ = (Index("ux_answer_requests_post_person", "post_id", "person_id", unique=True),)
