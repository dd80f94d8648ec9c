"""The dashboard's sections. Each takes a Ctx (scope, filters, rollup state) and returns a
report.Section; every figure is an SQL aggregate (counts, sums, shares' parts, medians and
percentiles are computed by the database); Python only arranges the aggregated rows into weeks
and tables.

Statements are built once per *shape* (which parts of the period are rolled up, and which
filters are in use) with bound parameters, then run again with each request's values
(`Ctx.rows`): building SQLAlchemy statements costs more than running them on the rollups.

Definitions (shown on the page too):
- active: wrote a post, comment or chat message, or voted, in the period (live content only);
  contributor: wrote a post, comment or chat message; voter only: only voted; lurker: a
  member (of the organisation, or of the community) who did none of these.
- thread: a live post with a live comment by someone other than its author; it is across
  departments when employees of two or more departments took part (author or commenters).
- official response: an idea's first status change (with its official response); for a
  question, the first comment by the community's staff or by an expert of one of its topics.
- overdue: a question or idea escalated by the experts' escalation job (posted longer ago than
  its community's answer time without an expert or staff answer), counted in the week it fell due.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import DateTime, bindparam, case, func, literal, or_, select, true, union_all

from app import clock
from app.extensions import db
from app.models import (
    Community,
    Department,
    Escalation,
    ExpertAssignment,
    IdeaStatus,
    Membership,
    Topic,
    User,
    UserKind,
    post_topics,
)
from app.models.insight import RESPONSE_TARGET_HOURS
from app.services.insight import knowledge_sources, sources
from app.services.insight.report import (
    DAYS,
    HOURS,
    INT,
    NOTE,
    NUM,
    PCT,
    SCORE,
    TEXT,
    WEEK,
    Chart,
    Column,
    Figure,
    Section,
    Table,
)
from app.services.insight.sql import quantiles, sql_week, week_end, week_start
from app.wording import plural

KIND_LABELS = {UserKind.EMPLOYEE: "Employees", UserKind.CUSTOMER: "Customers", UserKind.PARTNER: "Partners"}
EXTERNAL = (UserKind.CUSTOMER, UserKind.PARTNER)


def P(name: str, type_=None, expanding: bool = False):  # noqa: N802 - reads like a placeholder
    """The bound parameter `name` (its value comes from Ctx.params)."""
    return bindparam(name, type_=type_, expanding=expanding)


def _dt(name: str):
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
        memo_key = (key, self.shape)
        found = _MEMO.get(memo_key)
        if found is None:
            if len(_MEMO) >= MEMO_MAX:
                _MEMO.clear()
            found = _MEMO[memo_key] = build()
        return found

    def rows(self, key: str, build: Callable) -> list:
        return db.session.execute(self.stmt(key, build), self.params).all()

    def one(self, key: str, build: Callable):
        return db.session.execute(self.stmt(key, build), self.params).one()

    def src(self, name: str, previous: bool = False):
        if previous:
            return sources.source(name, self.prev_parts, self.by_community, "prev")
        return sources.source(name, self.parts, self.by_community)

    @property
    def community_ids(self):
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
            return select(User.id).where(User.created_at < _dt("end"))
        return select(Membership.user_id).where(Membership.community_id.in_(P("cids", expanding=True)),
                                                Membership.created_at < _dt("end"))

    def in_communities(self, column) -> list:
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


def _share(part, whole):
    return (part / whole) if whole else None


def _hours(seconds):
    return None if seconds is None else seconds / 3600


def _int(value) -> int:
    return int(value or 0)


def _week_rows(ctx: Ctx, found: dict, width: int) -> list[list]:
    return [[week_start(w).date(), *found.get(w, [0] * width)] for w in ctx.filters.weeks]


# --- participation ----------------------------------------------------------------------------

def participation(ctx: Ctx) -> Section:
    f = ctx.filters
    section = Section("participation", "Participation",
                      "Who takes part: posting, commenting, voting or chatting in the period.")

    def in_population():
        return [User.id.in_(ctx.members())] if ctx.by_community else []

    def per_person():
        """The per-person activity source of the population: the community's rows, or (the
        organisation) the rows summed over communities."""
        return ctx.src("activity") if ctx.by_community else ctx.src("people")

    def active_build():
        a = per_person()
        per_user = (select(a.c.user_id, func.sum(a.c.posts + a.c.comments + a.c.chats).label("wrote"))
                    .group_by(a.c.user_id).subquery("per_user"))
        return (select(User.kind, User.department_id, func.count().label("active"),
                       func.sum(case((per_user.c.wrote > 0, 1), else_=0)).label("contributors"))
                .join(per_user, per_user.c.user_id == User.id)
                .where(*ctx.people(), *in_population()).group_by(User.kind, User.department_id))

    def population_build():
        return (select(User.kind, User.department_id, func.count().label("people"))
                .where(User.id.in_(ctx.members()), *ctx.people()).group_by(User.kind, User.department_id))

    by_kind = {k: [0, 0, 0] for k in UserKind}  # people, active, contributors
    by_dept: dict[int | None, list[int]] = {}
    for kind, dept, people in ctx.rows("participation.population", population_build):
        by_kind[kind][0] += people
        if kind == UserKind.EMPLOYEE:
            by_dept.setdefault(dept, [0, 0, 0])[0] += people
    for kind, dept, active, contributors in ctx.rows("participation.active", active_build):
        by_kind[kind][1] += active
        by_kind[kind][2] += _int(contributors)
        if kind == UserKind.EMPLOYEE:
            row = by_dept.setdefault(dept, [0, 0, 0])
            row[1] += active
            row[2] += _int(contributors)

    kinds = [k for k in UserKind if f.kind in (None, k)]
    split_rows = []
    for k in kinds:
        people, active, contributors = by_kind[k]
        split_rows.append([KIND_LABELS[k], people, active, _share(active, people), contributors,
                           active - contributors, max(people - active, 0)])
    split = Table("participation-kinds", "Contributors, voters and lurkers by kind of member", [
        Column("kind", "Kind of member", TEXT), Column("people", "People"), Column("active", "Active"),
        Column("share", "Share active", PCT), Column("contributors", "Contributors"),
        Column("voters", "Voters only"), Column("lurkers", "Lurkers")], split_rows,
        Chart("stacked", ("contributors", "voters", "lurkers")),
        empty_message="Nobody of this kind is a member yet.")

    names = dict(db.session.execute(select(Department.id, Department.name)).all())
    employees_shown = f.kind in (None, UserKind.EMPLOYEE)
    dept_rows = [[names.get(d, "No department"), people, active, _share(active, people), contributors]
                 for d, (people, active, contributors) in sorted(
                     by_dept.items(), key=lambda kv: (kv[0] is None, names.get(kv[0], "").lower()))]
    departments_table = Table("participation-departments", "Employees active by department", [
        Column("department", "Department", TEXT), Column("people", "Employees"), Column("active", "Active"),
        Column("share", "Share active", PCT), Column("contributors", "Contributors")],
        dept_rows if employees_shown else [], Chart("hbar", ("share",), "%"),
        empty_message="No employees in this selection." if employees_shown
        else "Departments are for employees: choose all kinds or employees to see them.")

    def weekly_build():
        a = per_person()
        stmt = select(a.c.week, func.count(func.distinct(a.c.user_id)).label("active"),
                      func.sum(a.c.posts).label("posts"), func.sum(a.c.comments).label("comments"),
                      func.sum(a.c.votes).label("votes"), func.sum(a.c.chats).label("chats"))
        if ctx.people() or ctx.by_community:
            stmt = stmt.join(User, User.id == a.c.user_id).where(*ctx.people(), *in_population())
        return stmt.group_by(a.c.week)

    weekly = {row.week: row for row in ctx.rows("participation.weekly", weekly_build)}

    def joined():
        if not ctx.by_community:
            stmt = select(User.created_at.label("at"), User.kind)
        else:
            stmt = (select(Membership.created_at.label("at"), User.kind)
                    .join(User, User.id == Membership.user_id)
                    .where(Membership.community_id.in_(P("cids", expanding=True))))
        return stmt.where(*ctx.people()).subquery("joined")

    def before_build():
        j = joined()
        return select(j.c.kind, func.count()).where(j.c.at < _dt("start")).group_by(j.c.kind)

    def new_build():
        j = joined()
        week = sql_week(j.c.at)
        return (select(week.label("week"), j.c.kind, func.count())
                .where(j.c.at >= _dt("start"), j.c.at < _dt("end")).group_by(week, j.c.kind))

    before = dict(ctx.rows("participation.before", before_build))
    new_by_week: dict[int, dict] = {}
    for week, kind, n in ctx.rows("participation.new", new_build):
        new_by_week.setdefault(week, {})[kind] = n
    population = sum(before.values())
    trend_rows, activity_rows, members_rows = [], [], []
    for w in f.weeks:
        new = new_by_week.get(w, {})
        population += sum(new.values())
        row = weekly.get(w)
        active = row.active if row else 0
        day = week_start(w).date()
        trend_rows.append([day, active, population, _share(active, population)])
        activity_rows.append([day, *(_int(getattr(row, k)) if row else 0 for k in ("posts", "comments", "votes", "chats"))])
        members_rows.append([day, *(new.get(k, 0) for k in kinds), sum(new.values())])
    trend = Table("participation-weekly", "Active people week by week", [
        Column("week", "Week of", WEEK), Column("active", "Active people"), Column("people", "People"),
        Column("share", "Share active", PCT)], trend_rows, Chart("line", ("share",), "%"),
        empty_message="Nobody took part in this period.")
    volume = Table("activity-weekly", "Posts, comments, votes and chat messages week by week", [
        Column("week", "Week of", WEEK), Column("posts", "Posts"), Column("comments", "Comments"),
        Column("votes", "Votes"), Column("chats", "Chat messages")], activity_rows,
        Chart("stacked", ("posts", "comments", "votes", "chats")), empty_message="No activity in this period.")
    newcomers = Table("new-members", "New members week by week" if ctx.by_community else "New accounts week by week",
                      [Column("week", "Week of", WEEK), *(Column(k.value, KIND_LABELS[k]) for k in kinds),
                       Column("total", "Total")], members_rows, Chart("stacked", tuple(k.value for k in kinds)),
                      empty_message="Nobody joined in this period.")

    employees = by_kind[UserKind.EMPLOYEE]
    externals = [sum(by_kind[k][i] for k in EXTERNAL if f.kind in (None, k)) for i in range(3)]
    total = [sum(by_kind[k][i] for k in kinds) for i in range(3)]
    new_total = sum(sum(v.values()) for v in new_by_week.values())
    if employees_shown:
        section.figures.append(Figure("Employees active", _share(employees[1], employees[0]), PCT,
                                      f"{employees[1]} of {employees[0]} employees"))
    if f.kind != UserKind.EMPLOYEE and f.department is None:
        label = KIND_LABELS[f.kind] if f.kind else "Customers and partners"
        section.figures.append(Figure(f"{label} active", _share(externals[1], externals[0]), PCT,
                                      f"{externals[1]} of {externals[0]}"))
    section.figures += [
        Figure("Contributors", total[2], INT, "wrote a post, comment or chat message"),
        Figure("Lurkers", max(total[0] - total[1], 0), INT, "did none of these"),
        Figure("New members" if ctx.by_community else "New accounts", new_total, INT),
    ]
    section.tables = [trend, departments_table, split, volume, newcomers]
    section.notes = ["Active: wrote a post, comment or chat message, or voted (deleted content does not count). "
                     "Contributors wrote something; voters only voted; lurkers did neither."
                     + (" People: the community's members." if ctx.by_community else " People: everyone with an account.")]
    if not total[1] and not new_total:
        section.empty_message = "Nobody took part in this period. Try a longer period or fewer filters."
    main = employees if employees_shown else total
    section.scores["participation"] = _share(main[1], main[0])
    return section


# --- across departments -----------------------------------------------------------------------

def departments(ctx: Ctx) -> Section:
    f = ctx.filters
    section = Section("departments", "Across departments",
                      "How often employees answer colleagues of other departments, and threads that bring departments together.")
    if f.kind in EXTERNAL:
        section.empty_message = "Departments are for employees: choose all kinds or employees to see this."
        return section

    def pairs_build():
        r = ctx.src("replies")
        stmt = select(r.c.from_department_id, r.c.to_department_id, func.sum(r.c.replies))
        if f.department is not None:
            stmt = stmt.where(or_(r.c.from_department_id == P("dept"), r.c.to_department_id == P("dept")))
        return stmt.group_by(r.c.from_department_id, r.c.to_department_id)

    def threads_build():
        t = ctx.src("threads")
        return (select(t.c.week, func.sum(t.c.threads), func.sum(t.c.cross_threads))
                .where(t.c.department_id == P("dept")).group_by(t.c.week))

    cells = {(a, b): int(n) for a, b, n in ctx.rows("departments.pairs", pairs_build)}
    depts = list(db.session.execute(select(Department.id, Department.name).order_by(func.lower(Department.name))))
    rows = []
    for a_id, a_name in depts:
        values = [cells.get((a_id, b_id), 0) for b_id, _ in depts]
        rows.append([a_name, *values, sum(values)])
    matrix = Table("department-matrix",
                   "Who answers whom: comments by department (rows) on posts and comments of department (columns)",
                   [Column("from", "From \\ to", TEXT), *(Column(f"d{d_id}", name) for d_id, name in depts),
                    Column("total", "Total")], rows, Chart("heatmap", tuple(f"d{d_id}" for d_id, _ in depts)),
                   empty_message="No employee answered a colleague with a department in this period.")
    weekly = {w: (_int(n), _int(x)) for w, n, x in ctx.rows("departments.threads", threads_build)}
    threads = sum(n for n, _x in weekly.values())
    cross = sum(x for _n, x in weekly.values())
    week_rows = []
    for w in f.weeks:
        n, x = weekly.get(w, (0, 0))
        week_rows.append([week_start(w).date(), n, x, _share(x, n)])
    trend = Table("threads-weekly", "Threads with people from two or more departments, by week started", [
        Column("week", "Week of", WEEK), Column("threads", "Threads"), Column("cross", "Across departments"),
        Column("share", "Share across departments", PCT)], week_rows, Chart("line", ("share",), "%"),
        empty_message="No thread started in this period.")
    total = sum(cells.values())
    across = sum(n for (a, b), n in cells.items() if a != b)
    section.figures = [
        Figure("Threads across departments", _share(cross, threads), PCT, f"{cross} of {threads} threads"),
        Figure("Answers to another department", _share(across, total), PCT, f"{across} of {total} comments"),
    ]
    section.tables = [matrix, trend]
    if f.department is not None:
        section.notes.append(f"Only what involves {f.department.name}: its row and column of the matrix, and "
                             "the threads it took part in.")
    section.notes.append("Departments as they were when each week was rolled up; people without a department, "
                         "customers and partners are not in the matrix.")
    if ctx.ignored("kind"):
        section.notes.append(ctx.ignored("kind"))
    if not threads and not total:
        section.empty_message = "No threads and no answers between employees in this period."
    section.scores["departments"] = _share(cross, threads)
    return section


# --- the post facts, counted once -------------------------------------------------------------

def _weeks_sum(ctx: Ctx, key: str, group: tuple[str, ...], names: tuple[str, ...], where: Callable) -> list:
    """Sums of the InsightPostWeek columns `names`, grouped by `group`, over the rows that
    `where(w)` keeps (the weekly counts of the post facts: a few rows per week)."""
    def build():
        w = ctx.src("post_weeks")
        cols = [w.c[g] for g in group]
        return (select(*cols, *[func.sum(w.c[n]).label(n) for n in names]).where(*where(w)).group_by(*cols))
    return ctx.rows(key, build)


def _not_duplicate(w):
    return w.c.status != IdeaStatus.DUPLICATE.value


def _external(rows):
    """Rows (post facts or their weekly counts) of posts by customers and partners (of the
    chosen kind)."""
    return rows.c.author_kind.in_(P("ext_kinds", expanding=True))


# --- customer voice ---------------------------------------------------------------------------

FUNNEL = [(IdeaStatus.NEW, "New"), (IdeaStatus.UNDER_REVIEW, "Under review"), (IdeaStatus.PLANNED, "Planned"),
          (IdeaStatus.IN_PROGRESS, "In progress"), (IdeaStatus.DONE, "Done")]


def _wait(p):
    return p.c.official_secs


def customers(ctx: Ctx) -> Section:
    f = ctx.filters
    section = Section("customers", "Customer voice",
                      "Ideas and questions from customers and partners, and how fast the organisation responds officially.")
    if f.kind == UserKind.EMPLOYEE or f.department is not None:
        section.empty_message = "The customer voice covers customers and partners: choose all kinds, customers or partners."
        return section

    def waits(group_by: str):
        def build():
            p = ctx.src("posts")
            return (select(p.c[group_by].label("g"), _wait(p).label("v"))
                    .where(_external(p), p.c.official_at.isnot(None)).subquery("waits"))
        return build

    by_kind: dict[str, list[int]] = {}     # kind: posted, responded, within the target
    by_week: dict[int, list[int]] = {}     # week: ideas, questions, responded
    for week, kind, n, responded, within in _weeks_sum(
            ctx, "customers.counts", ("week", "kind"), ("n", "responded", "within"), lambda w: [_external(w)]):
        k = by_kind.setdefault(kind, [0, 0, 0])
        k[0], k[1], k[2] = k[0] + _int(n), k[1] + _int(responded), k[2] + _int(within)
        wk = by_week.setdefault(week, [0, 0, 0])
        wk[0 if kind == "idea" else 1] += _int(n)
        wk[2] += _int(responded)
    q_kind = ctx.quantiles("customers.q_kind", waits("kind"), group=True)
    q_all = ctx.quantiles("customers.q_all", waits("kind"))
    summary_rows, totals = [], [0, 0, 0]
    for kind, label in (("idea", "Ideas"), ("question", "Questions")):
        n, responded, ok = by_kind.get(kind, (0, 0, 0))
        totals = [totals[0] + n, totals[1] + responded, totals[2] + ok]
        med, p90, _n = q_kind.get(kind, (None, None, 0))
        summary_rows.append([label, n, responded, _share(responded, n), _share(ok, n), _hours(med), _hours(p90)])
    med, p90, _n = q_all.get(None, (None, None, 0))
    summary_rows.append(["All", *totals[:2], _share(totals[1], totals[0]), _share(totals[2], totals[0]),
                         _hours(med), _hours(p90)])
    summary = Table("customer-response", "Official responses to customers and partners", [
        Column("what", "Posted", TEXT), Column("n", "Number"), Column("responded", "With an official response"),
        Column("share", "Share responded", PCT),
        Column("within", f"Responded within {RESPONSE_TARGET_HOURS} hours", PCT),
        Column("median", "Median time to first response", HOURS), Column("p90", "90th percentile", HOURS)],
        summary_rows, Chart("bar", ("median", "p90"), "hours"),
        empty_message="No ideas or questions from customers or partners in this period.")

    q_week = ctx.quantiles("customers.q_week", waits("week"), group=True)
    week_rows = []
    for w in f.weeks:
        wmed, wp90, _n = q_week.get(w, (None, None, 0))
        week_rows.append([week_start(w).date(), *by_week.get(w, (0, 0, 0)), _hours(wmed), _hours(wp90)])
    trend = Table("customer-weekly", "Customer and partner posts by week posted", [
        Column("week", "Week of", WEEK), Column("ideas", "Ideas"), Column("questions", "Questions"),
        Column("responded", "With an official response"), Column("median", "Median time to response", HOURS),
        Column("p90", "90th percentile", HOURS)], week_rows, Chart("bar", ("ideas", "questions")),
        empty_message="No ideas or questions from customers or partners in this period.")

    funnel, stages, votes = _ideas(ctx)
    n_ideas = by_kind.get("idea", (0,))[0]
    section.figures = [
        Figure("Ideas and questions", totals[0], INT, "from customers and partners"),
        Figure("With an official response", _share(totals[1], totals[0]), PCT, f"{totals[1]} of {totals[0]}"),
        Figure("Median time to first response", _hours(med), HOURS),
        Figure("90th percentile", _hours(p90), HOURS),
        Figure("Votes per idea", votes, NUM, f"average over {plural(n_ideas, 'idea')}"),
    ]
    section.tables = [summary, trend, funnel, stages]
    section.notes = ["Times run from posting to the first official response (an idea's status change; for a "
                     "question, an answer by the community's staff or a topic expert). Ideas and questions posted "
                     "in the period, with their responses up to now."]
    if not totals[0]:
        section.empty_message = "No ideas or questions from customers or partners in this period."
    section.scores["customers"] = _share(totals[2], totals[0])
    return section


def _idea_rows(ctx: Ctx):
    """The (non-duplicate) ideas of customers and partners posted in the period."""
    p = ctx.src("posts")
    return (select(p).where(_external(p), p.c.kind == "idea",
                            or_(p.c.status.is_(None), p.c.status != IdeaStatus.DUPLICATE.value))
            .subquery("ideas"))


def _ideas(ctx: Ctx):
    """The idea funnel, the median time in each stage, and the average votes per idea."""
    def spells():
        """(stage, seconds spent in it) per idea and stage left: one scan of the ideas, each
        row paired with the four stages."""
        ideas = _idea_rows(ctx)
        stages = union_all(*[select(literal(status.value).label("g")) for _key, status in sources.STAGES]
                           ).subquery("stages")
        spent = case(*[(stages.c.g == status.value, ideas.c[f"secs_{key}"]) for key, status in sources.STAGES])
        # a LEFT JOIN keeps the ideas as the outer loop (SQLite would scan them once per stage)
        return (select(stages.c.g, spent.label("v")).select_from(ideas).join(stages, true(), isouter=True)
                .where(spent.isnot(None)).subquery("spells"))

    counts = [0] * 7  # ideas, reached 1..4, declined, votes
    now_in: dict[str, int] = {}
    for status, *sums in _weeks_sum(
            ctx, "ideas.funnel", ("status",), ("n", "reached1", "reached2", "reached3", "reached4", "declined", "votes"),
            lambda w: [w.c.kind == "idea", _external(w), _not_duplicate(w)]):
        counts = [c + _int(v) for c, v in zip(counts, sums, strict=True)]
        now_in[status] = _int(sums[0])
    total = counts[0]
    q_stage = ctx.quantiles("ideas.stages", spells, group=True)
    rows = []
    for i, (status, label) in enumerate(FUNNEL):
        n = total if i == 0 else _int(counts[i])
        med = q_stage.get(status.value, (None, None, 0))[0]
        rows.append([label, n, _share(n, total), now_in.get(status.value, 0), None if med is None else med / 86400])
    declined = _int(counts[5])
    rows.append(["Declined", declined, _share(declined, total), now_in.get(IdeaStatus.DECLINED.value, 0), None])
    funnel = Table("idea-funnel", "Idea funnel", [
        Column("stage", "Stage", TEXT), Column("reached", "Ideas that reached it"),
        Column("share", "Share of ideas", PCT), Column("now", "In this stage now"),
        Column("median", "Median time in stage", DAYS)], rows, Chart("hbar", ("reached",)),
        empty_message="No ideas from customers or partners in this period.",
        note="An idea that skipped a stage counts as having reached it; merged duplicates are left out. Time in a "
             "stage: from entering it to the next status change, summed over its visits (ideas still in a stage "
             "are not timed yet).")
    stage_rows = []
    for status, label in FUNNEL[:-1]:
        med, _p90, n = q_stage.get(status.value, (None, None, 0))
        stage_rows.append([label, None if med is None else med / 86400, n])
    stages = Table("idea-stages", "Median time in each stage", [
        Column("stage", "Stage", TEXT), Column("median", "Median time in stage", DAYS),
        Column("n", "Ideas that left it")], stage_rows, Chart("hbar", ("median",), "days"),
        empty_message="No idea of a customer or partner changed status yet.")
    return funnel, stages, (counts[6] / total if total else None)


# --- experts ----------------------------------------------------------------------------------

def _items(ctx: Ctx):
    """The period's questions and ideas (not merged duplicates) in topics that had an expert."""
    p = ctx.src("posts")
    return (select(p.c.post_id, p.c.week, p.c.community_id, p.c.created_at, p.c.expert_at, p.c.expert_secs)
            .where(p.c.expert_covered.is_(True), or_(p.c.status.is_(None), p.c.status != IdeaStatus.DUPLICATE.value))
            .subquery("items"))


