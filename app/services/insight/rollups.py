"""Keeping the weekly rollups up to date.

`rollup()` (the periodic job `insight.rollup`, every ROLLUP_EVERY, and `flask insight rollup`)
rewrites:
- the current week, and every week that was current at the previous run (so a week is rolled
  up once more after it ended);
- once every RECENT_EVERY, the last RECENT_WEEKS complete weeks (late comments, answers,
  status changes and deletions mostly touch recent weeks);
- once every FULL_EVERY (and with `full=True`), every week since the first activity.

A week of one table is rewritten in one transaction (DELETE, then INSERT ... SELECT with the
live query of app.services.insight.sources), so readers always see whole weeks and the write
lock is held briefly. The dashboards read the rolled-up weeks (up to `rolled_through`, the
current week after a run) from the tables and any later week live.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from sqlalchemy import DateTime, bindparam, delete, func, insert, select

from app import clock
from app.extensions import db
from app.models import ChatMessage, Comment, Post, Vote
from app.models.insight import InsightState
from app.services.insight import sources
from app.services.insight.sql import week_end, week_of, week_start
from app.services.platform import jobs

log = logging.getLogger(__name__)

ROLLUP_EVERY = timedelta(minutes=5)
RECENT_EVERY = timedelta(hours=1)
FULL_EVERY = timedelta(hours=24)
RECENT_WEEKS = 4


@dataclass
class RollupRun:
    weeks: int
    first: int | None
    last: int | None
    full: bool
    seconds: float

    def __str__(self) -> str:
        if not self.weeks:
            return "Insight rollups: nothing to roll up."
        kind = "every week" if self.full else "recent weeks"
        return f"Insight rollups: {self.weeks} week(s) rolled up ({kind}) in {self.seconds:.1f} s."


def state() -> InsightState:
    """The state row (created on first use, in the caller's transaction)."""
    row = db.session.get(InsightState, 1)
    if row is None:
        row = InsightState(id=1)
        db.session.add(row)
        db.session.flush()
    return row


def rolled_through() -> int | None:
    """The last week whose rollups the dashboards read, or None (everything is read live)."""
    return db.session.scalar(select(InsightState.rolled_through).where(InsightState.id == 1))


def first_week() -> int | None:
    """The week of the oldest activity (each MIN is one index lookup)."""
    firsts = [db.session.scalar(select(func.min(col))) for col in
              (Post.created_at, Comment.created_at, Vote.created_at, ChatMessage.created_at)]
    firsts = [f for f in firsts if f is not None]
    return week_of(min(firsts)) if firsts else None


@cache
def _statements(name: str):
    """(DELETE, INSERT ... SELECT) of one rollup table for one week (bound parameters: week,
    lo, hi), built once."""
    model, live = sources.TABLES[name]
    table = model.__table__
    columns = [c.name for c in table.columns]
    if name == "post_weeks":  # summed from the week's post facts, just rolled up
        query = sources.post_weeks_from_rollup(bindparam("week"))
    else:
        query = live(bindparam("lo", type_=DateTime), bindparam("hi", type_=DateTime))
    return delete(table).where(table.c.week == bindparam("week")), insert(table).from_select(columns, query)


def roll_week(week: int) -> None:
    """Rewrite every rollup table for one week, one transaction per table."""
    params = {"week": week, "lo": week_start(week), "hi": week_end(week)}
    for name in sources.TABLES:
        remove, add = _statements(name)
        db.session.execute(remove, params)
        db.session.execute(add, params)
        db.session.commit()


def rollup(*, full: bool = False) -> RollupRun:
    """Bring the rollups up to date (see the module docstring). `full`: rewrite every week."""
    started = time.perf_counter()
    now = clock.utcnow()
    row = state()
    current = week_of(now)
    first = first_week()
    full = full or row.full_at is None or row.full_at + FULL_EVERY <= now
    recent = full or row.recent_at is None or row.recent_at + RECENT_EVERY <= now
    weeks: set[int] = set()
    if first is not None and first <= current:
        if full:
            weeks.update(range(first, current + 1))
        else:
            since = week_of(row.rolled_at) if row.rolled_at is not None else current
            weeks.update(range(max(first, min(since, current)), current + 1))
            if recent:
                weeks.update(range(max(first, current - RECENT_WEEKS), current))
    db.session.commit()
    for week in sorted(weeks, reverse=True):  # the freshest first
        roll_week(week)
    row = state()
    row.rolled_through, row.rolled_at = current, now
    if recent:
        row.recent_at = now
    if full:
        row.full_at = now
    db.session.commit()
    run = RollupRun(len(weeks), min(weeks, default=None), max(weeks, default=None), full,
                    time.perf_counter() - started)
    if weeks:
        log.info("%s", run)
    return run


@jobs.periodic("insight.rollup", every=ROLLUP_EVERY)
def _rollup_job(payload: dict) -> None:
    rollup(full=bool(payload.get("full")))
