"""Portable SQL for the dashboards: weeks, durations and percentiles that give the same results
on SQLite (3.25+: window functions) and PostgreSQL.

Weeks: a week is the number of whole weeks since Monday 1969-12-29 00:00 UTC, so week N starts
on a Monday (ISO weeks). Times are naive UTC and whole seconds count (fractions are dropped the
same way on both databases).

Percentiles: `quantiles()` ranks values with ROW_NUMBER() and COUNT() OVER a partition and
interpolates linearly between the two ranks around q * (n - 1), like PostgreSQL's
percentile_cont, in integer arithmetic up to the final division (so both databases agree to the
last digit). The median is q = 1/2 (the mean of the two middle values for an even count).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import BigInteger, Float, case, cast, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

EPOCH_MONDAY = datetime(1969, 12, 29)
WEEK_SECONDS = 7 * 86400
_OFFSET = 3 * 86400  # 1970-01-01 was a Thursday: three days after Monday 1969-12-29


# --- weeks in Python -----------------------------------------------------------------------

def week_of(moment: datetime | date) -> int:
    """The week number of a moment (or a date)."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return (moment - EPOCH_MONDAY).days // 7


def week_start(week: int) -> datetime:
    """Monday 00:00 of a week."""
    return EPOCH_MONDAY + timedelta(weeks=week)


def week_end(week: int) -> datetime:
    """Monday 00:00 of the next week (exclusive end)."""
    return week_start(week + 1)


# --- SQL constructs ------------------------------------------------------------------------

class epoch(FunctionElement):
    """Whole seconds since 1970-01-01 of a naive UTC timestamp column."""

    type = BigInteger()
    inherit_cache = True
    name = "kring_epoch"


@compiles(epoch, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    (arg,) = element.clauses
    return f"CAST(strftime('%s', {compiler.process(arg, **kw)}) AS INTEGER)"


@compiles(epoch, "postgresql")
def _epoch_pg(element, compiler, **kw):
    (arg,) = element.clauses
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(arg, **kw)})) AS BIGINT)"


@compiles(epoch)
def _epoch_other(element, compiler, **kw):  # pragma: no cover - only SQLite and PostgreSQL are supported
    raise NotImplementedError(f"insight: no epoch() for {compiler.dialect.name}")


class sql_week(FunctionElement):
    """The week number of a timestamp column. The constants are part of the SQL text (not bound
    parameters), so the same expression in SELECT and GROUP BY is the same text, as PostgreSQL
    requires."""

    type = BigInteger()
    inherit_cache = True
    name = "kring_week"


@compiles(sql_week)
def _week(element, compiler, **kw):
    (arg,) = element.clauses
    return f"(({compiler.process(epoch(arg), **kw)} + {_OFFSET}) / {WEEK_SECONDS})"


def seconds_between(later, earlier) -> ColumnElement:
    """Whole seconds from `earlier` to `later` (both timestamp columns)."""
    return epoch(later) - epoch(earlier)


# --- percentiles ---------------------------------------------------------------------------

def quantiles(values, value_col: str = "v", group_cols: tuple[str, ...] = (),
              qs: dict[str, tuple[int, int]] | None = None):
    """SELECT group_cols..., n, one column per quantile, FROM a subquery `values` (which has an
    integer column `value_col` and the group columns); one row per group that has values.

    qs maps a label to a fraction a/b (default: median 1/2 and p90 9/10). The result columns are
    floats; the interpolation between the two ranks around q * (n - 1) is done in integers."""
    qs = qs or {"median": (1, 2), "p90": (9, 10)}
    groups = [values.c[g] for g in group_cols]
    v = values.c[value_col]
    ranked = select(
        *groups, v.label("v"),
        func.row_number().over(partition_by=groups or None, order_by=v).label("rn"),
        func.count().over(partition_by=groups or None).label("n"),
    ).subquery()
    out = [ranked.c[g] for g in group_cols]
    n = ranked.c.n
    columns = []
    for label, (a, b) in qs.items():
        lo = (literal(a) * (n - 1)) // b             # 0-based rank below q * (n - 1)
        frac = literal(a) * (n - 1) - lo * b          # numerator of the fraction above it (0..b-1)
        weighted = case((ranked.c.rn == lo + 1, ranked.c.v * (b - frac)),
                        (ranked.c.rn == lo + 2, ranked.c.v * frac), else_=0)
        columns.append((cast(func.sum(weighted), Float) / b).label(label))
    return select(*out, func.max(n).label("n"), *columns).group_by(*out) if out else \
        select(func.max(n).label("n"), *columns)
