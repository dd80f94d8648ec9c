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
from app.models import AuditEntry, ChatMessage, Comment, Community, Post, Topic, User, WatchRule
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
    """A YYYY-MM-DD filter value as a date (None when blank). Raises ValidationError({"date": ...})."""
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


# --- reading an entry: what it was about, in words and links ------------------------------

@dataclass
class Ref:
    """Something an entry names: `kind` (post, comment, user, community, topic, chat_message,
    watch_rule), its id, a label, and what a link needs (`slug`, `handle`, `post_id`,
    `topic_slug`). `visible`: the viewer may open it now (else the template shows the label)."""
    kind: str
    id: int
    label: str
    visible: bool = False
    slug: str | None = None
    handle: str | None = None
    post_id: int | None = None
    topic_slug: str | None = None


@dataclass
class Detail:
    """One "label: before → after" line; each side is text, a Ref, or None (not there)."""
    label: str
    before: object = None
    after: object = None
    changed: bool = True


@dataclass
class Line:
    entry: AuditEntry
    target: Ref | None
    details: list[Detail]


# Keys of before/after that name something, and what they name.
_REF_KEYS = {"user_id": "user", "community_id": "community", "duplicate_of": "post", "post_id": "post",
             "comment_id": "comment", "topic_id": "topic"}
_LABELS = {"user_id": "Person", "community_id": "Community", "duplicate_of": "Merged into", "post_id": "Post",
           "comment_id": "Comment", "topic_id": "Topic", "is_admin": "Administrator",
           "is_global_manager": "Social team", "is_management": "Management", "suspended_until": "Suspended until",
           "hold_first_posts": "Hold first posts", "confidential_words": "Confidential words"}
_KIND_LABELS = {"post": "Post", "comment": "Comment", "user": "Person", "community": "Community", "topic": "Topic",
                "chat_message": "Chat message", "watch_rule": "Watch rule", "guidelines": "Guidelines"}


def _label(key: str) -> str:
    return _LABELS.get(key) or key.removesuffix("_id").replace("_", " ").capitalize()


def _text(value) -> str | None:
    """A stored value as words: yes/no, dates as dates, lists joined, nothing as "—"."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(_text(v)) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{_label(k)}: {_text(v)}" for k, v in value.items()) or "—"
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return datetime.fromisoformat(value).strftime("%d %b %Y %H:%M UTC")
        except ValueError:
            return value
    return str(value).replace("_", " ") if isinstance(value, str) and value.isidentifier() else str(value)


_LOADABLE = {"post", "comment", "user", "community", "topic", "chat_message", "watch_rule"}


class _Refs:
    """Loads what a page of entries names, a query per kind, and decides what the viewer may open."""

    def __init__(self, viewer, wanted: dict[str, set[int]]):
        self.viewer = viewer
        self.rows: dict[tuple[str, int], Ref] = {}
        models = {"post": Post, "comment": Comment, "user": User, "community": Community, "topic": Topic,
                  "chat_message": ChatMessage, "watch_rule": WatchRule}
        loaded = {kind: {o.id: o for o in db.session.scalars(select(models[kind]).where(models[kind].id.in_(ids)))}
                  for kind, ids in wanted.items() if ids and kind in models}
        # the posts comments sit on, and the communities topics, messages and posts sit in
        post_ids = {c.post_id for c in loaded.get("comment", {}).values()} - set(loaded.get("post", {}))
        posts = {**loaded.get("post", {}), **{p.id: p for p in db.session.scalars(select(Post).where(Post.id.in_(post_ids)))}}
        community_ids = {o.community_id for kind in ("topic", "chat_message", "watch_rule")
                         for o in loaded.get(kind, {}).values() if o.community_id}
        community_ids |= {p.community_id for p in posts.values()}
        communities = {**{c.id: c for c in db.session.scalars(select(Community).where(Community.id.in_(community_ids)))},
                       **loaded.get("community", {})}
        self._posts, self._communities = posts, communities
        for kind, objects in loaded.items():
            for oid, obj in objects.items():
                self.rows[(kind, oid)] = self._ref(kind, obj)

    def _readable(self, community) -> bool:
        return community is not None and access.access_to(self.viewer, community).can_read

    def _ref(self, kind: str, o) -> Ref:
        if kind == "post":
            return Ref(kind, o.id, f"“{o.title}”", access.can_read_post(self.viewer, o), post_id=o.id)
        if kind == "comment":
            post = self._posts.get(o.post_id)
            label = f"Comment on “{post.title}”" if post else f"Comment #{o.id}"
            visible = post is not None and access.can_read_post(self.viewer, post) and o.deleted_at is None
            return Ref(kind, o.id, label, visible, post_id=o.post_id)
        if kind == "user":
            return Ref(kind, o.id, o.display_name, access.can_see_person(self.viewer, o), handle=o.handle)
        if kind == "community":
            return Ref(kind, o.id, o.name, self._readable(o), slug=o.slug)
        community = self._communities.get(o.community_id) if o.community_id else None
        where = f" in {community.name}" if community else ""
        if kind == "topic":
            return Ref(kind, o.id, f"{o.name}{where}", self._readable(community),
                       slug=community.slug if community else None, topic_slug=o.slug)
        if kind == "chat_message":
            return Ref(kind, o.id, f"Chat message{where}", self._readable(community) and o.deleted_at is None,
                       slug=community.slug if community else None)
        # a watch rule: its community's rules page (managers), or the global one
        return Ref(kind, o.id, f"“{o.pattern}”{where}", True, slug=community.slug if community else None)

    def get(self, kind: str, oid) -> Ref | None:
        return self.rows.get((kind, oid)) if isinstance(oid, int) else None


def describe(viewer, entries: list[AuditEntry]) -> list[Line]:
    """Each entry as words: its target (a Ref, or None) and its before/after as labelled lines,
    ids of people, communities and posts turned into Refs (links where the viewer may open
    them). A handful of queries for a page of entries."""
    wanted: dict[str, set[int]] = {}
    for e in entries:
        if e.target_id is not None:
            wanted.setdefault(e.target_type, set()).add(e.target_id)
        for side in (e.before or {}, e.after or {}):
            for key, kind in _REF_KEYS.items():
                if isinstance(side.get(key), int):
                    wanted.setdefault(kind, set()).add(side[key])
    refs = _Refs(viewer, wanted)
    lines = []
    for e in entries:
        target = refs.get(e.target_type, e.target_id)
        if target is None and e.target_id is not None:
            name = f"{_KIND_LABELS.get(e.target_type, _label(e.target_type))} #{e.target_id}"
            target = Ref(e.target_type, e.target_id, name + (" (removed)" if e.target_type in _LOADABLE else ""))
        before, after = e.before or {}, e.after or {}
        details = []
        for key in dict.fromkeys([*before, *after]):
            def side(values, key=key):
                if key not in values:
                    return None
                value = values[key]
                if key in _REF_KEYS and isinstance(value, int):
                    return refs.get(_REF_KEYS[key], value) or f"#{value} (removed)"
                return _text(value)
            b, a = side(before), side(after)
            if b in (None, "—") and a in (None, "—"):
                continue  # nothing to say (an empty field)
            details.append(Detail(_label(key), b, a, changed=(key in before and key in after
                                                               and before[key] != after[key])))
        lines.append(Line(e, target, details))
    return lines
