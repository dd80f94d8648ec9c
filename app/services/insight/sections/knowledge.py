"""Knowledge: what people look for (app.services.insight.knowledge_sources), what they do not
find, and how answered questions are reused.
"""
from __future__ import annotations

from app.services.insight import knowledge_sources
from app.services.insight.context import Ctx, P, as_int, share
from app.services.insight.report import INT, NUM, PCT, WEEK, Chart, Column, Figure, Section, Table
from app.services.insight.sections.common import weeks_sum
from app.services.insight.sql import week_start


def knowledge(ctx: Ctx) -> Section:
    """The knowledge section: searches (knowledge_sources), questions with an accepted answer and
    their views. Returns a report.Section; raises nothing of its own."""
    f = ctx.filters
    section = Section("knowledge", "Knowledge",
                      "What people look for, what they do not find, and how answered questions are reused.")

    weekly: dict[int, list[int]] = {}  # week: questions, with an accepted answer, their views, other views
    def asked(w):
        return [w.c.kind == "question"] + ([w.c.author_kind == P("kind_value")] if f.kind is not None else [])

    for week, *sums in weeks_sum(ctx, "knowledge.weekly", ("week",),
                                  ("n", "accepted", "accepted_views", "other_views"), asked):
        weekly[week] = [as_int(v) for v in sums]
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
        Figure("Questions with an accepted answer", share(answered, n), PCT, f"{answered} of {n} questions"),
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
