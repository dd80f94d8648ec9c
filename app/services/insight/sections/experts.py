"""Experts: topics with experts, expert answers, escalations that went overdue.
"""
from __future__ import annotations

from sqlalchemy import case, func, or_, select

from app.extensions import db
from app.models import Escalation, ExpertAssignment, IdeaStatus, Topic, post_topics
from app.services.insight.context import Ctx, as_int, dt_param, hours, share
from app.services.insight.report import HOURS, INT, PCT, TEXT, WEEK, Chart, Column, Figure, Section, Table
from app.services.insight.sections.common import not_duplicate, weeks_sum
from app.services.insight.sql import sql_week, week_start


def _items(ctx: Ctx):
    """The period's questions and ideas (not merged duplicates) in topics that had an expert."""
    p = ctx.src("posts")
    return (select(p.c.post_id, p.c.week, p.c.community_id, p.c.created_at, p.c.expert_at, p.c.expert_secs)
            .where(p.c.expert_covered.is_(True), or_(p.c.status.is_(None), p.c.status != IdeaStatus.DUPLICATE.value))
            .subquery("items"))


def _scope_topics(ctx: Ctx):
    stmt = select(Topic.id, Topic.community_id).where(Topic.created_at < dt_param("moment"), *ctx.in_communities(Topic.community_id))
    return stmt.subquery("scope_topics")


def _has_expert(topics):
    return (select(ExpertAssignment.id).where(
        ExpertAssignment.topic_id == topics.c.id, ExpertAssignment.assigned_at <= dt_param("moment"),
        or_(ExpertAssignment.removed_at.is_(None), ExpertAssignment.removed_at > dt_param("moment")))
        .correlate(topics).exists())


def _due_build(ctx: Ctx):
    """(community, week the answer fell due, how many) of the escalations that fell due in the
    period (posted_at narrows the scan: due_at comes at most 31 days later)."""
    week = sql_week(Escalation.due_at)
    return (select(Escalation.community_id, week, func.count())
            .where(Escalation.posted_at >= dt_param("posted_from"), Escalation.posted_at < dt_param("end"),
                   Escalation.due_at >= dt_param("start"), Escalation.due_at < dt_param("end"),
                   *ctx.in_communities(Escalation.community_id))
            .group_by(Escalation.community_id, week))


def _open_build(ctx: Ctx):
    """(community, how many) of the escalations still open (the experts' job closes them when
    the post gets its answer or is deleted)."""
    return (select(Escalation.community_id, func.count())
            .where(Escalation.resolved_at.is_(None), *ctx.in_communities(Escalation.community_id))
            .group_by(Escalation.community_id))


def experts(ctx: Ctx) -> Section:
    """The experts section: topics with experts, expert answer rate and time, overdue items, per
    community (or per topic on a community's dashboard). Returns a report.Section; raises nothing of its own."""
    section = Section("experts", "Experts",
                      "Topics with experts, and how experts answer the questions and ideas in their topics.")
    n_topics, with_experts = ctx.one("experts.topics", _topics_build(ctx, False))
    with_experts = as_int(with_experts)
    per, weekly = _counts(ctx)
    items = sum(r[2] for r in per.values())
    answered = sum(r[3] for r in per.values())
    went = sum(r[4] for r in per.values())
    still = sum(r[5] for r in per.values())
    med = ctx.quantiles("experts.q_all", _waits(ctx, None)).get(None, (None,))[0]
    section.tables = [_weekly_table(ctx, weekly)]
    section.tables.append(_communities_table(ctx, per) if not ctx.scope.is_community else _topic_table(ctx))
    section.figures = [
        Figure("Topics with experts", share(with_experts, n_topics), PCT, f"{with_experts} of {n_topics} topics"),
        Figure("Expert answer rate", share(answered, items), PCT, f"{answered} of {items} questions and ideas"),
        Figure("Median expert response time", hours(med), HOURS),
        Figure("Overdue now", still, INT, f"{went} fell due in the period"),
    ]
    section.notes = ["Answer rate: questions and ideas posted in the period in a topic that had an expert, answered "
                     "by an expert of the topic (a comment, or an idea's status change). Overdue: escalated by the "
                     "experts' escalation job, counted in the week the answer fell due."]
    if ctx.ignored("department", "kind"):
        section.notes.append(ctx.ignored("department", "kind"))
    if not n_topics and not items:
        section.empty_message = "No topics yet, so no experts to measure."
    section.scores["coverage"] = share(with_experts, n_topics)
    section.scores["expert_rate"] = share(answered, items)
    return section


