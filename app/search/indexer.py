"""The indexer: applies the change log to this machine's index copy, in order, and records how far
it got (the cursor file inside the index folder).

One round (`apply_pending`):
1. read the change rows after the cursor (and the ids still awaited, see below), in id order;
2. coalesce them per document and expand index look-ups ("community=4": every document of a
   deleted community) from the index itself;
3. read the current state of those rows from the database (committed state only: the indexer
   has its own transaction) and build their documents; a row that no longer belongs in the
   index (deleted, soft-deleted) is removed; cascades add dependent documents;
4. write them with one Whoosh writer and commit;
5. run the after-apply hooks (saved-search alerts);
6. write the cursor (atomic rename).

If the process dies anywhere, the next round starts from the cursor of the last completed round.
Re-applying a change is harmless: a document is always rebuilt from the database as it is now
and written with `update_document` keyed by its unique id (delete-then-add), so applying it
twice gives the same index as applying it once, and a deletion of an absent document is a
no-op. Alerts are recorded per (saved search, document) before they are sent, so a replayed
round does not alert twice.

Ids that are skipped in the log (on PostgreSQL a transaction that started earlier can commit
later with a lower id) are kept as "gaps" in the cursor and looked for again on each round for
GAP_SECONDS, so a late commit is not lost.

One writer at a time: Whoosh's lock. A second indexer on the same folder (an embedded thread and
`flask search worker` on one machine) finds the lock taken and skips the round.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, or_, select
from whoosh import query as wq
from whoosh.index import LockError

from app.extensions import db
from app.models import SearchChange, SiteSetting
from app.search import registry, store

log = logging.getLogger(__name__)

BATCH = 500
GAP_SECONDS = 300.0
MAX_GAP = 1000
CASCADE_LEVELS = 3

_after_apply: list[Callable[[list[dict]], None]] = []


def after_apply(fn: Callable[[list[dict]], None]) -> Callable:
    """Register `fn(docs)`: called after each committed round with the documents written
    (fields as indexed), before the cursor moves (a replayed round calls it again)."""
    if fn not in _after_apply:
        _after_apply.append(fn)
    return fn


@dataclass
class RoundReport:
    changes: int = 0          # change rows read
    written: int = 0          # documents written
    deleted: int = 0          # documents removed
    position: int = 0         # the cursor after the round
    skipped: str | None = None
    written_ids: list[str] = field(default_factory=list)


def doc_hash(fields: dict) -> str:
    """A digest of a document's fields (stored with it; `check` compares it with the database)."""
    text = repr(sorted((k, v) for k, v in fields.items() if k != "hash"))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _model():
    return SearchChange


def latest_change_id() -> int:
    return db.session.scalar(select(func.max(_model().id))) or 0


def _pending(cursor: store.Cursor, limit: int) -> list[tuple[int, str, str]]:
    change = _model()
    awaited = sorted(cursor.gaps)[:MAX_GAP]
    condition = change.id > cursor.position
    if awaited:
        condition = or_(condition, change.id.in_(awaited))
    rows = db.session.execute(select(change.id, change.doc_id, change.op).where(condition)
                              .order_by(change.id).limit(limit)).all()
    return [tuple(r) for r in rows]


def _advance(cursor: store.Cursor, ids: list[int]) -> store.Cursor:
    now = time.time()
    position, gaps = cursor.position, dict(cursor.gaps)
    for change_id in ids:
        if change_id in gaps:
            del gaps[change_id]
        elif change_id > position:
            if change_id - position - 1 <= MAX_GAP:
                for missing in range(position + 1, change_id):
                    gaps.setdefault(missing, now)
            position = change_id
    gaps = {k: v for k, v in gaps.items() if now - v < GAP_SECONDS}
    return store.Cursor(position, gaps)


# --- building documents ---------------------------------------------------------------------

def _expand(searcher, ref: str) -> list[str]:
    """"field=value" or "type/field=value": the ids of the documents in the index with that term."""
    target, _, value = ref.partition("=")
    only_type, _, fieldname = target.rpartition("/")
    if fieldname not in searcher.schema:
        return []
    q = wq.Term(fieldname, value)
    if only_type:
        q = wq.And([q, wq.Term("type", only_type)])
    return [searcher.stored_fields(docnum)["id"] for docnum in q.docs(searcher)]


def _build(doc_ids: list[str]) -> dict[str, dict | None]:
    """The current document of every id (None: it does not belong in the index)."""
    by_type: dict[str, list[int]] = {}
    out: dict[str, dict | None] = {}
    for doc_id in doc_ids:
        parts = registry.split_id(doc_id)
        if parts is None:
            log.warning("search: ignoring unknown document id %r", doc_id)
            continue
        by_type.setdefault(parts[0], []).append(parts[1])
        out[doc_id] = None
    for type_name, pks in by_type.items():
        built = registry.doc_type(type_name).build(pks)
        for pk, fields in built.items():
            fields["hash"] = doc_hash(fields)
            out[f"{type_name}:{pk}"] = fields
    return out


def plan(searcher, doc_ids: list[str]) -> dict[str, dict | None]:
    """Every document to write (fields) or remove (None) for these changed ids, cascades
    included, read from the database now."""
    todo: list[str] = []
    for doc_id in doc_ids:
        if "=" in doc_id:
            todo.extend(_expand(searcher, doc_id))
        else:
            todo.append(doc_id)
    result: dict[str, dict | None] = {}
    level = 0
    while todo and level < CASCADE_LEVELS:
        fresh = [d for d in OrderedDict.fromkeys(todo) if d not in result]
        built = _build(fresh)
        result.update(built)
        todo = []
        for doc_id, new in built.items():
            doc_type = registry.doc_type(doc_id.split(":")[0])
            if doc_type is None or doc_type.cascade is None:
                continue
            old = searcher.document(id=doc_id)
            for dep in doc_type.cascade(old, new):
                todo.extend(_expand(searcher, dep) if "=" in dep else [dep])
        level += 1
    return result


