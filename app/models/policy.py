"""The social policy: versioned guidelines (global, or of one community) and who accepted which."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.extensions import db
from app.models.people import User


class GuidelineVersion(db.Model):
    """Every save of the guidelines is a new version; community_id NULL means the global ones.
    `material` marks a change people must accept again."""

    __tablename__ = "guideline_versions"
    __table_args__ = (Index("ix_guideline_versions_community_id_id", "community_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    material: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(Text)
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)

    editor: Mapped[User | None] = relationship()


class GuidelineAcceptance(db.Model):
    """A person accepted a version of the guidelines (global or of one community)."""

    __tablename__ = "guideline_acceptances"
    __table_args__ = (Index("ix_guideline_acceptances_user_id_community_id", "user_id", "community_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("guideline_versions.id", ondelete="CASCADE"))
    accepted_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