def _waits(ctx: Ctx, group: str | None):
    """A builder of (g, v): expert response times in seconds, grouped by `group` (None: one group)."""
    def build():
        items = _items(ctx)
        g = items.c[group] if group else items.c.week
        return (select(g.label("g"), items.c.expert_secs.label("v"))
                .where(items.c.expert_secs.isnot(None)).subquery("expert_waits"))
    return build


def _topics_build(ctx: Ctx, grouped: bool):
    """A builder of ([community,] topics, topics with an expert) at the end of the period."""
    def build():
        topics = _scope_topics(ctx)
        cols = (topics.c.community_id,) if grouped else ()
        stmt = select(*cols, func.count(), func.sum(case((_has_expert(topics), 1), else_=0))).select_from(topics)
        return stmt.group_by(*cols) if grouped else stmt
    return build


def _covered(w):
    return [w.c.covered > 0, not_duplicate(w)]


def _counts(ctx: Ctx) -> tuple[dict, dict]:
    """{community: [topics, with experts, items, answered, fell due, open]} (the first two are
    filled by _communities_table) and {week: [items, answered, fell due]}."""
    per: dict[int, list[int]] = {}
    weekly: dict[int, list[int]] = {}
    for week, n, a in weeks_sum(ctx, "experts.weekly", ("week",), ("covered", "covered_answered"), _covered):
        wk = weekly.setdefault(week, [0, 0, 0])
        wk[0], wk[1] = as_int(n), as_int(a)
    for cid, n, a in weeks_sum(ctx, "experts.per_community", ("community_id",), ("covered", "covered_answered"),
                               _covered):
        row = per.setdefault(cid, [0] * 6)
        row[2], row[3] = as_int(n), as_int(a)
    for cid, week, n in ctx.rows("experts.due", lambda: _due_build(ctx)):
        per.setdefault(cid, [0] * 6)[4] += n
        weekly.setdefault(week, [0, 0, 0])[2] += n
    for cid, n in ctx.rows("experts.open", lambda: _open_build(ctx)):
        per.setdefault(cid, [0] * 6)[5] += n
    return per, weekly


def _weekly_table(ctx: Ctx, weekly: dict) -> Table:
    q_week = ctx.quantiles("experts.q_week", _waits(ctx, "week"), group=True)
    week_rows = []
    for w in ctx.filters.weeks:
        n, a, due = weekly.get(w, (0, 0, 0))
        week_rows.append([week_start(w).date(), n, a, share(a, n), hours(q_week.get(w, (None,))[0]), due])
    return Table("experts-weekly", "Questions and ideas in topics with experts, by week posted", [
        Column("week", "Week of", WEEK), Column("items", "In topics with experts"),
        Column("answered", "Answered by an expert"), Column("rate", "Expert answer rate", PCT),
        Column("median", "Median expert response time", HOURS), Column("overdue", "Went overdue")],
        week_rows, Chart("bar", ("items", "answered")),
        empty_message="No questions or ideas in topics with experts in this period.")


def _communities_table(ctx: Ctx, per: dict) -> Table:
    """The organisation dashboard: the experts figures per community the viewer may read."""
    for cid, n, w in ctx.rows("experts.topics_by_community", _topics_build(ctx, True)):
        per.setdefault(cid, [0] * 6)[:2] = [n, as_int(w)]
    q_comm = ctx.quantiles("experts.q_community", _waits(ctx, "community_id"), group=True)
    names = {c.id: c.name for c in ctx.scope.communities}
    rows = []
    for cid, vals in sorted(per.items(), key=lambda kv: names.get(kv[0], "").lower()):
        if cid in names:
            rows.append([names[cid], vals[0], vals[1], share(vals[1], vals[0]), vals[2], vals[3],
                         share(vals[3], vals[2]), hours(q_comm.get(cid, (None,))[0]), vals[4], vals[5]])
    return Table("experts-communities", "Experts by community", [
        Column("community", "Community", TEXT), Column("topics", "Topics"), Column("with", "With experts"),
        Column("coverage", "Share with experts", PCT), Column("items", "Questions and ideas"),
        Column("answered", "Answered by an expert"), Column("rate", "Answer rate", PCT),
        Column("median", "Median response time", HOURS), Column("went", "Went overdue"),
        Column("open", "Overdue now")], rows, Chart("hbar", ("coverage", "rate"), "%"),
        empty_message="No community has topics yet.")


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
        rows.append([name, experts_now.get(tid, 0), n, a, share(a, n), hours(q_topic.get(tid, (None,))[0])])
    return Table("experts-topics", "Experts by topic", [
        Column("topic", "Topic", TEXT), Column("experts", "Experts now"), Column("items", "Questions and ideas"),
        Column("answered", "Answered by an expert"), Column("rate", "Answer rate", PCT),
        Column("median", "Median response time", HOURS)], rows, Chart("hbar", ("rate",), "%"),
        empty_message="This community has no topics yet.")
