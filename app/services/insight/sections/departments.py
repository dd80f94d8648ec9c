"""Across departments: who answers whom, and threads that bring departments together.
"""
from __future__ import annotations

from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import Department
from app.services.insight.context import EXTERNAL, Ctx, P, as_int, share
from app.services.insight.report import PCT, TEXT, WEEK, Chart, Column, Figure, Section, Table
from app.services.insight.sql import week_start


def departments(ctx: Ctx) -> Section:
    """The across-departments section: the who-answers-whom matrix and threads across
    departments. Returns a report.Section (empty for customers and partners); raises nothing of its own."""
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
    weekly = {w: (as_int(n), as_int(x)) for w, n, x in ctx.rows("departments.threads", threads_build)}
    threads = sum(n for n, _x in weekly.values())
    cross = sum(x for _n, x in weekly.values())
    week_rows = []
    for w in f.weeks:
        n, x = weekly.get(w, (0, 0))
        week_rows.append([week_start(w).date(), n, x, share(x, n)])
    trend = Table("threads-weekly", "Threads with people from two or more departments, by week started", [
        Column("week", "Week of", WEEK), Column("threads", "Threads"), Column("cross", "Across departments"),
        Column("share", "Share across departments", PCT)], week_rows, Chart("line", ("share",), "%"),
        empty_message="No thread started in this period.")
    total = sum(cells.values())
    across = sum(n for (a, b), n in cells.items() if a != b)
    section.figures = [
        Figure("Threads across departments", share(cross, threads), PCT, f"{cross} of {threads} threads"),
        Figure("Answers to another department", share(across, total), PCT, f"{across} of {total} comments"),
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
    section.scores["departments"] = share(cross, threads)
    return section
