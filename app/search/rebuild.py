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

import ctypes
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import SearchChange
from app.search import capture, indexer, registry, store

log = logging.getLogger(__name__)
KEEP_PREVIOUS_SECONDS = 600


class RebuildRunning(Exception):
    """Another rebuild of this index folder is under way."""


# --- the rebuild lock and the rebuild's worker processes ------------------------------------
#
# The lock is an OS file lock (flock) on rebuild.lock: the kernel releases it when every file
# descriptor of it is closed, so it can never outlive the processes that hold it and needs no
# "is this pid still alive" guess. The file also says who holds it (pid, host, start time) for
# `flask search status`. Whoosh's procs>1 writer forks worker processes (multiprocessing), which
# would inherit the descriptor (and with it the lock) and, blocked on their job queue, outlive
# a rebuild killed with SIGKILL. So every process forked during a rebuild closes its copy of the
# descriptor and asks the kernel to kill it when its parent dies (PR_SET_PDEATHSIG on Linux; a
# parent-pid watchdog thread elsewhere).

_active: dict = {}          # while this process rebuilds: {"fd": lock fd, "pid": this pid}
PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """In a freshly forked child: be killed when `parent` dies."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:   # the parent died before the signal was armed
        os._exit(1)
    if not armed:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="rebuild-parent-watchdog", daemon=True).start()


class _AfterFork:
    """The (weak-referenceable) key of the after-fork hook registered with multiprocessing."""


def _after_fork(_obj) -> None:
    state = dict(_active)
    if not state or state.get("pid") == os.getpid():
        return
    _active.clear()
    try:
        os.close(state["fd"])    # the lock stays with the rebuild process only
    except OSError:
        pass
    _die_with_parent(state["pid"])


_after_fork_token = _AfterFork()
try:
    import multiprocessing.util as _mp_util

    _mp_util.register_after_fork(_after_fork_token, _after_fork)
except Exception:  # noqa: BLE001 - no multiprocessing: nothing forks
    log.debug("search: cannot register the rebuild after-fork hook", exc_info=True)


def _open_lock(base: Path) -> int:
    return os.open(base / "rebuild.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


@contextmanager
def _rebuild_lock(base: Path):
    base.mkdir(parents=True, exist_ok=True)
    fd = _open_lock(base)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RebuildRunning("a rebuild is already running" + _holder_text(lock_holder(base))) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "started": time.time()}).encode(), 0)
        _active.update(fd=fd, pid=os.getpid())
        try:
            yield
        finally:
            _active.clear()
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def lock_holder(base: Path | None = None) -> dict:
    """Who holds the rebuild lock, as written in the lock file ({} when unknown)."""
    base = base or store.base_dir()
    try:
        return json.loads((base / "rebuild.lock").read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def _holder_text(holder: dict) -> str:
    return f" (pid {holder['pid']} on {holder.get('host', '?')})" if holder.get("pid") else ""


@contextmanager
def _try_lock(base: Path):
    """Yield True while holding the rebuild lock briefly, False when a rebuild holds it."""
    try:
        fd = _open_lock(base)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def rebuild_running(base: Path | None = None) -> bool:
    base = base or store.base_dir()
    if not (base / "rebuild.lock").exists():
        return False
    with _try_lock(base) as free:
        return not free


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
    """Remove index folders that are not live: half-built ones of a crashed or killed rebuild
    (whatever their age), and the previous live one once KEEP_PREVIOUS_SECONDS have passed since
    the swap (searches that began before the swap finish on it). Call it only while holding the
    rebuild lock (a rebuild under way owns its half-built folder). Returns the names removed."""
    base = base or store.base_dir()
    live = store.current_dir(base)
    keep = {p for p in (keep or set()) if p} | ({live} if live else set())
    try:
        pointer_age = time.time() - os.stat(base / store.POINTER).st_mtime
    except OSError:
        pointer_age = KEEP_PREVIOUS_SECONDS
    previous = store.previous_dir(base)
    if previous is not None and pointer_age < KEEP_PREVIOUS_SECONDS:
        keep.add(previous)
    removed = []
    for child in sorted(base.iterdir()) if base.is_dir() else ():
        if not child.is_dir() or not child.name.startswith("index-") or child in keep:
            continue
        shutil.rmtree(child, ignore_errors=True)
        removed.append(child.name)
    return removed


def cleanup_if_idle(base: Path | None = None) -> list[str]:
    """cleanup() unless a rebuild is running (it owns its half-built folder)."""
    base = base or store.base_dir()
    if not base.is_dir():
        return []
    with _try_lock(base) as free:
        return cleanup(base) if free else []


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
    removed = cleanup_if_idle(base)
    running = rebuild_running(base)
    info: dict = {"dir": str(path) if path else None, "language": store.language(), "latest_change": latest,
                  "rebuilding": running}
    if running:
        info["rebuild_by"] = lock_holder(base)
    if removed:
        info["removed_leftovers"] = removed
    if path is None:
        return info | {"state": "missing"}
    cursor = store.read_cursor(path)

    first = db.session.scalar(select(SearchChange.created_at).where(SearchChange.id > cursor.position)
                              .order_by(SearchChange.id).limit(1))
    if first is not None:
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
