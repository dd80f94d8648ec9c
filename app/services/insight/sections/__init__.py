"""The dashboard's sections, one module each: participation, departments, customers, experts,
knowledge, health, and index (the Social Business Index and the registry of sections). Each
section takes an app.services.insight.context.Ctx (scope, filters, rollup state) and returns a
report.Section; every figure is an SQL aggregate (counts, sums, shares' parts, medians and
percentiles are computed by the database); Python only arranges the aggregated rows into weeks
and tables.

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

The face: Ctx, SECTIONS (in the dashboard's order), TABLE_SECTIONS (table id: its section),
INDEX_TABLES and social_business_index.
"""
from __future__ import annotations

from app.services.insight.context import Ctx
from app.services.insight.sections.index import INDEX_TABLES, SECTIONS, TABLE_SECTIONS, social_business_index

__all__ = ["INDEX_TABLES", "SECTIONS", "TABLE_SECTIONS", "Ctx", "social_business_index"]
