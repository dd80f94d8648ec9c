"""Experts linked to topics: assignments (with their whole history), per-community escalation
settings, escalations of overdue questions and ideas, topics flagged for having no expert, and
the record of who was told about a new post as its expert.

Rows are never deleted by the experts feature: removing an expert sets `removed_at`, so who
owned a topic when is always known (metrics use those intervals).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.extensions import db
from app.models.communities import Community, Topic
from app.models.people import User

DEFAULT_ESCALATION_HOURS = 48


class ExpertAssignment(db.Model):
    """A person owning a topic from `assigned_at` until `removed_at` (NULL: still an expert)."""

    __tablename__ = "expert_assignments"
    __table_args__ = (
        # at most one current assignment per (topic, person); removed ones are history
        Index("ux_expert_assignments_current", "topic_id", "user_id", unique=True,
              sqlite_where=text("removed_at IS NULL"), postgresql_where=text("removed_at IS NULL")),
        Index("ix_expert_assignments_topic_removed", "topic_id", "removed_at"),
        Index("ix_expert_assignments_user_removed", "user_id", "removed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    note: Mapped[str] = mapped_column(String(200), default="")
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime)
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    topic: Mapped[Topic] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    assigned_by: Mapped[User | None] = relationship(foreign_keys=[assigned_by_id])
    removed_by: Mapped[User | None] = relationship(foreign_keys=[removed_by_id])

    @property
    def is_current(self) -> bool:
        return self.removed_at is None


class ExpertSettings(db.Model):
    """A community's expert settings; no row means the defaults."""

    __tablename__ = "expert_settings"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    escalation_hours: Mapped[int] = mapped_column(Integer, default=DEFAULT_ESCALATION_HOURS)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Escalation(db.Model):
    """A question or idea that went past its community's answer time. The open ones
    (`resolved_at` NULL) are the needs-attention queue; `resolved_at` is set once it got its
    expert/staff answer or official response, or was deleted. `notified`: how many managers
    were told (0 for items that were already long overdue when first seen)."""

    __tablename__ = "escalations"
    __table_args__ = (
        Index("ix_escalations_community_open", "community_id", "resolved_at", "posted_at"),
        Index("ix_escalations_open", "resolved_at", "posted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), unique=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    posted_at: Mapped[datetime] = mapped_column(DateTime)  # the post's created_at (queue order)
    due_at: Mapped[datetime] = mapped_column(DateTime)
    escalated_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
    notified: Mapped[int] = mapped_column(Integer, default=0)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)

    community: Mapped[Community] = relationship()


class TopicFlag(db.Model):
    """A topic that had no expert for longer than its community's answer time; managers were
    told once per such gap (a gap starts when the topic is made or its last expert leaves)."""

    __tablename__ = "expert_topic_flags"
    __table_args__ = (UniqueConstraint("topic_id", "gap_since"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    gap_since: Mapped[datetime] = mapped_column(DateTime)
    flagged_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
    notified: Mapped[int] = mapped_column(Integer, default=0)


class ExpertRoute(db.Model):
    """An expert who was told about a new question or idea in their topic (so nobody is told
    twice, whatever their notification settings and however often the post is edited)."""

    __tablename__ = "expert_routes"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    routed_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
