"""The live discussion channel of a community: chat messages (top-level, or replies in a thread
under a top-level message) and who a message mentioned (each person is told once per message).

A message is stored before it is broadcast and carries its id everywhere, so a client that was
offline asks for "everything after id N" and gets exactly what it missed. `client_key` is the
idempotency key the sender's client attaches: unique per author, so a retried send returns the
message stored the first time instead of a second copy.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.extensions import db
from app.models.people import User


class ChatMessage(db.Model):
    __tablename__ = "chat_messages"
    __table_args__ = (
        UniqueConstraint("author_id", "client_key", name="uq_chat_messages_author_id_client_key"),
        # history pages and replay of the channel (top-level messages, keyset on id)
        Index("ix_chat_messages_community_parent_id", "community_id", "parent_id", "id"),
        # replay of everything in a community after an id (top-level and replies)
        Index("ix_chat_messages_community_id_id", "community_id", "id"),
        # the replies of a thread, oldest first
        Index("ix_chat_messages_parent_id_id", "parent_id", "id"),
        # edits and deletions since a moment (replayed to clients that were offline)
        Index("ix_chat_messages_community_changed", "community_id", "changed_at"),
        Index("ix_chat_messages_author_id", "author_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("chat_messages.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)  # rendered and sanitised once (markup.to_html)
    client_key: Mapped[str | None] = mapped_column(String(64))
    reply_count: Mapped[int] = mapped_column(Integer, default=0)
    last_reply_at: Mapped[datetime | None] = mapped_column(DateTime)
    promoted_post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    hidden_at: Mapped[datetime | None] = mapped_column(DateTime)  # hidden by moderation
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # the last edit, deletion, new reply or promotion (what a reconnecting client replays)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime)

    author: Mapped[User | None] = relationship(foreign_keys=[author_id])

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def room(self) -> str:
        return f"community:{self.community_id}"


class ChatMention(db.Model):
    """A person a message mentioned: told once per message, even when an edit mentions them again."""

    __tablename__ = "chat_mentions"
    __table_args__ = (Index("ix_chat_mentions_user_id_created_at", "user_id", "created_at"),)

    message_id: Mapped[int] = mapped_column(ForeignKey("chat_messages.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
