"""Read markers (unread markers and the view counter), written in batches, never by a page view.

Opening a post queues its marker in this process (`note`); a short timer writes the queue in
one transaction FLUSH_SECONDS later (`flush`), and again at exit. So a page view takes no write
lock and does not wait for one, and a hundred page views cost one short write, not a hundred.

Until a marker is written, `read_at` reads the queue together with the table, so the person's
next page already shows the post as read; so does a page whose transaction began just before a
flush committed (the batch being written, and the last one written for RECENT_SECONDS, count
as queued). Each process writes its own queue (with several
processes, a person's next page is served by the same one behind sticky sessions; elsewhere
it shows as read after the flush). A flush that finds the database busy keeps its markers for
the next one. Markers of people or posts deleted in the meantime are dropped.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import Counter
from datetime import datetime

from flask import Flask, current_app
from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import Post, PostRead, User

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0  # the longest a marker waits in memory (a short, single write per batch)
RETRIES = 5          # flushes in a row that may fail for a busy database before markers are dropped
CHUNK = 400          # markers per statement (SQLite's limit on bound variables)
RECENT_SECONDS = 10.0  # a written batch still counts as queued this long (older snapshots)

_queues: weakref.WeakSet = weakref.WeakSet()


class _Queue:
    """The markers of one app in this process, not written yet."""

    def __init__(self, app: Flask):
        self.app = app
        self.lock = threading.Lock()      # guards pending, timer and failures
        self.flushing = threading.Lock()  # one flush at a time: flush() waits for one under way
        self.pending: dict[tuple[int, int], datetime] = {}
        self.writing: dict[tuple[int, int], datetime] = {}  # the batch a flush is writing now
        self.recent: dict[tuple[int, int], datetime] = {}   # the last batch written ...
        self.recent_until = 0.0                             # ... until this time.monotonic()
        self.timer: threading.Timer | None = None
        self.failures = 0

    def add(self, user_id: int, post_id: int, at: datetime) -> None:
        with self.lock:
            key = (user_id, post_id)
            if key not in self.pending or self.pending[key] < at:
                self.pending[key] = at
            self._schedule()

    def _schedule(self) -> None:  # with self.lock held
        if self.timer is None and self.pending:
            self.timer = threading.Timer(FLUSH_SECONDS, self.flush)
            self.timer.daemon = True
            self.timer.name = "kring-read-markers"
            self.timer.start()

    def flush(self) -> int:
        with self.flushing:
            with self.lock:
                batch, self.pending = self.pending, {}
                self.writing = batch
                if self.timer is not None and self.timer is not threading.current_thread():
                    self.timer.cancel()
                self.timer = None
            if not batch:
                return 0
            try:
                return self._write_batch(batch)
            finally:
                with self.lock:
                    self.writing = {}

    def _write_batch(self, batch: dict[tuple[int, int], datetime]) -> int:
        try:
            with self.app.app_context():
                try:
                    _write(batch)
                finally:
                    db.session.remove()
        except OperationalError:  # busy or away for a moment: keep them for the next flush
            with self.lock:
                self.failures += 1
                if self.failures > RETRIES:
                    log.exception("dropping %d read markers: the database stayed busy", len(batch))
                    self.failures = 0
                    return 0
                log.warning("read markers not written (database busy); retrying", exc_info=True)
                for key, at in batch.items():
                    if key not in self.pending or self.pending[key] < at:
                        self.pending[key] = at
                self._schedule()
            return 0
        except Exception:  # noqa: BLE001 - a background writer must not die on one bad batch
            log.exception("dropping %d read markers that could not be written", len(batch))
            return 0
        with self.lock:
            self.failures = 0
            self.recent, self.recent_until = batch, time.monotonic() + RECENT_SECONDS
        return len(batch)

    def advance(self, user_id: int, post_id: int, at: datetime) -> None:
        with self.lock:
            key = (user_id, post_id)
            if key in self.pending and self.pending[key] < at:
                self.pending[key] = at
            elif key not in self.pending and key in self.writing and self.writing[key] < at:
                self.pending[key] = at  # being written with the older time: write this one next
                self._schedule()

    def seen(self, user_id: int, post_ids) -> dict[int, datetime]:
        """The person's markers not in the table yet (or only just): queued, being written,
        or written in the last RECENT_SECONDS; the latest of them per post."""
        with self.lock:
            recent = self.recent if time.monotonic() < self.recent_until else {}
            found: dict[int, datetime] = {}
            for source in (recent, self.writing, self.pending):
                for pid in post_ids:
                    at = source.get((user_id, pid))
                    if at is not None and (pid not in found or found[pid] < at):
                        found[pid] = at
            return found


def _queue(app: Flask | None = None) -> _Queue:
    app = app or current_app._get_current_object()
    queue = app.extensions.get("kring_reads")
    if queue is None:
        with _create_lock:
            queue = app.extensions.get("kring_reads")
            if queue is None:
                queue = app.extensions["kring_reads"] = _Queue(app)
                _queues.add(queue)
    return queue


_create_lock = threading.Lock()


def note(user_id: int, post_id: int, at: datetime) -> None:
    """Queue the marker "this person read this post at `at`" (written within FLUSH_SECONDS)."""
    _queue().add(user_id, post_id, at)


def advance(user_id: int, post_id: int, at: datetime) -> None:
    """Move a queued marker of the person on the post to `at` (none is made when there is none)."""
    _queue().advance(user_id, post_id, at)


def read_at(user_id: int, post_ids) -> dict[int, datetime]:
    """{post_id: when the person last opened it} for those of `post_ids` they opened: the
    table and this process's queue together (the later of the two)."""
    post_ids = list(post_ids)
    if not post_ids:
        return {}
    reads = dict(db.session.execute(select(PostRead.post_id, PostRead.read_at)
                                    .where(PostRead.user_id == user_id, PostRead.post_id.in_(post_ids))).all())
    for pid, at in _queue().seen(user_id, post_ids).items():
        if pid not in reads or reads[pid] < at:
            reads[pid] = at
    return reads