def _scope_topics(ctx: Ctx):
    stmt = select(Topic.id, Topic.community_id).where(Topic.created_at < _dt("moment"), *ctx.in_communities(Topic.community_id))
    return stmt.subquery("scope_topics")


def _has_expert(topics):
    return (select(ExpertAssignment.id).where(
        ExpertAssignment.topic_id == topics.c.id, ExpertAssignment.assigned_at <= _dt("moment"),
        or_(ExpertAssignment.removed_at.is_(None), ExpertAssignment.removed_at > _dt("moment")))
        .correlate(topics).exists())


MAX_ANSWER_DAYS = 31  # a community's answer time is at most 30 days (app.services.experts)


def _due_build(ctx: Ctx):
    """(community, week the answer fell due, how many) of the escalations that fell due in the
    period (posted_at narrows the scan: due_at comes at most 31 days later)."""
    week = sql_week(Escalation.due_at)
    return (select(Escalation.community_id, week, func.count())
            .where(Escalation.posted_at >= _dt("posted_from"), Escalation.posted_at < _dt("end"),
                   Escalation.due_at >= _dt("start"), Escalation.due_at < _dt("end"),
                   *ctx.in_communities(Escalation.community_id))
            .group_by(Escalation.community_id, week))


def _open_build(ctx: Ctx):
    """(community, how many) of the escalations still open (the experts' job closes them when
    the post gets its answer or is deleted)."""
    return (select(Escalation.community_id, func.count())
            .where(Escalation.resolved_at.is_(None), *ctx.in_communities(Escalation.community_id))
            .group_by(Escalation.community_id))


