"""Privacy: a person's data exports (zip files built by a job) and closed accounts."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.extensions import db


class DataExport(db.Model):
    """One "download my data" request: queued, then ready (a zip under the upload folder)."""

    __tablename__ = "data_exports"
    __table_args__ = (Index("ix_data_exports_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued | ready | failed
    key: Mapped[str | None] = mapped_column(String(200))  # storage key of the zip
    size: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class AccountClosure(db.Model):
    """A closed account: when, by whom, and what happened to the person's content."""

    __tablename__ = "account_closures"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    mode: Mapped[str] = mapped_column(String(20))  # "remove" | "anonymise"
    reason: Mapped[str | None] = mapped_column(String(500))
    closed_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