def flush(app: Flask | None = None) -> int:
    """Write the queued markers of `app` (default: the current one) now, in a transaction and
    a session of their own; waits for a flush under way. Returns how many were written."""
    return _queue(app).flush()


def _write(batch: dict[tuple[int, int], datetime]) -> None:
    """One transaction: markers already in the table move forward; new ones are inserted (for
    people and posts that still exist) and count one view each."""
    table = PostRead.__table__
    keys = sorted(batch)
    # First statement a write: on SQLite the transaction takes the write lock now, so what it
    # reads next is what it writes on.
    db.session.execute(update(table).where(table.c.user_id == bindparam("u"), table.c.post_id == bindparam("p"),
                                           table.c.read_at < bindparam("t")).values(read_at=bindparam("t")),
                       [{"u": u, "p": p, "t": batch[(u, p)]} for u, p in keys])
    existing: set[tuple[int, int]] = set()
    for i in range(0, len(keys), CHUNK):
        part = keys[i:i + CHUNK]
        existing.update((u, p) for u, p in db.session.execute(
            select(table.c.user_id, table.c.post_id).where(tuple_(table.c.user_id, table.c.post_id).in_(part))))
    new = [k for k in keys if k not in existing]
    if new:
        users = set(db.session.scalars(select(User.id).where(User.id.in_({u for u, _p in new}))))
        posts = set(db.session.scalars(select(Post.id).where(Post.id.in_({p for _u, p in new}))))
        rows = [{"user_id": u, "post_id": p, "read_at": batch[(u, p)]} for u, p in new if u in users and p in posts]
        if rows:
            if db.engine.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as dialect_insert
            else:
                from sqlalchemy.dialects.sqlite import insert as dialect_insert
            # another process may have inserted the same marker meanwhile (PostgreSQL): only
            # the rows this one inserted count a view
            inserted = Counter(db.session.execute(
                dialect_insert(table).on_conflict_do_nothing().returning(table.c.post_id), rows).scalars())
            posts_table = Post.__table__
            if inserted:
                db.session.execute(update(posts_table).where(posts_table.c.id == bindparam("pid"))
                                   .values(view_count=posts_table.c.view_count + bindparam("n")),
                                   [{"pid": pid, "n": n} for pid, n in sorted(inserted.items())])
    db.session.commit()


def _flush_all() -> None:
    for queue in list(_queues):
        try:
            queue.flush()
        except Exception:  # noqa: BLE001 - best effort at exit
            log.exception("read markers not written at exit")


def _forget_after_fork() -> None:
    """A forked worker starts with no queue of its own (the parent's timer did not come along)."""
    for queue in list(_queues):
        queue.lock = threading.Lock()
        queue.flushing = threading.Lock()
        queue.pending, queue.timer, queue.failures = {}, None, 0


atexit.register(_flush_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
