"""Rebuild, check and status of the index.

`rebuild()` builds a complete index from the database in a new folder beside the live one
(Whoosh with procs=2 writes two segments in parallel; procs>1 needs multisegment=True), starts
its cursor at the newest change id seen *before* reading the database, applies what changed
meanwhile, then swaps it in by rewriting the CURRENT pointer (an atomic rename): searches keep
using the old index until their next query, which opens the new one. The index is never the
only copy of anything: it can always be rebuilt from the database.

`check()` compares every document the database says should exist with the index (missing,
extra, and stale: a digest of the fields differs) and can queue the differences for the indexer.
"""
from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from app.extensions import db
from app.search import indexer, registry, store

log = logging.getLogger(__name__)
KEEP_PREVIOUS_SECONDS = 600


class RebuildRunning(Exception):
    """Another rebuild of this index folder is under way."""


@contextmanager
def _rebuild_lock(base: Path):
    base.mkdir(parents=True, exist_ok=True)
    fh = open(base / "rebuild.lock", "w")  # noqa: SIM115 - held for the whole rebuild
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RebuildRunning("a rebuild is already running") from None
        yield
    finally:
        fh.close()


def rebuild_running(base: Path | None = None) -> bool:
    base = base or store.base_dir()
    try:
        fh = open(base / "rebuild.lock", "w")  # noqa: SIM115
    except OSError:
        return False
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        fh.close()
    return False


