"""The indexer under failure and concurrency: killed mid-batch (SIGKILL) and between the index
commit and the cursor write, it resumes with nothing lost and nothing doubled; a rebuild swaps
in while searches keep running; gaps in the change log are waited for; the CLI."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from app import clock
from app.extensions import db
from app.models import Community, Notification, Post, SearchChange, User
from app.search import indexer, rebuild, store
from app.services import search

REPO = str(Path(__file__).resolve().parents[2])


def _world(make, n_posts: int) -> dict:
    social = make.user("employee", is_global_manager=True)
    reader = make.user("customer")
    community = make.community("open", manager=social, slug="camp")
    make.member(community, reader)
    with_app = make.app
    with with_app.app_context():
        search.sync()  # an index exists before the burst
        search.save(db.session.get(User, reader.id), "Lanterns", "lantern")
        db.session.add_all([Post(community_id=community.id, author_id=social.id, kind="discussion",
                                 title=f"Lantern number {i}", body=f"lantern body {i}", body_html=f"<p>lantern {i}</p>",
                                 vote_count=0, comment_count=0, view_count=0, hot=0.0) for i in range(n_posts)])
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(SearchChange).where(
            SearchChange.doc_id.like("post:%"))) == n_posts
    return {"social": social, "reader": reader, "community": community}


def _run_indexer(app, tmp_path, patch: str) -> subprocess.Popen:
    """An indexer in its own process, with `patch` applied first (it prints a marker and waits)."""
    head = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {REPO!r})
        from pathlib import Path
        from app import create_app
        from config import TestConfig
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI={app.config['SQLALCHEMY_DATABASE_URI']!r},
                         INSTANCE_DIR=Path({str(tmp_path)!r}), UPLOAD_DIR=Path({str(tmp_path / 'uploads')!r}),
                         MAIL_OUTBOX_DIR=Path({str(tmp_path / 'outbox')!r}))
        from app.search import indexer, store
    """)
    tail = textwrap.dedent("""
        with app.app_context():
            indexer.apply_pending(limit=5000)
        print("FINISHED", flush=True)
    """)
    script = head + textwrap.dedent(patch) + tail
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)


def _wait_for(proc: subprocess.Popen, marker: str, timeout: float = 90) -> None:
    found = threading.Event()

    def read():
        for line in proc.stdout:
            if marker in line:
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(timeout):
        proc.kill()
        raise AssertionError(f"the indexer never reached {marker}: {proc.stderr.read()[-2000:]}")


def _post_docs(searcher) -> int:
    from whoosh import query as wq

    return len(list(wq.Term("type", "post").docs(searcher)))


def _alerts() -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.kind == "saved_search")) or 0


SLOW_WRITE = """
original = indexer.write
def slow_write(writer, docs, searcher=None):
    written = 0
    for doc_id, fields in docs.items():
        original(writer, {doc_id: fields}, searcher)
        written += 1
        if written == 300:
            print("MIDWAY", flush=True)
            time.sleep(120)
    return written, 0
indexer.write = slow_write
"""

SLOW_CURSOR = """
original = store.write_cursor
def slow_cursor(path, cursor):
    print("COMMITTED", flush=True)
    time.sleep(120)
    original(path, cursor)
store.write_cursor = slow_cursor
"""


@pytest.mark.parametrize("patch,marker", [(SLOW_WRITE, "MIDWAY"), (SLOW_CURSOR, "COMMITTED")],
                         ids=["killed-while-writing", "killed-after-commit-before-cursor"])
