"""Invitations: single-use, expiring links that let an outside person (or anyone) join."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Enum, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.extensions import db
from app.models.communities import Community
from app.models.people import User, UserKind

invitation_communities = Table(
    "invitation_communities",
    db.metadata,
    Column("invitation_id", ForeignKey("invitations.id", ondelete="CASCADE"), primary_key=True),
    Column("community_id", ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
)


class Invitation(db.Model):
    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Only a hash of the token is stored: a database leak does not leak usable links.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    kind: Mapped[UserKind] = mapped_column(
        Enum(UserKind, native_enum=False, length=20, create_constraint=True, name="invitation_kind",
             values_callable=lambda e: [m.value for m in e]))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    communities: Mapped[list[Community]] = relationship(secondary=invitation_communities)
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= clock.utcnow()