def experts(ctx: Ctx) -> Section:
    section = Section("experts", "Experts",
                      "Topics with experts, and how experts answer the questions and ideas in their topics.")
    per_community = not ctx.scope.is_community

    def waits(group: str | None):
        def build():
            items = _items(ctx)
            g = items.c[group] if group else items.c.week
            return (select(g.label("g"), items.c.expert_secs.label("v"))
                    .where(items.c.expert_secs.isnot(None)).subquery("expert_waits"))
        return build

    def topics_build(grouped: bool):
        def build():
            topics = _scope_topics(ctx)
            cols = (topics.c.community_id,) if grouped else ()
            stmt = select(*cols, func.count(), func.sum(case((_has_expert(topics), 1), else_=0))).select_from(topics)
            return stmt.group_by(*cols) if grouped else stmt
        return build

    n_topics, with_experts = ctx.one("experts.topics", topics_build(False))
    with_experts = _int(with_experts)
    per: dict[int, list[int]] = {}   # community: topics, with experts, items, answered, fell due, open
    weekly: dict[int, list[int]] = {}  # week: items, answered, fell due

    def covered(w):
        return [w.c.covered > 0, _not_duplicate(w)]

    for week, n, a in _weeks_sum(ctx, "experts.weekly", ("week",), ("covered", "covered_answered"), covered):
        wk = weekly.setdefault(week, [0, 0, 0])
        wk[0], wk[1] = _int(n), _int(a)
    for cid, n, a in _weeks_sum(ctx, "experts.per_community", ("community_id",), ("covered", "covered_answered"),
                                covered):
        row = per.setdefault(cid, [0] * 6)
        row[2], row[3] = _int(n), _int(a)
    for cid, week, n in ctx.rows("experts.due", lambda: _due_build(ctx)):
        per.setdefault(cid, [0] * 6)[4] += n
        weekly.setdefault(week, [0, 0, 0])[2] += n
    for cid, n in ctx.rows("experts.open", lambda: _open_build(ctx)):
        per.setdefault(cid, [0] * 6)[5] += n
    items = sum(r[2] for r in per.values())
    answered = sum(r[3] for r in per.values())
    went = sum(r[4] for r in per.values())
    still = sum(r[5] for r in per.values())
    med = ctx.quantiles("experts.q_all", waits(None)).get(None, (None,))[0]
    q_week = ctx.quantiles("experts.q_week", waits("week"), group=True)
    week_rows = []
    for w in ctx.filters.weeks:
        n, a, due = weekly.get(w, (0, 0, 0))
        week_rows.append([week_start(w).date(), n, a, _share(a, n), _hours(q_week.get(w, (None,))[0]), due])
    section.tables = [Table("experts-weekly", "Questions and ideas in topics with experts, by week posted", [
        Column("week", "Week of", WEEK), Column("items", "In topics with experts"),
        Column("answered", "Answered by an expert"), Column("rate", "Expert answer rate", PCT),
        Column("median", "Median expert response time", HOURS), Column("overdue", "Went overdue")],
        week_rows, Chart("bar", ("items", "answered")),
        empty_message="No questions or ideas in topics with experts in this period.")]
    if per_community:
        for cid, n, w in ctx.rows("experts.topics_by_community", topics_build(True)):
            per.setdefault(cid, [0] * 6)[:2] = [n, _int(w)]
        q_comm = ctx.quantiles("experts.q_community", waits("community_id"), group=True)
        names = {c.id: c.name for c in ctx.scope.communities}
        rows = []
        for cid, vals in sorted(per.items(), key=lambda kv: names.get(kv[0], "").lower()):
            if cid in names:
                rows.append([names[cid], vals[0], vals[1], _share(vals[1], vals[0]), vals[2], vals[3],
                             _share(vals[3], vals[2]), _hours(q_comm.get(cid, (None,))[0]), vals[4], vals[5]])
        section.tables.append(Table("experts-communities", "Experts by community", [
            Column("community", "Community", TEXT), Column("topics", "Topics"), Column("with", "With experts"),
            Column("coverage", "Share with experts", PCT), Column("items", "Questions and ideas"),
            Column("answered", "Answered by an expert"), Column("rate", "Answer rate", PCT),
            Column("median", "Median response time", HOURS), Column("went", "Went overdue"),
            Column("open", "Overdue now")], rows, Chart("hbar", ("coverage", "rate"), "%"),
            empty_message="No community has topics yet."))
    else:
        section.tables.append(_topic_table(ctx))
    section.figures = [
        Figure("Topics with experts", _share(with_experts, n_topics), PCT, f"{with_experts} of {n_topics} topics"),
        Figure("Expert answer rate", _share(answered, items), PCT, f"{answered} of {items} questions and ideas"),
        Figure("Median expert response time", _hours(med), HOURS),
        Figure("Overdue now", still, INT, f"{went} fell due in the period"),
    ]
    section.notes = ["Answer rate: questions and ideas posted in the period in a topic that had an expert, answered "
                     "by an expert of the topic (a comment, or an idea's status change). Overdue: escalated by the "
                     "experts' escalation job, counted in the week the answer fell due."]
    if ctx.ignored("department", "kind"):
        section.notes.append(ctx.ignored("department", "kind"))
    if not n_topics and not items:
        section.empty_message = "No topics yet, so no experts to measure."
    section.scores["coverage"] = _share(with_experts, n_topics)
    section.scores["expert_rate"] = _share(answered, items)
    return section


