"""Participation: who takes part (posting, commenting, voting, chatting), by kind of member,
by department and week by week.
"""
from __future__ import annotations

from sqlalchemy import case, func, select

from app.extensions import db
from app.models import Department, Membership, User, UserKind
from app.services.insight.context import EXTERNAL, Ctx, P, as_int, dt_param, share
from app.services.insight.report import INT, PCT, TEXT, WEEK, Chart, Column, Figure, Section, Table
from app.services.insight.sections.common import KIND_LABELS
from app.services.insight.sql import sql_week, week_start


def participation(ctx: Ctx) -> Section:
    """The participation section: active people, contributors, voters and lurkers by kind, by
    department and week by week. Returns a report.Section; raises nothing of its own."""
    f = ctx.filters
    section = Section("participation", "Participation",
                      "Who takes part: posting, commenting, voting or chatting in the period.")
    kinds = [k for k in UserKind if f.kind in (None, k)]
    employees_shown = f.kind in (None, UserKind.EMPLOYEE)
    by_kind, by_dept = _counts(ctx)
    kinds_table = _kinds_table(by_kind, kinds)
    departments_table = _departments_table(by_dept, employees_shown)
    trend, volume, newcomers, new_total = _weekly_tables(ctx, kinds)

    employees = by_kind[UserKind.EMPLOYEE]
    total = [sum(by_kind[k][i] for k in kinds) for i in range(3)]
    section.figures = _figures(ctx, by_kind, total, new_total)
    section.tables = [trend, departments_table, kinds_table, volume, newcomers]
    section.notes = ["Active: wrote a post, comment or chat message, or voted (deleted content does not count). "
                     "Contributors wrote something; voters only voted; lurkers did neither."
                     + (" People: the community's members." if ctx.by_community else " People: everyone with an account.")]
    if not total[1] and not new_total:
        section.empty_message = "Nobody took part in this period. Try a longer period or fewer filters."
    main = employees if employees_shown else total
    section.scores["participation"] = share(main[1], main[0])
    return section


# --- the population and who of it took part ---------------------------------------------------

def _in_population(ctx: Ctx) -> list:
    """WHERE conditions on User keeping the community's members (none for the organisation)."""
    return [User.id.in_(ctx.members())] if ctx.by_community else []


def _per_person(ctx: Ctx):
    """The per-person activity source of the population: the community's rows, or (the
    organisation) the rows summed over communities."""
    return ctx.src("activity") if ctx.by_community else ctx.src("people")


def _active_build(ctx: Ctx):
    a = _per_person(ctx)
    per_user = (select(a.c.user_id, func.sum(a.c.posts + a.c.comments + a.c.chats).label("wrote"))
                .group_by(a.c.user_id).subquery("per_user"))
    return (select(User.kind, User.department_id, func.count().label("active"),
                   func.sum(case((per_user.c.wrote > 0, 1), else_=0)).label("contributors"))
            .join(per_user, per_user.c.user_id == User.id)
            .where(*ctx.people(), *_in_population(ctx)).group_by(User.kind, User.department_id))


def _population_build(ctx: Ctx):
    return (select(User.kind, User.department_id, func.count().label("people"))
            .where(User.id.in_(ctx.members()), *ctx.people()).group_by(User.kind, User.department_id))


def _counts(ctx: Ctx) -> tuple[dict, dict]:
    """[people, active, contributors] by kind of member, and the same for employees by
    department (None: no department)."""
    by_kind = {k: [0, 0, 0] for k in UserKind}
    by_dept: dict[int | None, list[int]] = {}
    for kind, dept, people in ctx.rows("participation.population", lambda: _population_build(ctx)):
        by_kind[kind][0] += people
        if kind == UserKind.EMPLOYEE:
            by_dept.setdefault(dept, [0, 0, 0])[0] += people
    for kind, dept, active, contributors in ctx.rows("participation.active", lambda: _active_build(ctx)):
        by_kind[kind][1] += active
        by_kind[kind][2] += as_int(contributors)
        if kind == UserKind.EMPLOYEE:
            row = by_dept.setdefault(dept, [0, 0, 0])
            row[1] += active
            row[2] += as_int(contributors)
    return by_kind, by_dept


def _kinds_table(by_kind: dict, kinds: list) -> Table:
    rows = []
    for k in kinds:
        people, active, contributors = by_kind[k]
        rows.append([KIND_LABELS[k], people, active, share(active, people), contributors,
                     active - contributors, max(people - active, 0)])
    return Table("participation-kinds", "Contributors, voters and lurkers by kind of member", [
        Column("kind", "Kind of member", TEXT), Column("people", "People"), Column("active", "Active"),
        Column("share", "Share active", PCT), Column("contributors", "Contributors"),
        Column("voters", "Voters only"), Column("lurkers", "Lurkers")], rows,
        Chart("stacked", ("contributors", "voters", "lurkers")),
        empty_message="Nobody of this kind is a member yet.")


