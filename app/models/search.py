"""Search: the change log the index follows, saved searches with their alert record, and the
search log kept for analytics.

- `SearchChange`: one row per document the index must look at again ("post:12", "person:3"),
  written in the same transaction as the change itself (app/search/capture.py), so a rollback
  never reaches the index and a crash after the commit loses nothing. Ids only grow
  (AUTOINCREMENT on SQLite, a sequence elsewhere): each index copy keeps its own cursor.
- `SavedSearch`: a person's saved query; with `alerts` on, new matching content notifies them.
- `SavedSearchHit`: (saved search, document) pairs already alerted: at most one alert per item.
- `SearchLog`: what was searched and how many results it had (user id, query, filters; no other
  personal data) for the analytics pages.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.extensions import db
from app.models.people import User

# BIGINT on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the rowid that AUTOINCREMENT needs
_BigId = BigInteger().with_variant(Integer(), "sqlite")


class SearchChange(db.Model):
    __tablename__ = "search_changes"
    __table_args__ = (Index("ix_search_changes_created_at", "created_at"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    doc_id: Mapped[str] = mapped_column(String(60))
    op: Mapped[str] = mapped_column(String(10))  # "upsert" | "delete" (a hint: the indexer reads the row)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)


class SavedSearch(db.Model):
    __tablename__ = "saved_searches"
    __table_args__ = (Index("ix_saved_searches_user_id_created_at", "user_id", "created_at"),
                      Index("ix_saved_searches_alerts", "alerts", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    query: Mapped[str] = mapped_column(String(500))
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    # "readable": everything the person may read; "managed": only the communities they manage
    scope: Mapped[str] = mapped_column(String(20), default="readable")
    alerts: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
    last_alert_at: Mapped[datetime | None] = mapped_column(DateTime)
    alert_count: Mapped[int] = mapped_column(Integer, default=0)

    user: Mapped[User] = relationship()


class SavedSearchHit(db.Model):
    __tablename__ = "saved_search_hits"

    saved_search_id: Mapped[int] = mapped_column(ForeignKey("saved_searches.id", ondelete="CASCADE"),
                                                 primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)


class SearchLog(db.Model):
    __tablename__ = "search_log"
    __table_args__ = (Index("ix_search_log_created_at", "created_at"),
                      Index("ix_search_log_result_count_created_at", "result_count", "created_at"),
                      Index("ix_search_log_user_id_created_at", "user_id", "created_at"))

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    query: Mapped[str] = mapped_column(String(500))
    result_count: Mapped[int] = mapped_column(Integer)
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