def _topic_table(ctx: Ctx) -> Table:
    """A community dashboard: the experts figures per topic."""
    pt = post_topics

    def figures_build():
        items = _items(ctx)
        return (select(pt.c.topic_id, func.count(), func.count(items.c.expert_at))
                .join(pt, pt.c.post_id == items.c.post_id).group_by(pt.c.topic_id))

    def waits():
        items = _items(ctx)
        return (select(pt.c.topic_id.label("g"), items.c.expert_secs.label("v"))
                .join(pt, pt.c.post_id == items.c.post_id).where(items.c.expert_secs.isnot(None)).subquery("topic_waits"))

    community_id = ctx.scope.community.id
    topic_rows = db.session.execute(select(Topic.id, Topic.name).where(
        Topic.community_id == community_id).order_by(func.lower(Topic.name))).all()
    experts_now = dict(db.session.execute(
        select(ExpertAssignment.topic_id, func.count()).join(Topic, Topic.id == ExpertAssignment.topic_id)
        .where(Topic.community_id == community_id, ExpertAssignment.removed_at.is_(None))
        .group_by(ExpertAssignment.topic_id)).all())
    found = {tid: (n, a) for tid, n, a in ctx.rows("experts.by_topic", figures_build)}
    q_topic = ctx.quantiles("experts.q_topic", waits, group=True)
    rows = []
    for tid, name in topic_rows:
        n, a = found.get(tid, (0, 0))
        rows.append([name, experts_now.get(tid, 0), n, a, _share(a, n), _hours(q_topic.get(tid, (None,))[0])])
    return Table("experts-topics", "Experts by topic", [
        Column("topic", "Topic", TEXT), Column("experts", "Experts now"), Column("items", "Questions and ideas"),
        Column("answered", "Answered by an expert"), Column("rate", "Answer rate", PCT),
        Column("median", "Median response time", HOURS)], rows, Chart("hbar", ("rate",), "%"),
        empty_message="This community has no topics yet.")