def _departments_table(by_dept: dict, employees_shown: bool) -> Table:
    names = dict(db.session.execute(select(Department.id, Department.name)).all())
    rows = [[names.get(d, "No department"), people, active, share(active, people), contributors]
            for d, (people, active, contributors) in sorted(
                by_dept.items(), key=lambda kv: (kv[0] is None, names.get(kv[0], "").lower()))]
    return Table("participation-departments", "Employees active by department", [
        Column("department", "Department", TEXT), Column("people", "Employees"), Column("active", "Active"),
        Column("share", "Share active", PCT), Column("contributors", "Contributors")],
        rows if employees_shown else [], Chart("hbar", ("share",), "%"),
        empty_message="No employees in this selection." if employees_shown
        else "Departments are for employees: choose all kinds or employees to see them.")


def _figures(ctx: Ctx, by_kind: dict, total: list[int], new_total: int) -> list[Figure]:
    f = ctx.filters
    employees = by_kind[UserKind.EMPLOYEE]
    externals = [sum(by_kind[k][i] for k in EXTERNAL if f.kind in (None, k)) for i in range(3)]
    figures = []
    if f.kind in (None, UserKind.EMPLOYEE):
        figures.append(Figure("Employees active", share(employees[1], employees[0]), PCT,
                              f"{employees[1]} of {employees[0]} employees"))
    if f.kind != UserKind.EMPLOYEE and f.department is None:
        label = KIND_LABELS[f.kind] if f.kind else "Customers and partners"
        figures.append(Figure(f"{label} active", share(externals[1], externals[0]), PCT,
                              f"{externals[1]} of {externals[0]}"))
    return figures + [
        Figure("Contributors", total[2], INT, "wrote a post, comment or chat message"),
        Figure("Lurkers", max(total[0] - total[1], 0), INT, "did none of these"),
        Figure("New members" if ctx.by_community else "New accounts", new_total, INT),
    ]


# --- week by week -----------------------------------------------------------------------------

def _weekly_build(ctx: Ctx):
    a = _per_person(ctx)
    stmt = select(a.c.week, func.count(func.distinct(a.c.user_id)).label("active"),
                  func.sum(a.c.posts).label("posts"), func.sum(a.c.comments).label("comments"),
                  func.sum(a.c.votes).label("votes"), func.sum(a.c.chats).label("chats"))
    if ctx.people() or ctx.by_community:
        stmt = stmt.join(User, User.id == a.c.user_id).where(*ctx.people(), *_in_population(ctx))
    return stmt.group_by(a.c.week)


def _joined(ctx: Ctx):
    """(at, kind) of each membership (community) or account (organisation), people filters applied."""
    if not ctx.by_community:
        stmt = select(User.created_at.label("at"), User.kind)
    else:
        stmt = (select(Membership.created_at.label("at"), User.kind)
                .join(User, User.id == Membership.user_id)
                .where(Membership.community_id.in_(P("cids", expanding=True))))
    return stmt.where(*ctx.people()).subquery("joined")


def _before_build(ctx: Ctx):
    j = _joined(ctx)
    return select(j.c.kind, func.count()).where(j.c.at < dt_param("start")).group_by(j.c.kind)


def _new_build(ctx: Ctx):
    j = _joined(ctx)
    week = sql_week(j.c.at)
    return (select(week.label("week"), j.c.kind, func.count())
            .where(j.c.at >= dt_param("start"), j.c.at < dt_param("end")).group_by(week, j.c.kind))


def _weekly_tables(ctx: Ctx, kinds: list) -> tuple[Table, Table, Table, int]:
    """The active people, the activity and the newcomers week by week, and how many joined in
    the period."""
    weekly = {row.week: row for row in ctx.rows("participation.weekly", lambda: _weekly_build(ctx))}
    before = dict(ctx.rows("participation.before", lambda: _before_build(ctx)))
    new_by_week: dict[int, dict] = {}
    for week, kind, n in ctx.rows("participation.new", lambda: _new_build(ctx)):
        new_by_week.setdefault(week, {})[kind] = n
    population = sum(before.values())
    trend_rows, activity_rows, members_rows = [], [], []
    for w in ctx.filters.weeks:
        new = new_by_week.get(w, {})
        population += sum(new.values())
        row = weekly.get(w)
        active = row.active if row else 0
        day = week_start(w).date()
        trend_rows.append([day, active, population, share(active, population)])
        activity_rows.append([day, *(as_int(getattr(row, k)) if row else 0 for k in ("posts", "comments", "votes", "chats"))])
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
    new_total = sum(sum(v.values()) for v in new_by_week.values())
    return trend, volume, newcomers, new_total