def test_an_indexer_killed_mid_batch_resumes_with_nothing_lost_or_doubled(app, make, tmp_path, patch, marker):
    world = _world(make, 600)
    with app.app_context():
        before = store.read_cursor(store.current_dir()).position
        latest = indexer.latest_change_id()
    proc = _run_indexer(app, tmp_path, patch)
    _wait_for(proc, marker)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    with app.app_context():
        path = store.current_dir()
        assert store.read_cursor(path).position == before  # the killed round never moved the cursor
        alerts_before = _alerts()
        if marker == "COMMITTED":
            assert alerts_before == 600  # the round's alerts went out before the crash
        indexer.catch_up()
        assert store.read_cursor(path).position == latest
        with store.open_index(path).searcher() as s:
            assert _post_docs(s) == 600  # each post exactly once
        assert rebuild.check().ok
        assert _alerts() == 600  # one alert per post, even though the round ran twice
        reader = db.session.get(User, world["reader"].id)
        assert search.search(reader, "lantern").total == 600


def test_a_failure_between_the_index_commit_and_the_cursor_is_replayed_safely(app, make):
    _world(make, 50)
    with app.app_context():
        path = store.current_dir()
        before = store.read_cursor(path).position
        with pytest.raises(RuntimeError):
            indexer.apply_pending(_fail_after_commit=True)
        assert store.read_cursor(path).position == before
        report = indexer.apply_pending()
        assert report.changes >= 50 and report.written >= 50
        with store.open_index(path).searcher() as s:
            assert _post_docs(s) == 50
        assert rebuild.check().ok


def test_ids_skipped_in_the_log_are_waited_for(app, make):
    """On PostgreSQL a transaction holding a lower id can commit after a higher one was read."""
    _world(make, 3)
    with app.app_context():
        path = store.current_dir()
        indexer.catch_up()
        position = store.read_cursor(path).position
        pid = db.session.scalar(select(func.max(Post.id)))
        # a late commit: id position+1 is "still in flight", position+2 is committed now
        db.session.execute(insert(SearchChange).values(id=position + 2, doc_id=f"post:{pid}", op="upsert",
                                                       created_at=clock.utcnow()))
        db.session.commit()
        indexer.apply_pending()
        cursor = store.read_cursor(path)
        assert cursor.position == position + 2 and set(cursor.gaps) == {position + 1}
        db.session.execute(insert(SearchChange).values(id=position + 1, doc_id=f"post:{pid}", op="upsert",
                                                       created_at=clock.utcnow()))
        db.session.commit()
        report = indexer.apply_pending()
        assert report.changes == 1 and store.read_cursor(path).gaps == {}


def test_rebuild_swaps_while_searches_keep_working(app, make):
    world = _world(make, 300)
    with app.app_context():
        search.sync()
    outcomes: list[tuple[int, str | None]] = []
    progressed = threading.Event()
    stop = threading.Event()

    def searching():
        with app.app_context():
            viewer = db.session.get(User, world["reader"].id)
            while not stop.is_set():
                page = search.search(viewer, "lantern", record=False)
                outcomes.append((page.total, page.error or page.unavailable))
                progressed.set()
                db.session.rollback()
            db.session.remove()

    def before_swap(_path):
        for _ in range(3):  # a few searches run while the new index waits to be swapped in
            progressed.clear()
            assert progressed.wait(20)

    thread = threading.Thread(target=searching)
    thread.start()
    try:
        with app.app_context():
            old = store.current_dir()
            report = rebuild.rebuild(procs=1, _before_swap=before_swap)
            assert store.current_dir() == report.path != old
            progressed.clear()
            assert progressed.wait(20)  # and after the swap
    finally:
        stop.set()
        thread.join(30)
    assert len(outcomes) >= 4
    assert all(error is None and total == 300 for total, error in outcomes), outcomes[:5]


