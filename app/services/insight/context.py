"""What every dashboard section needs: Ctx (the scope, the filters, the rollup state and the
request's parameters), the bound parameters the statements use, and the small arithmetic of
shares and durations. Used by app.services.insight.sections and knowledge_sources alike, so
neither imports the other.

Statements are built once per *shape* (which parts of the period are rolled up, and which
filters are in use) with bound parameters, then run again with each request's values
(`Ctx.rows`): building SQLAlchemy statements costs more than running them on the rollups.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import DateTime, bindparam, select

from app import clock
from app.extensions import db
from app.models import Membership, User, UserKind
from app.services.insight import sources
from app.services.insight.sql import quantiles, week_end, week_start

EXTERNAL = (UserKind.CUSTOMER, UserKind.PARTNER)
MAX_ANSWER_DAYS = 31  # a community's answer time is at most 30 days (app.services.experts.experts)


def P(name: str, type_=None, expanding: bool = False):  # noqa: N802 - reads like a placeholder
    """The bound parameter `name` (its value comes from Ctx.params)."""
    return bindparam(name, type_=type_, expanding=expanding)


def dt_param(name: str):
    """The bound parameter `name` typed as a DateTime (its value comes from Ctx.params)."""
    return P(name, DateTime)


_MEMO: dict = {}
MEMO_MAX = 2000  # statements kept (a few dozen per shape of filters in use)


class Ctx:
    """What every section needs: the scope, the filters, the rollup state, the parameters."""

    def __init__(self, scope, filters, rolled: int | None):
        self.scope, self.filters, self.rolled = scope, filters, rolled
        self.now: datetime = clock.utcnow()
        self.start = week_start(filters.first)
        self.end = week_end(filters.last)
        self.moment = min(self.end, self.now)  # "at the end of the period"
        n = len(filters.weeks)
        self.parts, params = sources.split(filters.first, filters.last, rolled)
        self.prev_parts, prev = sources.split(filters.first - n, filters.first - 1, rolled)
        ids = filters.community_ids or []
        self.params = {**params, **{f"prev{k}": v for k, v in prev.items()},
                       "cids": ids, "prevcids": ids, "cid_text": str(ids[0]) if ids else "",
                       "start": self.start, "end": self.end, "moment": self.moment,
                       "posted_from": self.start - timedelta(days=MAX_ANSWER_DAYS),
                       "kind": filters.kind, "kind_value": filters.kind.value if filters.kind else "",
                       "dept": filters.department.id if filters.department else 0,
                       "ext_kinds": [k.value for k in EXTERNAL if filters.kind in (None, k)]}
        self.by_community = filters.community is not None
        self.shape = (self.parts, self.prev_parts, self.by_community, filters.kind is not None,
                      filters.department is not None, scope.is_community)

    # statements: built once per shape, run with this request's parameters
    def stmt(self, key: str, build: Callable):
        """The statement `key` for this shape: build() once, then the memo's copy."""
        memo_key = (key, self.shape)
        found = _MEMO.get(memo_key)
        if found is None:
            if len(_MEMO) >= MEMO_MAX:
                _MEMO.clear()
            found = _MEMO[memo_key] = build()
        return found

    def rows(self, key: str, build: Callable) -> list:
        """Every row of the statement `key` run with this request's parameters."""
        return db.session.execute(self.stmt(key, build), self.params).all()

    def one(self, key: str, build: Callable):
        """The one row of the statement `key`; raises NoResultFound/MultipleResultsFound otherwise."""
        return db.session.execute(self.stmt(key, build), self.params).one()

    def src(self, name: str, previous: bool = False):
        """The source `name` (app.services.insight.sources) over the period, or the period
        before it; raises KeyError for an unknown name."""
        if previous:
            return sources.source(name, self.prev_parts, self.by_community, "prev")
        return sources.source(name, self.parts, self.by_community)

    @property
    def community_ids(self):
        """The ids of the community filter, or None (every community)."""
        return self.filters.community_ids

    def people(self, user=User) -> list:
        """WHERE conditions on a User (alias) for the kind and department filters."""
        out = []
        if self.filters.kind is not None:
            out.append(user.kind == P("kind"))
        if self.filters.department is not None:
            out += [user.kind == UserKind.EMPLOYEE, user.department_id == P("dept")]
        return out

    def members(self):
        """SELECT user ids of the population: the community's members who joined before the
        end of the period, or (organisation) everyone with an account by then."""
        if not self.by_community:
            return select(User.id).where(User.created_at < dt_param("end"))
        return select(Membership.user_id).where(Membership.community_id.in_(P("cids", expanding=True)),
                                                Membership.created_at < dt_param("end"))

    def in_communities(self, column) -> list:
        """WHERE conditions keeping `column` in the community filter (none without it)."""
        return [column.in_(P("cids", expanding=True))] if self.by_community else []

    def ignored(self, *names: str) -> str:
        """A note naming the filters in use that a section does not apply."""
        f = self.filters
        used = [n for n in names if (n == "department" and f.department) or (n == "kind" and f.kind)]
        if not used:
            return ""
        return "Not filtered by " + " or ".join("kind of member" if n == "kind" else n for n in used) + \
            ": these figures do not depend on it."

    def quantiles(self, key: str, values: Callable, group: bool = False) -> dict:
        """{group (or None): (median, p90, n)} from values() -> subquery (g?, v)."""
        out = {}
        for row in self.rows(key, lambda: quantiles(values(), "v", ("g",) if group else ())):
            m = row._mapping
            if m["n"]:
                out[m["g"] if group else None] = (m["median"], m["p90"], m["n"])
        return out


def share(part, whole):
    """part / whole, or None when whole is zero or None."""
    return (part / whole) if whole else None


def hours(seconds):
    """Seconds as hours, or None for None."""
    return None if seconds is None else seconds / 3600


def as_int(value) -> int:
    """An SQL sum as an int (None, for no rows, is 0)."""
    return int(value or 0)
