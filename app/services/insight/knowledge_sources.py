"""Searches for the knowledge section, from the search log (app.models.SearchLog: query,
result count, time, who searched and with which filters). Read live: the log has its own time
index and is small next to the activity tables.

On a community's dashboard (or with the community filter) only the searches made inside that
community (the search's community filter) count. The people filters apply to who searched.

What people typed is theirs: a search that found nothing can be the title of a post in a
private community typed by one of its members. The list of missed searches therefore names a
text only once at least MISSED_MIN_PEOPLE different people typed it (in the period and
filters shown); the counts above include every search.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, func, select

from app.models import SearchLog, User
from app.services.insight.context import P, dt_param, share
from app.services.insight.report import INT, PCT, TEXT, WEEK, Chart, Column, Figure, Table
from app.services.insight.sql import sql_week, week_start

TOP_MISSED = 15
#: a search text without a result is listed only once this many different people typed it
MISSED_MIN_PEOPLE = 3


@dataclass
class Searches:
    """The knowledge section's search part: its figures, tables and notes, whether nobody
    searched, and the share of searches that found something (None without searches)."""

    figures: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    empty: bool = True
    found_share: float | None = None


def _log(ctx):
    stmt = (select(SearchLog.query, SearchLog.result_count, SearchLog.created_at, SearchLog.user_id)
            .where(SearchLog.created_at >= dt_param("start"), SearchLog.created_at < dt_param("end")))
    people = ctx.people()
    if people:
        stmt = stmt.join(User, User.id == SearchLog.user_id).where(*people)
    if ctx.by_community:
        stmt = stmt.where(SearchLog.filters["community"].as_string() == P("cid_text"))
    return stmt.subquery("searches")


def searches(ctx) -> Searches:
    """Searches and searches without a result, week by week, and the most frequent queries that
    found nothing."""
    out = Searches()

    def weekly_build():
        log = _log(ctx)
        week = sql_week(log.c.created_at)
        return select(week, func.count(), func.sum(case((log.c.result_count == 0, 1), else_=0))).group_by(week)

    def missed_build():
        log = _log(ctx)
        text = func.lower(func.trim(log.c.query))
        return (select(text.label("q"), func.count().label("n")).where(log.c.result_count == 0)
                .group_by(text).having(func.count(func.distinct(log.c.user_id)) >= MISSED_MIN_PEOPLE)
                .order_by(func.count().desc(), text).limit(TOP_MISSED))

    weekly = {w: (int(n), int(z or 0)) for w, n, z in ctx.rows("search.weekly", weekly_build)}
    total = sum(n for n, _z in weekly.values())
    missed = sum(z for _n, z in weekly.values())
    rows = []
    for w in ctx.filters.weeks:
        n, z = weekly.get(w, (0, 0))
        rows.append([week_start(w).date(), n, z, share(z, n)])
    out.tables.append(Table("search-weekly", "Searches week by week", [
        Column("week", "Week of", WEEK), Column("searches", "Searches"), Column("zero", "Without a result"),
        Column("share", "Share without a result", PCT)], rows, Chart("bar", ("searches", "zero")),
        empty_message="Nobody searched in this period."))
    top = ctx.rows("search.missed", missed_build)
    out.tables.append(Table("search-missed", "What people look for and do not find", [
        Column("query", "Search", TEXT), Column("n", "Times searched without a result")],
        [[q, int(n)] for q, n in top], Chart("hbar", ("n",)),
        empty_message=f"No search without a result was typed by {MISSED_MIN_PEOPLE} or more different people "
                      "in this period.",
        note=f"A search is listed once {MISSED_MIN_PEOPLE} or more different people typed it: what one person "
             "typed stays theirs."))
    out.figures = [Figure("Searches", total, INT),
                   Figure("Searches without a result", share(missed, total), PCT, f"{missed} of {total}")]
    if ctx.by_community:
        out.notes.append("Searches made inside this community (with its community filter).")
    out.empty = total == 0
    out.found_share = share(total - missed, total)
    return out

