"""Queries: parsing with clear errors, the permission filter, facets, sorting, pages, highlights,
"did you mean" and more-like-this. Returns ids and counts; the database returns the rows.

The permission filter is part of the Whoosh search itself: the set of documents the viewer may
see is computed from `Permissions` (built fresh from the database by the caller for every query)
and handed to Whoosh as its filter (or, when smaller, the complement as its mask). Hits,
totals, facet counts, highlights and suggestions all come from inside that set. Per-segment
document sets are cached (segments never change once written), so the filter costs set unions,
not index walks. An empty allowed set short-circuits to "nothing", never to "no filter".

Query syntax (Whoosh's, with friendlier field names):
    tent returns            both words (AND is implied)       tent OR tarp, tent NOT tarp, -tarp
    "free returns"          a phrase                          (tent OR tarp) AND repair
    retur*                  a prefix (2+ letters first)       tnet~  a word within one typo
    status:planned  kind:idea  author:anna (a handle, its start, a first or last name)
    topic:returns  community:customer-ideas
    type:person  department:logistics  title:…  body:…

This module is the package's public face; the work is done in:

    cache.py        per-segment document sets and column values (segments never change)
    permissions.py  Permissions, and the filter each document type's rule gives a viewer
    parsing.py      validation, the parser, friendly field values; QueryError
    facets.py       the filters chosen from facets, and counting facets
    matching.py     the documents matching a query (set algebra), scoring, a page's order
    searching.py    search(): one page of hits, totals, facets for a viewer
    suggestions.py  "did you mean", and similar documents (more like this)
    highlights.py   the terms to highlight and the highlighted pieces of a text
    results.py      Hit and Outcome, what a search returns
"""
from __future__ import annotations

from app.search.query.facets import DATE_BUCKETS, FACET_FIELDS, FACETS
from app.search.query.highlights import segments
from app.search.query.parsing import (
    KIND_WORDS,
    MAX_QUERY,
    PERSON_FIELDS,
    STATUS_WORDS,
    TYPE_WORDS,
    QueryError,
    Resolved,
    Resolver,
    parse,
    parser_for,
    validate,
)
from app.search.query.permissions import Permissions, Restriction, restriction
from app.search.query.results import Hit, Outcome
from app.search.query.searching import PER_PAGE, search
from app.search.query.suggestions import similar

__all__ = [
    "DATE_BUCKETS", "FACETS", "FACET_FIELDS", "KIND_WORDS", "MAX_QUERY", "PERSON_FIELDS", "PER_PAGE",
    "STATUS_WORDS", "TYPE_WORDS", "Hit", "Outcome", "Permissions", "QueryError", "Resolved", "Resolver",
    "Restriction", "parse", "parser_for", "restriction", "search", "segments", "similar", "validate",
]
