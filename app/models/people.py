"""People: accounts with their kind and global roles, departments, expertise tags."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Column, DateTime, Enum, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.extensions import db


class UserKind(enum.StrEnum):
    EMPLOYEE = "employee"
    CUSTOMER = "customer"
    PARTNER = "partner"


user_expertise = Table(
    "user_expertise",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("expertise_tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Department(db.Model):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow)

    def __repr__(self) -> str:
        return f"<Department {self.name}>"


class ExpertiseTag(db.Model):
    __tablename__ = "expertise_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)


class User(db.Model):
    """A person's account. Community roles live on Membership, not here."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(80))
    handle: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[UserKind] = mapped_column(
        Enum(UserKind, native_enum=False, length=20, create_constraint=True, name="user_kind",
             values_callable=lambda e: [m.value for m in e]),
        index=True,
    )
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_global_manager: Mapped[bool] = mapped_column(Boolean, default=False)
    is_management: Mapped[bool] = mapped_column(Boolean, default=False)
    suspended_until: Mapped[datetime | None] = mapped_column(DateTime)
    suspension_reason: Mapped[str | None] = mapped_column(String(500))
    # Bumped on password change, suspension and sign-out-everywhere: it is part of the
    # Flask-Login id, so every older session and remember cookie stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=1)

    job_title: Mapped[str | None] = mapped_column(String(100))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("departments.id", ondelete="SET NULL"), index=True)
    organisation: Mapped[str | None] = mapped_column(String(100))
    bio: Mapped[str | None] = mapped_column(Text)
    languages: Mapped[str | None] = mapped_column(String(200))
    avatar_key: Mapped[str | None] = mapped_column(String(200))

    created_at: Mapped[datetime] = mapped_column(DateTime, default=clock.utcnow, index=True)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)

    department: Mapped[Department | None] = relationship(lazy="joined")
    expertise: Mapped[list[ExpertiseTag]] = relationship(
        secondary=user_expertise, order_by=ExpertiseTag.name)

    # --- Flask-Login protocol -------------------------------------------------------------
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def is_active(self) -> bool:
        return not self.is_suspended

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    # --- small invariants -----------------------------------------------------------------
    @property
    def is_suspended(self) -> bool:
        return self.suspended_until is not None and self.suspended_until > clock.utcnow()

    @property
    def is_employee(self) -> bool:
        return self.kind == UserKind.EMPLOYEE

    @property
    def is_external(self) -> bool:
        return self.kind != UserKind.EMPLOYEE

    @property
    def is_staff(self) -> bool:
        """Admins and the social team (global community managers)."""
        return self.is_admin or self.is_global_manager

    @property
    def language_list(self) -> list[str]:
        return [p.strip() for p in (self.languages or "").split(",") if p.strip()]

    def __repr__(self) -> str:
        return f"<User {self.id} {self.handle}>"
