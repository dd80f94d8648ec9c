"""Management insight: "How social is our organisation?" in hard numbers.

Who sees what:
- the organisation dashboard: admins, the social team (global community managers) and people
  with the management flag, all of them employees. Organisation-wide figures count every
  community; a community is named (in tables, in the community filter) only to a viewer who may
  read it, the others are counted in the totals and said to be.
- a community's dashboard: its managers (and staff), employees only. Customers and partners
  never see a dashboard (NotFound), even when they manage a community.

Filters: a period of whole weeks (Monday to Sunday, UTC; the current week is included, so far),
one community, one department (its employees), one kind of member. Every figure is an SQL
aggregate over the weekly rollups (app.models.insight) and, for the weeks not rolled up yet,
the same query over the live tables (app.services.insight.sources).

Public functions: can_see_organisation, managed_communities, organisation_scope,
community_scope, resolve_filters, dashboard, table, rollup.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from app import clock, inputs
from app.errors import Forbidden, NotFound
from app.extensions import db
from app.models import Community, Department, InsightState, User, UserKind
from app.services import access
from app.services.access import can_see_organisation, managed_communities, may_open_insight  # noqa: F401
from app.services.insight import sections
from app.services.insight.report import Section, Table
from app.services.insight.rollups import rolled_through, rollup  # noqa: F401 - part of the API
from app.services.insight.sql import week_end, week_of, week_start
from app.wording import plural

PERIODS = {"4w": 4, "12w": 12, "26w": 26, "52w": 52, "custom": None}
PERIOD_LABELS = {"4w": "Last 4 weeks", "12w": "Last 12 weeks", "26w": "Last 26 weeks",
                 "52w": "Last 52 weeks", "custom": "Custom dates"}
DEFAULT_PERIOD = "12w"
MAX_WEEKS = 156
KINDS = {"employee": UserKind.EMPLOYEE, "customer": UserKind.CUSTOMER, "partner": UserKind.PARTNER}


# --- who may see ------------------------------------------------------------------------------

# Who may see: the rules live in the access module (can_see_organisation, managed_communities,
# may_open_insight), re-exported above for the views and tests.


@dataclass
class Scope:
    """What a dashboard covers: the whole organisation or one community, and which
    communities the viewer may see named."""

    viewer: User
    community: Community | None              # a community dashboard's community
    communities: list[Community] = field(default_factory=list)  # nameable (readable) ones
    hidden: int = 0                          # counted in organisation totals, not named

    @property
    def is_community(self) -> bool:
        return self.community is not None


def organisation_scope(viewer) -> Scope:
    """Raises NotFound for customers and partners, Forbidden for other people without rights."""
    if not access.is_active_employee(viewer):
        raise NotFound("There is nothing here.")
    if not can_see_organisation(viewer):
        raise Forbidden("The organisation dashboard is for management, administrators and the social team.")
    readable = list(db.session.scalars(select(Community).where(access.readable_clause(viewer))
                                       .order_by(func.lower(Community.name))))
    total = db.session.scalar(select(func.count()).select_from(Community)) or 0
    return Scope(viewer, None, readable, total - len(readable))


def community_scope(viewer, slug: str) -> Scope:
    """A community's dashboard: its managers and staff. Raises NotFound (customers and
    partners, unknown or unreadable community), Forbidden (not a manager)."""
    if not access.is_active_employee(viewer):
        raise NotFound("There is nothing here.")
    acc = access.community_for(viewer, slug, "manage")
    return Scope(viewer, acc.community, [acc.community], 0)


# --- filters ----------------------------------------------------------------------------------

@dataclass
class Filters:
    period: str
    first: int                       # first week
    last: int                        # last week (inclusive)
    community: Community | None      # the community looked at (None: all)
    department: Department | None    # only employees of this department
    kind: UserKind | None            # only people of this kind

    @property
    def weeks(self) -> list[int]:
        return list(range(self.first, self.last + 1))

    @property
    def start(self) -> date:
        return week_start(self.first).date()

    @property
    def end(self) -> date:
        """The period's last day (a Sunday)."""
        return (week_end(self.last) - timedelta(days=1)).date()

    @property
    def community_ids(self) -> list[int] | None:
        return [self.community.id] if self.community else None

    @property
    def label(self) -> str:
        n = len(self.weeks)
        return (f"{plural(n, 'week')}, {self.start.strftime('%d %b %Y')} to "
                f"{self.end.strftime('%d %b %Y')}")

    def args(self, scope: Scope) -> dict:
        """The query string that selects these filters again (links, CSV exports)."""
        out = {"period": self.period}
        if self.period == "custom":
            out.update(start=self.start.isoformat(), end=self.end.isoformat())
        if self.community and not scope.is_community:
            out["community"] = self.community.slug
        if self.department:
            out["department"] = str(self.department.id)
        if self.kind:
            out["kind"] = self.kind.value
        return out