def test_cli_rebuild_check_status_worker(app, make, runner):
    _world(make, 40)
    result = runner.invoke(args=["search", "rebuild", "--procs", "2"])
    assert result.exit_code == 0, result.output
    assert "Rebuilt" in result.output and "swapped in" in result.output
    with app.app_context():
        with store.open_index(store.current_dir()).searcher() as s:
            assert _post_docs(s) == 40 and len(s.leaf_searchers()) >= 1
        community = db.session.scalar(select(Community).where(Community.slug == "camp"))
        db.session.add(Post(community_id=community.id, author_id=None, kind="discussion", title="One more lantern",
                            body="", body_html="", vote_count=0, comment_count=0, view_count=0, hot=0.0))
        db.session.commit()
    result = runner.invoke(args=["search", "check"])
    assert result.exit_code == 1 and "missing from the index" in result.output
    result = runner.invoke(args=["search", "status"])
    assert "behind: 1" in result.output
    result = runner.invoke(args=["search", "worker", "--once"])
    assert "applied 1 change(s)" in result.output
    result = runner.invoke(args=["search", "check"])
    assert result.exit_code == 0 and "matches the database" in result.output


def test_a_second_rebuild_at_the_same_time_is_refused(app, make):
    _world(make, 5)
    with app.app_context():
        def nested(_path):
            with pytest.raises(rebuild.RebuildRunning):
                rebuild.rebuild(procs=1)
            assert rebuild.rebuild_running()

        rebuild.rebuild(procs=1, _before_swap=nested)
        assert not rebuild.rebuild_running()


def test_time_to_searchable_through_the_worker_thread(app, make):
    """The embedded worker thread makes a committed post searchable (bounded wait, no timing)."""
    from app.services.platform import jobs

    world = _world(make, 1)
    with app.app_context():
        search.sync()
    worker = jobs.start_worker_thread(app)
    try:
        with app.app_context():
            post = Post(community_id=world["community"].id, author_id=world["social"].id, kind="discussion",
                        title="Headlamp battery", body="", body_html="", vote_count=0, comment_count=0,
                        view_count=0, hot=0.0)
            db.session.add(post)
            db.session.commit()
            reader = db.session.get(User, world["reader"].id)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and search.search(reader, "headlamp", record=False).total == 0:
                db.session.rollback()
                time.sleep(0.05)
            assert search.search(reader, "headlamp", record=False).total == 1
    finally:
        assert worker.stop(), "the worker thread did not stop"


def test_a_rebuild_killed_with_sigkill_leaves_no_workers_no_lock_and_no_leftovers(app, make, tmp_path):
    """A real rebuild process (procs=2) killed with SIGKILL while its writer processes run: they
    die with it, the lock is free, status and the next rebuild remove the half-built folder."""
    _world(make, 1200)
    script = textwrap.dedent(f"""
        import multiprocessing, os, sys, time
        sys.path.insert(0, {REPO!r})
        from pathlib import Path
        from app import create_app
        from config import TestConfig
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI={app.config['SQLALCHEMY_DATABASE_URI']!r},
                         INSTANCE_DIR=Path({str(tmp_path)!r}), UPLOAD_DIR=Path({str(tmp_path / 'uploads')!r}),
                         MAIL_OUTBOX_DIR=Path({str(tmp_path / 'outbox')!r}))
        from app.search import rebuild
        def progress(kind, count):
            workers = [p.pid for p in multiprocessing.active_children()]
            if workers:
                print("WORKERS", *workers, flush=True)
                time.sleep(3600)
        with app.app_context():
            rebuild.rebuild(procs=2, batch=100, progress=progress)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)
    line = ""
    for line in proc.stdout:
        if line.startswith("WORKERS"):
            break
    assert line.startswith("WORKERS"), proc.stderr.read()[-2000:]
    workers = [int(pid) for pid in line.split()[1:]]
    with app.app_context():
        assert rebuild.rebuild_running()
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        try:  # reaped by nobody yet: a zombie is dead
            return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + 60
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in workers)
    with app.app_context():
        base = store.base_dir()
        live = store.current_dir(base)
        half = [p for p in base.iterdir() if p.name.startswith("index-") and p != live]
        assert half
        info = rebuild.status()
        assert info["rebuilding"] is False
        assert set(info["removed_leftovers"]) >= {p.name for p in half}
        report = rebuild.rebuild(procs=2)
        assert store.current_dir(base) == report.path
