"""Topic communities, their members (with per-community roles), join requests and topics."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.extensions import db
from app.models.people import User


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, native_enum=False, length=20, create_constraint=True, name=name,
                values_callable=lambda e: [m.value for m in e])


class Visibility(enum.StrEnum):
    OPEN = "open"          # every signed-in person, externals included
    INTERNAL = "internal"  # employees only
    PRIVATE = "private"    # members only

    @property
    def label(self) -> str:
        return {"open": "Open", "internal": "Internal", "private": "Private"}[self.value]

    @property
    def explanation(self) -> str:
        return {
            "open": "Everyone with an account can read and join, customers and partners included.",
            "internal": "Only employees can read and join.",
            "private": "Only members can read; people join by invitation or approved request.",
        }[self.value]


class MemberRole(enum.StrEnum):
    MEMBER = "member"
    MODERATOR = "moderator"
    MANAGER = "manager"


class Community(db.Model):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    cover_key: Mapped[str | None] = mapped_column(String(200))
    visibility: Mapped[Visibility] = mapped_column(_enum(Visibility, "visibility"), index=True)
    allow_external_experts: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    topics: Mapped[list[Topic]] = relationship(
        back_populates="community", order_by="Topic.name", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<Community {self.slug}>"


class Membership(db.Model):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("community_id", "user_id"),
        Index("ix_memberships_user_id_community_id", "user_id", "community_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[MemberRole] = mapped_column(_enum(MemberRole, "member_role"), default=MemberRole.MEMBER)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)

    user: Mapped[User] = relationship()
    community: Mapped[Community] = relationship()


class JoinRequest(db.Model):
    """A request to join a private community; kept after the decision as a record."""

    __tablename__ = "join_requests"
    __table_args__ = (Index("ix_join_requests_community_id_decided_at", "community_id", "decided_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    message: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved: Mapped[bool | None] = mapped_column(Boolean)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    community: Mapped[Community] = relationship()


class Topic(db.Model):
    """A subject inside a community that posts are filed under and experts own."""

    __tablename__ = "topics"
    __table_args__ = (UniqueConstraint("community_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    slug: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)

    community: Mapped[Community] = relationship(back_populates="topics")