def _parse_date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        return None


def resolve_filters(scope: Scope, *, period: str | None = None, start: str | None = None,
                    end: str | None = None, community: str | None = None, department: str | None = None,
                    kind: str | None = None) -> tuple[Filters, dict[str, str]]:
    """The filters asked for, and {field: message} for those that could not be used (their
    defaults are used instead, so the page still shows figures)."""
    errors: dict[str, str] = {}
    current = week_of(clock.utcnow())
    period = (period or DEFAULT_PERIOD).strip()
    if period not in PERIODS:
        errors["period"] = "Choose a period from the list."
        period = DEFAULT_PERIOD
    weeks = PERIODS[period] or PERIODS[DEFAULT_PERIOD]
    first, last = current - weeks + 1, current
    if period == "custom":
        d1, d2 = _parse_date(start), _parse_date(end)
        if d1 is None:
            errors["start"] = "Give the first day as a date, for example 2026-01-05."
        if d2 is None:
            errors["end"] = "Give the last day as a date, for example 2026-03-29."
        if d1 and d2:
            w1, w2 = week_of(d1), min(week_of(d2), current)
            if d1 > clock.utcnow().date():
                errors["start"] = "The period starts in the future: choose a day up to today."
            elif d2 < d1:
                errors["end"] = "The last day comes before the first day."
            elif d1.year < 2000:
                errors["start"] = "Choose a day in this century."
            elif w2 - w1 + 1 > MAX_WEEKS:
                errors["end"] = f"Choose at most {MAX_WEEKS} weeks (three years)."
            else:
                first, last = w1, w2
        if errors:
            period, first, last = DEFAULT_PERIOD, current - PERIODS[DEFAULT_PERIOD] + 1, current
    chosen = scope.community
    if not scope.is_community and (community or "").strip():
        chosen = next((c for c in scope.communities if c.slug == community.strip()), None)
        if chosen is None:
            errors["community"] = "Choose a community from the list."
    dept = None
    if (department or "").strip():
        raw = department.strip()
        number = inputs.id_or_none(raw)
        dept = db.session.get(Department, number) if number else None
        if dept is None:
            errors["department"] = "Choose a department from the list."
    person_kind = None
    if (kind or "").strip():
        person_kind = KINDS.get(kind.strip())
        if person_kind is None:
            errors["kind"] = "Choose employees, customers or partners."
    if dept is not None and person_kind not in (None, UserKind.EMPLOYEE):
        errors["department"] = "Departments are for employees: choose all kinds or employees with a department."
        dept = None
    return Filters(period, first, last, chosen, dept, person_kind), errors


def default_filters(scope: Scope) -> Filters:
    """The filters of a dashboard opened without a query string (the default period)."""
    return resolve_filters(scope)[0]


# --- the dashboards ---------------------------------------------------------------------------

@dataclass
class Dashboard:
    scope: Scope
    filters: Filters
    sections: list[Section]
    rolled_through: int | None
    rolled_at: datetime | None
    generated_at: datetime

    @property
    def rolled_through_end(self) -> date | None:
        """The last day covered by the rollups."""
        if self.rolled_through is None:
            return None
        return (week_end(self.rolled_through) - timedelta(days=1)).date()

    @property
    def is_empty(self) -> bool:
        return all(s.empty_message for s in self.sections if s.key != "index")

    def section(self, key: str) -> Section | None:
        """The dashboard's section `key`, or None."""
        return next((s for s in self.sections if s.key == key), None)


def dashboard(scope: Scope, filters: Filters) -> Dashboard:
    """Every section of the dashboard for these filters (the scope was authorized when it
    was made)."""
    state = db.session.execute(select(InsightState.rolled_through, InsightState.rolled_at)
                               .where(InsightState.id == 1)).first()
    ctx = sections.Ctx(scope, filters, state.rolled_through if state else None)
    parts = [fn(ctx) for fn in sections.SECTIONS]
    index = sections.social_business_index(ctx, parts)
    return Dashboard(scope, filters, [index, *parts], ctx.rolled, state.rolled_at if state else None, ctx.now)


def table(scope: Scope, filters: Filters, table_id: str) -> Table:
    """One table (for its CSV export), computing only its section. Raises NotFound."""
    ctx = sections.Ctx(scope, filters, rolled_through())
    if table_id in sections.INDEX_TABLES:
        found = dashboard(scope, filters).section("index").table(table_id)
    else:
        fn = sections.TABLE_SECTIONS.get(table_id)
        found = fn(ctx).table(table_id) if fn else None
    if found is None:
        raise NotFound("No such table.")
    return found