# --- knowledge --------------------------------------------------------------------------------

def knowledge(ctx: Ctx) -> Section:
    f = ctx.filters
    section = Section("knowledge", "Knowledge",
                      "What people look for, what they do not find, and how answered questions are reused.")

    weekly: dict[int, list[int]] = {}  # week: questions, with an accepted answer, their views, other views
    def asked(w):
        return [w.c.kind == "question"] + ([w.c.author_kind == P("kind_value")] if f.kind is not None else [])

    for week, *sums in _weeks_sum(ctx, "knowledge.weekly", ("week",),
                                  ("n", "accepted", "accepted_views", "other_views"), asked):
        weekly[week] = [_int(v) for v in sums]
    n = sum(w[0] for w in weekly.values())
    answered = sum(w[1] for w in weekly.values())
    views = sum(w[2] for w in weekly.values())
    other_views = sum(w[3] for w in weekly.values())
    reuse_rows = [[week_start(w).date(), *weekly.get(w, (0, 0, 0))[:3]] for w in f.weeks]
    reuse = Table("answers-reuse", "Questions with an accepted answer, and how often they were read", [
        Column("week", "Week of", WEEK), Column("questions", "Questions"),
        Column("answered", "With an accepted answer"), Column("views", "Views of answered questions")],
        reuse_rows, Chart("bar", ("questions", "answered")), empty_message="No questions in this period.",
        note="Views are counted from the day a question was posted until now (each person once).")
    search = knowledge_sources.searches(ctx)
    section.figures = search.figures + [
        Figure("Questions with an accepted answer", _share(answered, n), PCT, f"{answered} of {n} questions"),
        Figure("Views of answered questions", views, INT,
               f"{views / answered:.1f} per answered question" if answered else ""),
    ]
    if n - answered:
        section.figures.append(Figure("Views per unanswered question", other_views / (n - answered), NUM))
    section.tables = search.tables + [reuse]
    section.notes = search.notes + ([ctx.ignored("department")] if ctx.ignored("department") else [])
    if not n and search.empty:
        section.empty_message = "No searches and no questions in this period."
    section.scores["search"] = search.found_share
    return section


