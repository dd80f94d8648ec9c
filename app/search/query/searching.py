"""The page search: one page of hits, the total, tab and facet counts for one viewer, all from
inside what the viewer may see (see permissions.py), with "did you mean" when nothing is found.
"""
from __future__ import annotations

from collections import Counter

from app.search.query.cache import column_values, segment_key
from app.search.query.facets import FACET_FIELDS, FACETS, count_facets, count_values, date_buckets, narrow
from app.search.query.highlights import highlight_terms
from app.search.query.matching import best_documents, matching_docs
from app.search.query.parsing import Resolver, parse
from app.search.query.permissions import Permissions, hidden_communities, local_restriction, restriction
from app.search.query.results import Hit, Outcome
from app.search.query.suggestions import did_you_mean

PER_PAGE = 20


def search(searcher, perms: Permissions, text: str, *, filters: dict | None = None, sort: str = "relevance",
           page: int = 1, per_page: int = PER_PAGE, facets: tuple[str, ...] = FACETS,
           resolve: Resolver | None = None, suggest: bool = True) -> Outcome:
    """Run a search for a viewer: an Outcome with the total, the hits of `page` (by relevance,
    "newest" or "votes"), tab and facet counts, the terms to highlight, and a suggestion when
    nothing is found. Raises QueryError for text that cannot be read.

    Per segment: the documents matching the query (set algebra over posting lists, no scoring),
    minus what the viewer may not see, narrowed by the filters; totals, tab counts and facets
    are counted from those sets (column values cached per segment). Only the documents left
    are then scored (or sorted by date or votes) to find the page of hits."""
    filters = filters or {}
    q, notes = parse(searcher.schema, text, resolve)
    outcome = Outcome(notes=notes)
    outcome.terms = highlight_terms(searcher, q)
    if not perms.active:
        return outcome
    hidden = hidden_communities(searcher, perms)
    wanted = [f for f in facets if f in FACET_FIELDS]
    counters = {name: Counter() for name in wanted}
    parts: list[tuple[object, int, list[int]]] = []
    boolean = searcher.boolean_context()
    memo: dict = {}  # decoded posting blocks of the query's terms, for scoring (see _leaf_ids)
    for ss, off in searcher.leaf_searchers():
        reader = ss.reader()
        seg_key = segment_key(reader)
        kind, local = local_restriction(searcher, reader, seg_key, perms, hidden)
        if kind == "none" or (kind == "allow" and not local):
            continue
        matched = matching_docs(q, ss, boolean, memo)
        if kind == "allow":
            matched &= local
        elif kind == "mask":
            matched -= local
        if not matched:
            continue
        narrowed = narrow(reader, seg_key, matched, filters)
        unfiltered = [name for name in wanted if not filters.get(name)]
        if narrowed and unfiltered:
            count_facets(reader, seg_key, narrowed, unfiltered, counters)
        for name in wanted:
            if filters.get(name):  # a facet in use counts the documents that pass the other filters
                docs = narrow(reader, seg_key, matched, filters, skip=name)
                if docs:
                    count_values(column_values(reader, seg_key, FACET_FIELDS[name]), docs, name, counters[name])
        if narrowed:
            parts.append((ss, off, list(narrowed)))
    outcome.total = sum(len(docs) for _ss, _off, docs in parts)
    for name, counter in counters.items():
        if name == "date":
            outcome.facets[name] = date_buckets(counter)
        else:
            outcome.facets[name] = sorted(((str(k), n) for k, n in counter.items() if k not in (None, "")),
                                          key=lambda kv: (-kv[1], kv[0]))
    if "type" in counters:
        outcome.type_counts = dict(outcome.facets.pop("type"))
    if parts:
        page = max(1, page)
        start = (page - 1) * per_page
        for docnum, score in best_documents(searcher, q, parts, sort, page * per_page, memo)[start:start + per_page]:
            doc_id = searcher.stored_fields(docnum)["id"]
            kind_, _, pk = doc_id.partition(":")
            outcome.hits.append(Hit(doc_id, kind_, int(pk), score))
    elif suggest:
        outcome.suggestion = did_you_mean(searcher, restriction(searcher, perms), text, q, 0, filters)
    return outcome
