"""Background jobs: stored, run after commit only, retried with backoff, parked, periodic."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Job, JobStatus
from app.services.platform import jobs, mail

CALLS: list[dict] = []


@jobs.handler("test.record")
def _record(payload):
    CALLS.append(payload)


@jobs.handler("test.flaky")
def _flaky(payload):
    raise RuntimeError("smtp is down")


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()
    yield


def test_job_runs_only_if_its_transaction_commits(ctx):
    jobs.enqueue("test.record", {"n": 1})
    db.session.rollback()
    jobs.enqueue("test.record", {"n": 2})
    db.session.commit()
    assert jobs.drain() == 1
    assert CALLS == [{"n": 2}]
    assert db.session.scalar(select(Job.status)) == JobStatus.DONE


def test_failing_job_backs_off_then_parks_with_its_error(ctx):
    start = datetime(2026, 1, 1, 12, 0)
    clock.set_now(start)
    job = jobs.enqueue("test.flaky", {}, max_attempts=3)
    db.session.commit()
    job_id = job.id
    assert jobs.run_due() == 1
    job = db.session.get(Job, job_id)
    assert job.status == JobStatus.QUEUED and job.attempts == 1
    assert job.run_at == start + timedelta(seconds=10)
    assert jobs.run_due() == 0  # not due yet: no busy retry loop
    clock.set_now(start + timedelta(seconds=10))
    jobs.run_due()
    clock.set_now(start + timedelta(seconds=60))
    jobs.run_due()
    job = db.session.get(Job, job_id)
    assert job.status == JobStatus.FAILED and job.attempts == 3
    assert "smtp is down" in job.last_error
    clock.set_now(start + timedelta(days=1))
    assert jobs.run_due() == 0  # parked jobs stay parked
    jobs.retry(job_id)
    assert db.session.get(Job, job_id).status == JobStatus.QUEUED


def test_unknown_job_name_is_refused_at_enqueue(ctx):
    with pytest.raises(ValueError):
        jobs.enqueue("no.such.job", {})


def test_a_job_is_claimed_by_one_worker_only(ctx):
    jobs.enqueue("test.record", {"n": 1})
    db.session.commit()
    first = jobs._claim(10)
    second = jobs._claim(10)
    assert len(first) == 1 and second == []


def test_stale_running_job_is_requeued_by_tick(ctx):
    start = datetime(2026, 1, 1, 12, 0)
    clock.set_now(start)
    job = jobs.enqueue("test.record", {"n": 7})
    db.session.commit()
    jobs._claim(10)  # a worker claimed it, then died
    clock.set_now(start + timedelta(minutes=11))
    jobs.tick()  # also enqueues the periodic purge, which is due on a first tick
    jobs.run_due()
    assert CALLS == [{"n": 7}] and db.session.get(Job, job.id).status == JobStatus.DONE


def test_periodic_task_enqueued_once_per_interval(ctx):
    start = datetime(2026, 1, 1, 0, 0)
    clock.set_now(start)
    assert "jobs.purge_done" in jobs.tick()
    assert "jobs.purge_done" not in jobs.tick()  # twice in a row: once
    clock.set_now(start + timedelta(hours=6, seconds=1))
    assert "jobs.purge_done" in jobs.tick()


def test_purge_keeps_parked_failures(ctx):
    old = datetime(2026, 1, 1)
    clock.set_now(old)
    jobs.enqueue("test.record", {})
    jobs.enqueue("test.flaky", {}, max_attempts=1)
    db.session.commit()
    jobs.drain()
    clock.set_now(old + timedelta(days=8))
    assert jobs.purge_done() == 1
    db.session.commit()
    assert [j.status for j in db.session.scalars(select(Job))] == [JobStatus.FAILED]


def test_mail_is_delivered_by_the_worker(ctx):
    mail.send("anna@acme.example", "Hello", "Body text")
    db.session.commit()
    assert mail.outbox() == []
    jobs.drain()
    [msg] = mail.outbox()
    assert msg["To"] == "anna@acme.example" and "Hello" in msg["Subject"]


def test_log_backend_writes_an_eml_file(app, tmp_path):
    app.config["MAIL_BACKEND"] = "log"
    with app.app_context():
        mail.send("bob@acme.example", "Reset", "https://example/reset/abc")
        db.session.commit()
        jobs.drain()
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1 and b"https://example/reset/abc" in files[0].read_bytes()


def test_worker_thread_runs_jobs_and_stops(app):
    with app.app_context():
        jobs.enqueue("test.record", {"n": "threaded"})
        db.session.commit()
    done = threading.Event()
    original = jobs._handlers["test.record"]
    jobs._handlers["test.record"] = lambda p: (original(p), done.set())
    try:
        worker = jobs.start_worker_thread(app)
        assert done.wait(10), "the worker thread did not run the job"
        assert worker.stop(), "the worker thread did not stop"
    finally:
        jobs._handlers["test.record"] = original
    assert CALLS == [{"n": "threaded"}]


def test_cli_worker_once_and_jobs_list(app, runner):
    with app.app_context():
        jobs.enqueue("test.flaky", {}, max_attempts=1)
        db.session.commit()
    result = runner.invoke(args=["worker", "--once"])
    # ours, and every periodic task: the first tick finds them all due
    assert f"ran {1 + len(jobs._periodic)} job(s)" in result.output
    result = runner.invoke(args=["jobs", "list"])
    assert "test.flaky" in result.output and "smtp is down" in result.output