# --- community health -------------------------------------------------------------------------

def health(ctx: Ctx) -> Section:
    f = ctx.filters
    section = Section("health", "Community health",
                      "Which communities are alive: activity, growth, the most and the least active.")

    filtered = bool(ctx.people())

    def per_build():
        """Per community: sums, person-weeks (people who took part, summed over the weeks) and
        weeks with something written."""
        if filtered:
            a = ctx.src("activity")
            wrote = a.c.posts + a.c.comments + a.c.chats
            return (select(a.c.community_id, func.sum(a.c.posts).label("posts"),
                           func.sum(a.c.comments).label("comments"), func.sum(a.c.votes).label("votes"),
                           func.sum(a.c.chats).label("chats"), func.count().label("people"),
                           func.count(func.distinct(case((wrote > 0, a.c.week)))).label("weeks"))
                    .join(User, User.id == a.c.user_id).where(*ctx.people()).group_by(a.c.community_id))
        c = ctx.src("communities")
        return (select(c.c.community_id, func.sum(c.c.posts).label("posts"), func.sum(c.c.comments).label("comments"),
                       func.sum(c.c.votes).label("votes"), func.sum(c.c.chats).label("chats"),
                       func.sum(c.c.people).label("people"), func.sum(case((c.c.writers > 0, 1), else_=0)).label("weeks"))
                .group_by(c.c.community_id))

    def members_build():
        return (select(Membership.community_id, func.count().label("members"),
                       func.sum(case((Membership.created_at >= _dt("start"), 1), else_=0)).label("new"))
                .join(User, User.id == Membership.user_id)
                .where(Membership.created_at < _dt("end"), *ctx.people(), *ctx.in_communities(Membership.community_id))
                .group_by(Membership.community_id))

    def communities_build():
        return select(Community.id).where(Community.created_at < _dt("end"), *ctx.in_communities(Community.id))

    def weekly_build():
        if filtered:
            a = ctx.src("activity")
            wrote = a.c.posts + a.c.comments + a.c.chats
            return (select(a.c.week, func.count(func.distinct(case((wrote > 0, a.c.community_id)))).label("active"),
                           func.sum(a.c.posts).label("posts")).join(User, User.id == a.c.user_id)
                    .where(*ctx.people()).group_by(a.c.week))
        c = ctx.src("communities")
        return (select(c.c.week, func.sum(case((c.c.writers > 0, 1), else_=0)).label("active"),
                       func.sum(c.c.posts).label("posts")).group_by(c.c.week))

    def new_members_build():
        week = sql_week(Membership.created_at)
        return (select(week, func.count()).join(User, User.id == Membership.user_id)
                .where(Membership.created_at >= _dt("start"), Membership.created_at < _dt("end"), *ctx.people(),
                       *ctx.in_communities(Membership.community_id)).group_by(week))

    def previous_build():
        if filtered:
            a = ctx.src("activity", previous=True)
            return select(func.sum(a.c.posts)).join(User, User.id == a.c.user_id).where(*ctx.people())
        c = ctx.src("communities", previous=True)
        return select(func.sum(c.c.posts))

    per = {row.community_id: row for row in ctx.rows("health.per", per_build)}
    member_rows = {row.community_id: row for row in ctx.rows("health.members", members_build)}
    existing = [cid for (cid,) in ctx.rows("health.communities", communities_build)]
    weeks = len(f.weeks)
    active_communities = sum(1 for cid in existing if cid in per and per[cid].weeks)
    active_weeks = sum(_int(per[cid].weeks) for cid in existing if cid in per)
    weekly = {row.week: row for row in ctx.rows("health.weekly", weekly_build)}
    new_members = dict(ctx.rows("health.new_members", new_members_build))
    week_rows = [[week_start(w).date(), _int(weekly[w].active) if w in weekly else 0,
                  _int(weekly[w].posts) if w in weekly else 0, new_members.get(w, 0)] for w in f.weeks]
    trend = Table("health-weekly", "Active communities, posts and new members week by week", [
        Column("week", "Week of", WEEK), Column("active", "Active communities"), Column("posts", "Posts"),
        Column("new", "New members")], week_rows, Chart("line", ("active", "posts", "new")),
        empty_message="No activity in this period.")
    posts_before = _int(ctx.one("health.previous", previous_build)[0])
    posts_now = sum(_int(r.posts) for r in per.values())
    members_end = sum(_int(r.members) for r in member_rows.values())
    members_new = sum(_int(r.new) for r in member_rows.values())
    section.figures = [
        Figure("Active communities", active_communities, INT,
               f"of {len(existing)} (a post, comment or chat message in the period)"),
        Figure("Posts", posts_now, INT, _growth(posts_now, posts_before, "on the previous period")),
        Figure("Memberships", members_end, INT,
               _growth(members_end, members_end - members_new, "since the start of the period")),
    ]
    section.tables = [trend]
    if not ctx.scope.is_community:
        named = {c.id: c.name for c in ctx.scope.communities}
        rows = []
        for cid in existing:
            if cid not in named:
                continue
            r, m = per.get(cid), member_rows.get(cid)
            vals = [_int(getattr(r, k)) if r else 0 for k in ("posts", "comments", "votes", "chats")]
            weekly_people = _int(r.people) / weeks if r else 0.0
            members = _int(m.members) if m else 0
            rows.append([named[cid], *vals, weekly_people, _int(m.new) if m else 0, members,
                         _share(weekly_people, members), sum(vals)])
        rows.sort(key=lambda r: (-r[-1], r[0].lower()))
        section.tables.append(Table("communities", "Communities from the most to the least active", [
            Column("community", "Community", TEXT), Column("posts", "Posts"), Column("comments", "Comments"),
            Column("votes", "Votes"), Column("chats", "Chat messages"),
            Column("people", "Active people a week", NUM), Column("new", "New members"), Column("members", "Members"),
            Column("share", "Members active in a week", PCT),
            Column("activity", "Activity")], rows, Chart("hbar", ("activity",)),
            empty_message="No communities yet."))
        if ctx.scope.hidden and f.community is None:
            section.notes.append(f"{plural(ctx.scope.hidden, 'community', 'communities')} you cannot "
                                 "read are counted in the totals but not listed.")
    section.notes.append("Activity: posts, comments, votes and chat messages in the period. Active people a week: "
                         "the people who took part there in a week, on average over the period's weeks (within the "
                         "people filters); members active in a week: that average over the members.")
    if not per and not members_new:
        section.empty_message = "No activity and no new members in this period."
    section.scores["health"] = _share(active_weeks, len(existing) * weeks)
    return section


