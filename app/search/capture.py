"""Change capture: every change the index must see becomes a `search_changes` row written in
the SAME database transaction as the change, so no service needs to know about search, a
rollback takes the row with it, and a crash after the commit loses nothing.

Two SQLAlchemy listeners on the Session class (registered when this module is imported):

- `after_flush`: the new, changed and deleted instances of the tracked models (registry.track)
  give the document ids to look at again. A changed instance counts only when one of the
  tracked attributes really changed (its history), so e.g. a new comment touching the post's
  `last_activity_at` does not reindex the post. Instances have their ids by then.
- `do_orm_execute`: ORM-enabled bulk `update(Model)...` / `delete(Model)...` statements bypass
  the flush (vote counters, merges). For a tracked model whose changed columns matter, the
  affected ids are selected with the statement's own WHERE clause, just before it runs, in the
  same transaction.

Plain SQL through `text()` or a raw connection is not seen: such code calls `changed(doc_id)`.
Rows are inserted through the session's connection, never added to the session, so the
listeners cannot feed on themselves.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

from sqlalchemy import event, insert, inspect, select
from sqlalchemy.orm import Session

from app import clock
from app.extensions import db
from app.models import SearchChange
from app.search import registry

log = logging.getLogger(__name__)
_PAUSED = "kring_search_capture_paused"


def _table():
    return SearchChange.__table__


def _write(session: Session, changes: dict[str, str]) -> None:
    if not changes:
        return
    now = clock.utcnow()
    session.connection().execute(insert(_table()), [
        {"doc_id": doc_id, "op": op, "created_at": now} for doc_id, op in changes.items()])


def changed(doc_id: str, op: str = "upsert", session: Session | None = None) -> None:
    """Record by hand that `doc_id` must be looked at again (for writes the listeners cannot
    see). Runs in the current transaction: the caller commits."""
    _write(session or db.session(), {doc_id: op})


@contextmanager
def paused(session: Session):
    """No change rows while inside (bulk loads that are followed by a rebuild)."""
    session.info[_PAUSED] = True
    try:
        yield
    finally:
        session.info.pop(_PAUSED, None)


def _relevant(obj, entry: registry.Tracked) -> bool:
    if entry.fields is None:
        return True
    attrs = inspect(obj).attrs
    for name in entry.fields:
        try:
            if attrs[name].history.has_changes():
                return True
        except KeyError:
            continue
    return False


def _collect(changes: dict[str, str], obj, op: str, *, check_fields: bool) -> None:
    for entry in registry.tracked_for(type(obj)):
        if check_fields and not _relevant(obj, entry):
            continue
        try:
            ids = list(entry.doc_ids(obj))
        except Exception:  # noqa: BLE001 - never break the user's write; the check command finds it
            log.exception("search: could not name the documents of %r", obj)
            continue
        for doc_id in ids:
            if doc_id:
                # a deletion wins over an update of the same document in the same flush
                changes[doc_id] = "delete" if op == "delete" or changes.get(doc_id) == "delete" else op


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush_context) -> None:
    if session.info.get(_PAUSED) or not registry.tracked_models():
        return
    changes: dict[str, str] = {}
    for obj in session.new:
        _collect(changes, obj, "upsert", check_fields=False)
    for obj in session.dirty:
        _collect(changes, obj, "upsert", check_fields=True)
    for obj in session.deleted:
        _collect(changes, obj, "delete", check_fields=False)
    _write(session, changes)


def _changed_columns(statement) -> set[str] | None:
    values = getattr(statement, "_values", None)
    if values:
        return {getattr(key, "key", None) or str(key) for key in values}
    multi = getattr(statement, "_multi_values", None)
    if multi:
        return {getattr(key, "key", None) or str(key) for row in multi[0] for key in row}
    return None  # unknown (parameters given at execution): assume it matters


@event.listens_for(Session, "do_orm_execute")
def _bulk(state) -> None:
    if not (state.is_update or state.is_delete) or state.session.info.get(_PAUSED):
        return
    statement = state.statement
    model = (getattr(statement, "entity_description", None) or {}).get("entity")
    entries = [e for e in registry.tracked_for(model) if e.bulk is not None] if model else []
    if not entries:
        return
    columns = _changed_columns(statement) if state.is_update else None
    if columns is None and state.is_update and isinstance(state.parameters, dict):
        columns = set(state.parameters) or None
    changes: dict[str, str] = {}
    for entry in entries:
        if state.is_update and entry.fields is not None and columns is not None and not (columns & entry.fields):
            continue
        column, prefix = entry.bulk
        op = "delete" if state.is_delete and prefix == entry.model.__name__.lower() else "upsert"
        params = state.parameters
        if statement.whereclause is None and isinstance(params, list):  # bulk UPDATE by primary key
            values = [p.get(column.key) for p in params if isinstance(p, dict)]
        else:
            query = select(column)
            if statement.whereclause is not None:
                query = query.where(statement.whereclause)
            values = state.session.execute(query).scalars().all()
        for value in values:
            if value is not None:
                changes[f"{prefix}:{value}"] = op
    _write(state.session, changes)
