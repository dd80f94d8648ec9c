"""The audit log of staff actions: record(...) adds one entry in the caller's transaction
(so the entry exists exactly when the action was committed); page(...) reads them for admins.

Entries are append-only: there is no service to change or delete one, and the model refuses
updates and deletes (app.models.audit.AuditLogImmutable). The IP address comes from the door
(the view passes request.remote_addr); services never read the request.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app import clock
from app.errors import ValidationError
from app.extensions import db
from app.models import AuditEntry, User
from app.services import access

PAGE_SIZE = 50


def _safe(value):
    """JSON-safe copy: datetimes as ISO strings, enums as values, sets as sorted lists."""
    if isinstance(value, dict):
        return {str(k): _safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        items = [_safe(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set) else items
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "value") and not isinstance(value, (int, float, str, bool)):
        return value.value
    return value


def record(actor, action: str, target_type: str, target_id: int | None, *, before: dict | None = None,
           after: dict | None = None, reason: str | None = None, ip: str | None = None) -> AuditEntry:
    """Add an audit entry in the current transaction (the caller commits). `actor` may be None
    for system actions. Returns the (flushed later) entry."""
    entry = AuditEntry(actor_id=getattr(actor, "id", None), action=action[:60], target_type=target_type[:30],
                       target_id=target_id, before=_safe(before) if before is not None else None,
                       after=_safe(after) if after is not None else None,
                       reason=(reason or "").strip()[:1000] or None, ip=(ip or None) and ip[:64],
                       created_at=clock.utcnow())
    db.session.add(entry)
    return entry


def change(actor, entry_id: int, **values) -> None:
    """There is no way to change an audit entry: always raises ValidationError."""
    raise ValidationError({"_": "Audit entries cannot be changed or deleted."})


remove = change


@dataclass
class Filters:
    actor: str = ""  # handle or email, exact
    action: str = ""
    target_type: str = ""
    since: date | None = None
    until: date | None = None


@dataclass
class AuditPage:
    rows: list[AuditEntry] = field(default_factory=list)
    next_cursor: str | None = None
    actions: list[str] = field(default_factory=list)
    target_types: list[str] = field(default_factory=list)


def _cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(["audit", entry_id]).encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        tag, entry_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        return None
    return entry_id if tag == "audit" and isinstance(entry_id, int) else None


def parse_date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip()) if raw and raw.strip() else None
    except ValueError:
        raise ValidationError({"date": "Enter dates as YYYY-MM-DD."}) from None


def page(viewer, filters: Filters, *, cursor: str | None = None, limit: int = PAGE_SIZE) -> AuditPage:
    """Entries newest first, filtered; keyset pagination on id. Admins only (Forbidden)."""
    access.require_admin(viewer)
    stmt = select(AuditEntry).options(joinedload(AuditEntry.actor))
    if filters.actor:
        who = filters.actor.strip().lstrip("@").lower()
        stmt = stmt.where(AuditEntry.actor_id.in_(select(User.id).where(
            (User.handle == who) | (User.email == who))))
    if filters.action:
        stmt = stmt.where(AuditEntry.action == filters.action)
    if filters.target_type:
        stmt = stmt.where(AuditEntry.target_type == filters.target_type)
    if filters.since:
        stmt = stmt.where(AuditEntry.created_at >= datetime.combine(filters.since, time()))
    if filters.until:
        stmt = stmt.where(AuditEntry.created_at < datetime.combine(filters.until + timedelta(days=1), time()))
    after = _decode(cursor)
    if after is not None:
        stmt = stmt.where(AuditEntry.id < after)
    rows = list(db.session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit + 1)).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    actions = list(db.session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
    types = list(db.session.scalars(select(AuditEntry.target_type).distinct().order_by(AuditEntry.target_type)))
    return AuditPage(rows, _cursor(rows[-1].id) if more and rows else None, actions, types)