def write(writer, docs: dict[str, dict | None], searcher=None) -> tuple[int, int]:
    """Replace (or remove) each document by its unique id. One searcher of the index as the
    writer found it serves every look-up (Whoosh's update_document opens a new one, i.e. every
    segment reader again, for each document)."""
    own = searcher is None
    searcher = searcher or writer.searcher()
    written = deleted = 0
    try:
        for doc_id, fields in docs.items():
            for docnum in searcher.document_numbers(id=doc_id):
                writer.delete_document(docnum)
            if fields is None:
                deleted += 1
            else:
                writer.add_document(**{k: v for k, v in fields.items() if v is not None and v != ""})
                written += 1
    finally:
        if own:
            searcher.close()
    return written, deleted


# --- one round ------------------------------------------------------------------------------

def _run_hooks(docs: list[dict]) -> None:
    for hook in _after_apply:
        try:
            hook(docs)
        except Exception:  # noqa: BLE001 - a failing hook must not stop the index from following
            db.session.rollback()
            log.exception("search: after-apply hook %s failed", getattr(hook, "__name__", hook))


def apply_pending(path: Path | None = None, *, limit: int = BATCH, hooks: bool = True,
                  _fail_after_commit: bool = False) -> RoundReport:
    """Apply up to `limit` change rows to the index in `path` (default: the live one).
    Returns what was done; `skipped` says why nothing was (no index, another writer)."""
    if path is None:
        path = store.current_dir()
        if path is None:
            return RoundReport(skipped="no index")
    ix = store.open_index(path)
    cursor = store.read_cursor(path)
    rows = _pending(cursor, limit)
    db.session.rollback()  # the rows were read; build documents from a fresh snapshot
    if not rows:
        if cursor.gaps:
            store.write_cursor(path, _advance(cursor, []))
        return RoundReport(position=cursor.position)
    try:
        writer = ix.writer()
    except LockError:
        return RoundReport(position=cursor.position, skipped="another indexer holds the lock")
    try:
        latest: OrderedDict[str, str] = OrderedDict()
        for _id, doc_id, op in rows:
            latest.pop(doc_id, None)
            latest[doc_id] = op
        with writer.searcher() as searcher:
            docs = plan(searcher, list(latest))
            written, deleted = write(writer, docs, searcher)
        writer.commit()
    except BaseException:
        writer.cancel()
        db.session.rollback()
        raise
    db.session.rollback()
    if _fail_after_commit:  # tests: a crash between the index commit and the cursor write
        raise RuntimeError("injected failure after the index commit")
    applied = [fields for fields in docs.values() if fields is not None]
    if hooks and applied:
        _run_hooks(applied)
    new_cursor = _advance(cursor, [r[0] for r in rows])
    store.write_cursor(path, new_cursor)
    return RoundReport(changes=len(rows), written=written, deleted=deleted, position=new_cursor.position,
                       written_ids=[f["id"] for f in applied])


def catch_up(path: Path | None = None, *, max_rounds: int = 1000, hooks: bool = True) -> int:
    """Apply rounds until the log is drained (tests, CLI, the end of a rebuild). Returns the
    number of change rows applied."""
    total = 0
    for _ in range(max_rounds):
        report = apply_pending(path, hooks=hooks)
        total += report.changes
        if report.skipped or report.changes < BATCH:
            break
    return total


# --- the background poller --------------------------------------------------------------------

_state = {"next_rebuild_check": 0.0}


def poll() -> int:
    """One round for the embedded worker thread or `flask search worker`: build the index if
    there is none (or it cannot be used), else apply what is pending. Returns the number of
    change rows applied (the caller polls again at once while there is work)."""
    if not store.setting("KRING_SEARCH_INDEXER", True, bool):
        return 0
    path = store.current_dir()
    reason = None
    if path is None:
        reason = "there is no index yet"
    else:
        reason = store.outdated(path)
        if reason is None:
            try:
                store.open_index(path)
            except store.IndexUnavailable as exc:
                reason = str(exc)
        if reason is None and store.read_cursor(path).position < purged_through():
            reason = "the change log was purged past this copy's cursor"
    if reason is not None:
        if time.monotonic() < _state["next_rebuild_check"]:
            return 0
        _state["next_rebuild_check"] = time.monotonic() + 30
        # cycle: rebuild imports indexer (poll, the worker's round, belongs above both; moving it
        # changes its callers in app/services/search.py and the tests)
        from app.search import rebuild  # cycle (see above)

        log.warning("search: building the index (%s)", reason)
        try:
            rebuild.rebuild(procs=store.setting("KRING_SEARCH_AUTO_PROCS", 1, int))
        except rebuild.RebuildRunning:
            return 0
        return 1
    try:
        return apply_pending(path).changes
    except store.IndexUnavailable:
        return 0


def purged_through() -> int:
    """The highest change id the purge removed (a cursor below it missed changes)."""
    row = db.session.get(SiteSetting, "search.purged_through")
    value = int(row.value) if row is not None and isinstance(row.value, int) else 0
    db.session.rollback()
    return value
