"""The Social Business Index, and the registry of the sections in the order the dashboard shows
them (SECTIONS) and of the section that computes each table (TABLE_SECTIONS).
"""
from __future__ import annotations

from app.models.insight import RESPONSE_TARGET_HOURS
from app.services.insight.context import Ctx
from app.services.insight.report import NOTE, NUM, SCORE, TEXT, Chart, Column, Figure, Section, Table
from app.services.insight.sections.customers import customers
from app.services.insight.sections.departments import departments
from app.services.insight.sections.experts import experts
from app.services.insight.sections.health import health
from app.services.insight.sections.knowledge import knowledge
from app.services.insight.sections.participation import participation

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