@dataclass
class RebuildReport:
    path: Path
    documents: int
    seconds: float
    per_type: dict[str, int] = field(default_factory=dict)
    caught_up: int = 0

    @property
    def per_second(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0


def _clean(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if v is not None and v != ""}


def rebuild(*, procs: int = 2, batch: int = 1000, limitmb: int = 512,
            progress: Callable[[str, int], None] | None = None,
            _before_swap: Callable[[Path], None] | None = None) -> RebuildReport:
    """Build a fresh index beside the live one and swap it in. Raises RebuildRunning."""
    base = store.base_dir()
    with _rebuild_lock(base):
        started = time.perf_counter()
        start_id = indexer.latest_change_id()
        live = store.current_dir(base)
        gaps = store.read_cursor(live).gaps if live else {}
        db.session.rollback()
        path = store.new_dir(base)
        try:
            ix = store.create(path, store.language())
            writer = ix.writer(procs=procs, multisegment=True, limitmb=limitmb, batchsize=500) if procs > 1 \
                else ix.writer(limitmb=limitmb)
            per_type: dict[str, int] = {}
            try:
                for doc_type in registry.doc_types():
                    count = 0
                    for pks in doc_type.batches(batch):
                        for fields in doc_type.build(pks).values():
                            fields["hash"] = indexer.doc_hash(fields)
                            writer.add_document(**_clean(fields))
                            count += 1
                        db.session.rollback()
                        if progress:
                            progress(doc_type.name, count)
                    per_type[doc_type.name] = count
                writer.commit()
            except BaseException:
                writer.cancel()
                raise
            store.write_cursor(path, store.Cursor(start_id, gaps))
            caught_up = indexer.catch_up(path)
            if _before_swap:
                _before_swap(path)
            store.set_current(base, path)
        except BaseException:
            db.session.rollback()
            shutil.rmtree(path, ignore_errors=True)
            raise
        cleanup(base, keep={path, live} if live else {path})
        documents = sum(per_type.values())
        seconds = time.perf_counter() - started
        log.info("search: rebuilt %s documents in %.1f s into %s", documents, seconds, path.name)
        return RebuildReport(path, documents, seconds, per_type, caught_up)


def cleanup(base: Path | None = None, keep: set[Path | None] | None = None) -> list[str]:
    """Remove index folders that are not live: half-built ones of a crashed rebuild, and the
    previous live one once KEEP_PREVIOUS_SECONDS have passed (searches that began before the
    swap finish on it). Returns the names removed."""
    base = base or store.base_dir()
    live = store.current_dir(base)
    keep = {p for p in (keep or set()) if p} | ({live} if live else set())
    try:
        pointer_age = time.time() - os.stat(base / store.POINTER).st_mtime
    except OSError:
        pointer_age = KEEP_PREVIOUS_SECONDS
    removed = []
    for child in base.iterdir() if base.is_dir() else ():
        if not child.is_dir() or not child.name.startswith("index-") or child in keep:
            continue
        if pointer_age < KEEP_PREVIOUS_SECONDS and child.stat().st_mtime > time.time() - KEEP_PREVIOUS_SECONDS * 2:
            continue  # possibly the previous live index: leave it a while
        shutil.rmtree(child, ignore_errors=True)
        removed.append(child.name)
    return removed


# --- check ---------------------------------------------------------------------------------

@dataclass
class CheckReport:
    expected: int = 0
    indexed: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    pending: int = 0          # change rows this copy has not applied yet

    @property
    def differences(self) -> list[str]:
        return self.missing + self.extra + self.stale

    @property
    def ok(self) -> bool:
        return not self.differences


def check(*, batch: int = 1000, fix: bool = False) -> CheckReport:
    """Compare the database with the live index. With fix=True, queue every difference in the
    change log (the indexer repairs them). Raises store.IndexUnavailable."""
    path, ix = store.live_index()
    report = CheckReport()
    with ix.searcher() as searcher:
        indexed = {fields["id"]: fields.get("hash") for fields in searcher.all_stored_fields()}
    report.indexed = len(indexed)
    report.pending = max(0, indexer.latest_change_id() - store.read_cursor(path).position)
    seen: set[str] = set()
    for doc_type in registry.doc_types():
        for pks in doc_type.batches(batch):
            for pk, fields in doc_type.build(pks).items():
                doc_id = f"{doc_type.name}:{pk}"
                seen.add(doc_id)
                report.expected += 1
                if doc_id not in indexed:
                    report.missing.append(doc_id)
                elif indexed[doc_id] != indexer.doc_hash(fields):
                    report.stale.append(doc_id)
            db.session.rollback()
    report.extra = sorted(doc_id for doc_id in indexed if doc_id not in seen)
    if fix and report.differences:
        from app.search import capture

        for doc_id in report.differences:
            capture.changed(doc_id, "delete" if doc_id in report.extra else "upsert")
        db.session.commit()
    return report


# --- status --------------------------------------------------------------------------------

def status() -> dict:
    """Facts for `flask search status` and the admin: where the index is, how many documents,
    how far behind the log it is."""
    base = store.base_dir()
    path = store.current_dir(base)
    latest = indexer.latest_change_id()
    oldest_pending = None
    info: dict = {"dir": str(path) if path else None, "language": store.language(), "latest_change": latest,
                  "rebuilding": rebuild_running(base)}
    if path is None:
        return info | {"state": "missing"}
    cursor = store.read_cursor(path)
    from app.models import SearchChange

    first = db.session.scalar(select(SearchChange.created_at).where(SearchChange.id > cursor.position)
                              .order_by(SearchChange.id).limit(1))
    if first is not None:
        from app import clock

        oldest_pending = (clock.utcnow() - first).total_seconds()
    db.session.rollback()
    reason = store.outdated(path)
    try:
        ix = store.open_index(path)
        with ix.searcher() as s:
            docs = s.doc_count()
            segments = len(s.leaf_searchers())
    except store.IndexUnavailable as exc:
        return info | {"state": "unreadable", "error": str(exc)}
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    return info | {"state": "outdated" if reason else "ok", "outdated": reason, "documents": docs,
                   "segments": segments, "cursor": cursor.position, "gaps": len(cursor.gaps),
                   "behind": max(0, latest - cursor.position), "oldest_pending_seconds": oldest_pending,
                   "bytes": size}
