"""What several sections share: the labels of the kinds of member and the post facts' weekly
counts (InsightPostWeek), counted once.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from app.models import IdeaStatus, UserKind
from app.services.insight.context import Ctx, P

KIND_LABELS = {UserKind.EMPLOYEE: "Employees", UserKind.CUSTOMER: "Customers", UserKind.PARTNER: "Partners"}



def weeks_sum(ctx: Ctx, key: str, group: tuple[str, ...], names: tuple[str, ...], where: Callable) -> list:
    """Sums of the InsightPostWeek columns `names`, grouped by `group`, over the rows that
    `where(w)` keeps (the weekly counts of the post facts: a few rows per week): the rows of
    (*group, *names)."""
    def build():
        w = ctx.src("post_weeks")
        cols = [w.c[g] for g in group]
        return (select(*cols, *[func.sum(w.c[n]).label(n) for n in names]).where(*where(w)).group_by(*cols))
    return ctx.rows(key, build)


def not_duplicate(w):
    """The WHERE condition leaving out merged duplicates (post facts or their weekly counts)."""
    return w.c.status != IdeaStatus.DUPLICATE.value


def external(rows):
    """The WHERE condition keeping the rows (post facts or their weekly counts) of posts by
    customers and partners (of the chosen kind)."""
    return rows.c.author_kind.in_(P("ext_kinds", expanding=True))
