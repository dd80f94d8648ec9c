"""Moderation: reports on posts, comments and chat messages; staff-only internal notes on
posts; pre-moderation rules (watched words and patterns) and per-community moderation settings.

What moderation does to content lives on the content itself (Post/Comment hidden_at, locked_at,
held_at; ChatMessage hidden_at): nothing is ever deleted by moderation, every action is undone
by its opposite, and every action is in the audit log (app.models.audit).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.extensions import db
from app.models.people import User

TARGET_TYPES = ("post", "comment", "chat")
REPORT_CATEGORIES = {
    "spam": "Spam or advertising",
    "abuse": "Harassment, hate or abuse",
    "confidential": "Confidential or personal data",
    "illegal": "Illegal content",
    "off_topic": "Off topic or in the wrong place",
    "other": "Something else",
}


class Report(db.Model):
    """Someone's report of a post, comment or chat message. One open report per person per target
    (a partial unique index, enforced by the service too)."""

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_status_community", "status", "community_id", "id"),
        Index("ix_reports_target", "target_type", "target_id", "status"),
        Index("uq_reports_open_per_reporter", "reporter_id", "target_type", "target_id", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    target_type: Mapped[str] = mapped_column(String(10))
    target_id: Mapped[int] = mapped_column(Integer)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | dismissed | actioned
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolution: Mapped[str | None] = mapped_column(String(500))

    reporter: Mapped[User | None] = relationship(foreign_keys=[reporter_id])

    @property
    def category_label(self) -> str:
        return REPORT_CATEGORIES.get(self.category, self.category)


class InternalNote(db.Model):
    """A staff-only note on a post (never shown to externals or plain members)."""

    __tablename__ = "internal_notes"
    __table_args__ = (Index("ix_internal_notes_post", "post_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)

    author: Mapped[User | None] = relationship()


class WatchRule(db.Model):
    """A watched word or regular expression. community_id None: global (the social team).
    action "block" refuses the post with `public_message`; "hold" keeps it for review."""

    __tablename__ = "watch_rules"
    __table_args__ = (Index("ix_watch_rules_community", "community_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    pattern: Mapped[str] = mapped_column(String(300))
    is_regex: Mapped[bool] = mapped_column(Boolean, default=False)
    action: Mapped[str] = mapped_column(String(10))  # block | hold
    public_message: Mapped[str] = mapped_column(String(300), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)


class ModerationSettings(db.Model):
    """Per-community moderation settings (community_id 0 is never used; the global row has
    community_id None). hold_first_posts: hold the first N posts of external accounts in this
    community; confidential_words: one word or phrase a line that triggers the data warning."""

    __tablename__ = "moderation_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"),
                                                     unique=True)
    hold_first_posts: Mapped[int] = mapped_column(Integer, default=0)
    confidential_words: Mapped[str] = mapped_column(Text, default="")
