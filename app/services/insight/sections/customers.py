"""Customer voice: ideas and questions from customers and partners, official response times and
the idea funnel.
"""
from __future__ import annotations

from sqlalchemy import case, literal, or_, select, true, union_all

from app.models import IdeaStatus, UserKind
from app.models.insight import RESPONSE_TARGET_HOURS
from app.services.insight import sources
from app.services.insight.context import Ctx, as_int, hours, share
from app.services.insight.report import DAYS, HOURS, INT, NUM, PCT, TEXT, WEEK, Chart, Column, Figure, Section, Table
from app.services.insight.sections.common import external, not_duplicate, weeks_sum
from app.services.insight.sql import week_start
from app.wording import plural

FUNNEL = [(IdeaStatus.NEW, "New"), (IdeaStatus.UNDER_REVIEW, "Under review"), (IdeaStatus.PLANNED, "Planned"),
          (IdeaStatus.IN_PROGRESS, "In progress"), (IdeaStatus.DONE, "Done")]


def _wait(p):
    return p.c.official_secs


def customers(ctx: Ctx) -> Section:
    """The customer-voice section: official responses to customers and partners, their times, the
    idea funnel. Returns a report.Section (empty for employees); raises nothing of its own."""
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
                    .where(external(p), p.c.official_at.isnot(None)).subquery("waits"))
        return build

    by_kind: dict[str, list[int]] = {}     # kind: posted, responded, within the target
    by_week: dict[int, list[int]] = {}     # week: ideas, questions, responded
    for week, kind, n, responded, within in weeks_sum(
            ctx, "customers.counts", ("week", "kind"), ("n", "responded", "within"), lambda w: [external(w)]):
        k = by_kind.setdefault(kind, [0, 0, 0])
        k[0], k[1], k[2] = k[0] + as_int(n), k[1] + as_int(responded), k[2] + as_int(within)
        wk = by_week.setdefault(week, [0, 0, 0])
        wk[0 if kind == "idea" else 1] += as_int(n)
        wk[2] += as_int(responded)
    q_kind = ctx.quantiles("customers.q_kind", waits("kind"), group=True)
    q_all = ctx.quantiles("customers.q_all", waits("kind"))
    summary_rows, totals = [], [0, 0, 0]
    for kind, label in (("idea", "Ideas"), ("question", "Questions")):
        n, responded, ok = by_kind.get(kind, (0, 0, 0))
        totals = [totals[0] + n, totals[1] + responded, totals[2] + ok]
        med, p90, _n = q_kind.get(kind, (None, None, 0))
        summary_rows.append([label, n, responded, share(responded, n), share(ok, n), hours(med), hours(p90)])
    med, p90, _n = q_all.get(None, (None, None, 0))
    summary_rows.append(["All", *totals[:2], share(totals[1], totals[0]), share(totals[2], totals[0]),
                         hours(med), hours(p90)])
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
        week_rows.append([week_start(w).date(), *by_week.get(w, (0, 0, 0)), hours(wmed), hours(wp90)])
    trend = Table("customer-weekly", "Customer and partner posts by week posted", [
        Column("week", "Week of", WEEK), Column("ideas", "Ideas"), Column("questions", "Questions"),
        Column("responded", "With an official response"), Column("median", "Median time to response", HOURS),
        Column("p90", "90th percentile", HOURS)], week_rows, Chart("bar", ("ideas", "questions")),
        empty_message="No ideas or questions from customers or partners in this period.")

    funnel, stages, votes = _ideas(ctx)
    n_ideas = by_kind.get("idea", (0,))[0]
    section.figures = [
        Figure("Ideas and questions", totals[0], INT, "from customers and partners"),
        Figure("With an official response", share(totals[1], totals[0]), PCT, f"{totals[1]} of {totals[0]}"),
        Figure("Median time to first response", hours(med), HOURS),
        Figure("90th percentile", hours(p90), HOURS),
        Figure("Votes per idea", votes, NUM, f"average over {plural(n_ideas, 'idea')}"),
    ]
    section.tables = [summary, trend, funnel, stages]
    section.notes = ["Times run from posting to the first official response (an idea's status change; for a "
                     "question, an answer by the community's staff or a topic expert). Ideas and questions posted "
                     "in the period, with their responses up to now."]
    if not totals[0]:
        section.empty_message = "No ideas or questions from customers or partners in this period."
    section.scores["customers"] = share(totals[2], totals[0])
    return section


def _idea_rows(ctx: Ctx):
    """The (non-duplicate) ideas of customers and partners posted in the period."""
    p = ctx.src("posts")
    return (select(p).where(external(p), p.c.kind == "idea",
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
    for status, *sums in weeks_sum(
            ctx, "ideas.funnel", ("status",), ("n", "reached1", "reached2", "reached3", "reached4", "declined", "votes"),
            lambda w: [w.c.kind == "idea", external(w), not_duplicate(w)]):
        counts = [c + as_int(v) for c, v in zip(counts, sums, strict=True)]
        now_in[status] = as_int(sums[0])
    total = counts[0]
    q_stage = ctx.quantiles("ideas.stages", spells, group=True)
    rows = []
    for i, (status, label) in enumerate(FUNNEL):
        n = total if i == 0 else as_int(counts[i])
        med = q_stage.get(status.value, (None, None, 0))[0]
        rows.append([label, n, share(n, total), now_in.get(status.value, 0), None if med is None else med / 86400])
    declined = as_int(counts[5])
    rows.append(["Declined", declined, share(declined, total), now_in.get(IdeaStatus.DECLINED.value, 0), None])
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
