"""Background work: jobs kept in the `jobs` table, retried with backoff, then parked.

- `enqueue(name, payload)` adds a job to the caller's transaction: it runs only if that
  transaction commits, and it survives a restart.
- `@handler("name")` registers the function that runs a job (it gets the payload dict and runs
  inside its own transaction, which the runner commits).
- `@periodic("name", every=timedelta)` registers a task that `tick()` enqueues when due.
- `run_due()` claims and runs due jobs (the embedded thread, `flask worker`); claiming is an
  UPDATE guarded by the status, so several workers never run the same job.
- A job that raises is retried after 2**attempts * 5 s, up to its max attempts, then parked as
  FAILED with its error for admins (`/admin/jobs`, `flask jobs list`) to see and retry.

In the embedded default `start_worker_thread(app)` runs tick + run_due in one daemon thread of
the server; later features plug in as handlers, periodic tasks and pollers (`@poller`: called
every KRING_POLLER_SECONDS, for work that must follow the database within a second, like the
search indexer), never as threads of their own.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app import clock
from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import Job, JobStatus, PeriodicRun

log = logging.getLogger(__name__)

_handlers: dict[str, Callable[[dict], None]] = {}


@dataclass(frozen=True)
class Periodic:
    name: str
    every: timedelta
    job: str


_periodic: dict[str, Periodic] = {}

STALE_AFTER = timedelta(minutes=10)


def handler(name: str) -> Callable:
    """Register `fn(payload)` as the runner of jobs called `name`."""

    def register(fn: Callable[[dict], None]) -> Callable[[dict], None]:
        _handlers[name] = fn
        return fn

    return register


def periodic(name: str, every: timedelta) -> Callable:
    """Register `fn(payload)` as a job that tick() enqueues every `every`."""

    def register(fn: Callable[[dict], None]) -> Callable[[dict], None]:
        handler(name)(fn)
        _periodic[name] = Periodic(name, every, name)
        return fn

    return register


def registered_handlers() -> list[str]:
    """The names of every registered job handler, sorted. Raises nothing."""
    return sorted(_handlers)


def enqueue(name: str, payload: dict | None = None, *, delay: timedelta | None = None,
            max_attempts: int | None = None) -> Job:
    """Add a job to the current transaction (the caller commits). Returns the Job row."""
    if name not in _handlers:
        raise ValueError(f"no handler registered for job {name!r}")

    job = Job(name=name, payload=payload or {}, status=JobStatus.QUEUED,
              run_at=clock.utcnow() + (delay or timedelta()),
              max_attempts=max_attempts or current_app.config["JOB_MAX_ATTEMPTS"])
    db.session.add(job)
    return job


def tick() -> list[str]:
    """Enqueue every periodic task that is due, and requeue jobs stuck in RUNNING.

    Safe to call from several processes at once: the PeriodicRun row is updated with a guard
    on its previous value, so only one caller enqueues a given run. Returns the names enqueued.
    """
    now = clock.utcnow()
    enqueued = []
    for task in _periodic.values():
        row = db.session.get(PeriodicRun, task.name)
        if row is None:
            db.session.add(PeriodicRun(name=task.name, last_run_at=now))
            try:
                db.session.flush()
            except IntegrityError:  # another process inserted it first
                db.session.rollback()
                continue
        elif row.last_run_at + task.every > now:
            continue
        else:
            claimed = db.session.execute(
                update(PeriodicRun)
                .where(PeriodicRun.name == task.name, PeriodicRun.last_run_at == row.last_run_at)
                .values(last_run_at=now)).rowcount
            if not claimed:
                continue
        enqueue(task.job, {})
        enqueued.append(task.name)
    db.session.execute(
        update(Job)
        .where(Job.status == JobStatus.RUNNING, Job.locked_at < now - STALE_AFTER)
        .values(status=JobStatus.QUEUED, locked_at=None, locked_by=None))
    db.session.commit()
    return enqueued


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _claim(limit: int) -> list[int]:
    now = clock.utcnow()
    candidates = db.session.scalars(
        select(Job.id).where(Job.status == JobStatus.QUEUED, Job.run_at <= now)
        .order_by(Job.run_at, Job.id).limit(limit)).all()
    claimed = []
    me = _worker_id()
    for job_id in candidates:
        won = db.session.execute(
            update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED)
            .values(status=JobStatus.RUNNING, locked_at=now, locked_by=me,
                    attempts=Job.attempts + 1)).rowcount
        if won:
            claimed.append(job_id)
    db.session.commit()
    return claimed


def _run_one(job_id: int) -> bool:
    job = db.session.get(Job, job_id)
    fn = _handlers.get(job.name)
    name, payload, attempts, max_attempts = job.name, dict(job.payload or {}), job.attempts, job.max_attempts
    try:
        if fn is None:
            raise LookupError(f"no handler registered for job {name!r}")
        fn(payload)
        db.session.commit()
    except Exception as exc:  # noqa: BLE001 - a job may fail in any way; we park it, never crash
        db.session.rollback()
        log.warning("job %s #%s failed (attempt %s/%s): %s", name, job_id, attempts, max_attempts, exc)
        job = db.session.get(Job, job_id)
        job.last_error = "".join(traceback.format_exception(exc))[-4000:]
        job.locked_at = job.locked_by = None
        if attempts >= max_attempts:
            job.status = JobStatus.FAILED
            job.finished_at = clock.utcnow()
        else:
            job.status = JobStatus.QUEUED
            job.run_at = clock.utcnow() + timedelta(seconds=5 * 2 ** attempts)
        db.session.commit()
        return False
    job = db.session.get(Job, job_id)
    job.status = JobStatus.DONE
    job.finished_at = clock.utcnow()
    job.locked_at = job.locked_by = None
    job.last_error = None
    db.session.commit()
    return True


def run_due(limit: int = 50) -> int:
    """Claim and run up to `limit` due jobs. Returns how many ran (successfully or not)."""
    ran = 0
    for job_id in _claim(limit):
        _run_one(job_id)
        ran += 1
    return ran


def drain(max_rounds: int = 20) -> int:
    """Run due jobs until none is left (tests, CLI). Returns the number run."""
    total = 0
    for _ in range(max_rounds):
        ran = run_due()
        total += ran
        if not ran:
            break
    return total


def retry(job_id: int) -> Job:
    """Put a parked (FAILED) job back in the queue, now, with a fresh set of attempts.

    Raises NotFound, and ValidationError for a job that is not parked (already retried,
    queued, running or done): retrying those would run finished work a second time."""
    job = db.session.get(Job, job_id)
    if job is None:
        raise NotFound("No such job.")
    if job.status != JobStatus.FAILED:
        raise ValidationError({"_": f"Job #{job_id} is {job.status.value}, not parked: nothing to retry."})
    job.status = JobStatus.QUEUED
    job.attempts = 0
    job.run_at = clock.utcnow()
    job.finished_at = None
    db.session.commit()
    return job


def purge_done(older_than: timedelta = timedelta(days=7)) -> int:
    """Delete finished jobs older than `older_than` (in the caller's transaction); parked
    failures are kept. Returns how many were deleted."""
    return db.session.execute(delete(Job).where(
        Job.status == JobStatus.DONE, Job.finished_at < clock.utcnow() - older_than)).rowcount


@periodic("jobs.purge_done", every=timedelta(hours=6))
def _purge_done_job(payload: dict) -> None:
    purge_done()


_pollers: list[Callable[[], int]] = []


def poller(fn: Callable[[], int]) -> Callable[[], int]:
    """Register `fn()` to be called by the worker loop every KRING_POLLER_SECONDS (0.2 s by
    default), in an app context, between job rounds: for work that must follow the database
    closely (the search indexer). It returns how much it did; more than 0 means "more may be
    waiting", and the loop calls it again without sleeping. It must not block for long."""
    if fn not in _pollers:
        _pollers.append(fn)
    return fn


def run_pollers(errors: dict[str, str] | None = None) -> int:
    """Call every registered poller once; returns the work they reported. A failing poller is
    logged (a repeated error once) and does not stop the others."""
    busy = 0
    for fn in list(_pollers):
        name = getattr(fn, "__qualname__", repr(fn))
        try:
            busy += int(fn() or 0)
            if errors is not None:
                errors.pop(name, None)
        except Exception as exc:  # noqa: BLE001 - a poller may fail in any way; the loop goes on
            db.session.rollback()
            if errors is None or errors.get(name) != repr(exc):
                log.exception("background poller %s failed (repeats are not logged again)", name)
            if errors is not None:
                errors[name] = repr(exc)
    return busy


def work_forever(app: Flask, stop: threading.Event, *, poll: float | None = None) -> None:
    """The worker loop: tick and run due jobs every `poll` seconds (at once again while jobs
    keep coming), and call the pollers every KRING_POLLER_SECONDS in between. Errors are
    logged (a repeated error once, until a round succeeds again), never fatal."""
    poll = poll if poll is not None else app.config["JOB_POLL_SECONDS"]
    fast = float(app.config.get("KRING_POLLER_SECONDS") or os.environ.get("KRING_POLLER_SECONDS") or 0.2)
    last_error = None
    poller_errors: dict[str, str] = {}
    next_jobs = 0.0
    last_poll = [0.0]

    def poll_between_jobs() -> None:
        # a long queue of jobs must not hold up the pollers (e.g. new posts waiting for search)
        if _pollers and time.monotonic() - last_poll[0] >= fast:
            run_pollers(poller_errors)
            last_poll[0] = time.monotonic()

    while not stop.is_set():
        ran = 0
        if time.monotonic() >= next_jobs:
            try:
                with app.app_context():
                    tick()
                    for job_id in _claim(50):
                        _run_one(job_id)
                        ran += 1
                        poll_between_jobs()
                last_error = None
            except Exception as exc:  # noqa: BLE001 - the loop must survive a bad moment (db restart)
                if repr(exc) != last_error:
                    log.exception("background worker round failed (repeats are not logged again)")
                last_error = repr(exc)
            finally:
                with app.app_context():
                    db.session.remove()
            next_jobs = time.monotonic() + (0 if ran else (poll if last_error is None else max(poll, 5.0)))
        busy = 0
        if _pollers:
            try:
                with app.app_context():
                    busy = run_pollers(poller_errors)
                    last_poll[0] = time.monotonic()
            finally:
                with app.app_context():
                    db.session.remove()
        if not ran and not busy:
            wait = max(0.0, next_jobs - time.monotonic())
            stop.wait(min(wait, fast) if _pollers else wait)


class WorkerThread:
    """The embedded worker running in a daemon thread of this process."""

    def __init__(self, app: Flask) -> None:
        self._stop = threading.Event()
        self.thread = threading.Thread(target=work_forever, args=(app, self._stop), name="kring-worker", daemon=True)

    def stop(self, timeout: float = 30.0) -> bool:
        """Ask the loop to stop and wait for its round to end, so no transaction of it is open
        afterwards (a test's teardown would otherwise deadlock with it on PostgreSQL).
        False when it is still running after `timeout` seconds."""
        self._stop.set()
        self.thread.join(timeout)
        return not self.thread.is_alive()


def start_worker_thread(app: Flask) -> WorkerThread:
    """Start the embedded worker as a daemon thread; `.stop()` on the result ends it."""
    worker = WorkerThread(app)
    worker.thread.start()
    return worker
