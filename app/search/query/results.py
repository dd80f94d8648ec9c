"""What a search returns: ids and counts (the database returns the rows)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Hit:
    """One document found: its index id ("post:12"), type, primary key and score."""

    doc_id: str
    type: str
    pk: int
    score: float


@dataclass
class Outcome:
    """One page of a search: the total the viewer may see, the page's hits, facet and tab
    counts, the terms to highlight, a "did you mean" and notes about the query."""

    total: int = 0
    hits: list[Hit] = field(default_factory=list)
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    type_counts: dict[str, int] = field(default_factory=dict)
    terms: dict[str, set[str]] = field(default_factory=dict)   # field -> terms to highlight
    suggestion: str | None = None                              # "did you mean"
    notes: list[str] = field(default_factory=list)