def _growth(now: int, before: int, words: str) -> str:
    if not before:
        return ""
    change = (now - before) / before
    return f"{'+' if change >= 0 else '−'}{abs(change) * 100:.0f}% {words}"


# --- the Social Business Index ----------------------------------------------------------------

# key, label, what it measures, weight
COMPONENTS = [
    ("participation", "Participation", "share of employees active in the period", 25),
    ("departments", "Across departments", "share of threads with people from two or more departments", 15),
    ("customers", "Customer voice", "share of customer and partner ideas and questions with an official "
                                    f"response within {RESPONSE_TARGET_HOURS} hours", 20),
    ("coverage", "Expert coverage", "share of topics with an expert", 5),
    ("expert_rate", "Expert answers", "share of questions and ideas in expert topics answered by an expert", 10),
    ("search", "Findability", "share of searches that found something", 10),
    ("health", "Community health", "share of community-weeks with a post, comment or chat message", 15),
]
INDEX_TABLES = {"index-components"}


def social_business_index(ctx: Ctx, parts: list[Section]) -> Section:
    """The index: the weighted mean of the components that have data, times 100."""
    scores = {}
    for part in parts:
        scores.update(part.scores)
    rows, total, weights = [], 0.0, 0
    for key, label, what, weight in COMPONENTS:
        score = scores.get(key)
        rows.append([label, what, None if score is None else score * 100, weight if score is not None else 0])
        if score is not None:
            total += score * 100 * weight
            weights += weight
    index = round(total / weights) if weights else None
    section = Section("index", "Social Business Index",
                      "One number from 0 to 100 built from the figures below, so that nobody has to trust a black box.")
    section.figures = [Figure("Social Business Index", index, SCORE, "out of 100")]
    section.tables = [Table("index-components", "How the index is built", [
        Column("component", "Component", TEXT), Column("measures", "Measures", NOTE),
        Column("score", "Score (0-100)", NUM), Column("weight", "Weight")], rows, Chart("hbar", ("score",)),
        empty_message="Nothing to measure in this period yet.")]
    section.notes = ["Index = Σ (score × weight) ÷ Σ weight, over the components that have data in the period "
                     "(a component without data, e.g. no searches, gets weight 0). Each score is a share in percent."]
    if not any(scores.get(key) for key, *_rest in COMPONENTS):
        section.empty_message = "No activity in this period: every component is zero or has no data."
    section.scores["index"] = index
    return section


SECTIONS = [participation, departments, customers, experts, knowledge, health]
TABLE_SECTIONS = {
    "participation-weekly": participation, "participation-departments": participation,
    "participation-kinds": participation, "activity-weekly": participation, "new-members": participation,
    "department-matrix": departments, "threads-weekly": departments,
    "customer-response": customers, "customer-weekly": customers, "idea-funnel": customers,
    "idea-stages": customers,
    "experts-weekly": experts, "experts-communities": experts, "experts-topics": experts,
    "answers-reuse": knowledge, "search-weekly": knowledge, "search-missed": knowledge,
    "health-weekly": health, "communities": health,
}
