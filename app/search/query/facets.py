"""Facets and the filters chosen from them: the filters as Whoosh queries (for searches that
Whoosh runs) and as set intersections over cached term sets (for the page search), and the
facet counts of a result set from cached columns.
"""
from __future__ import annotations

from collections import Counter
from datetime import timedelta
from itertools import chain

from whoosh import query as wq

from app import clock
from app.search.documents import day_number
from app.search.query.cache import column_values, segment_cache

DATE_BUCKETS = (("week", "Past week", 7), ("month", "Past month", 31), ("year", "Past year", 366),
                ("older", "Older", None))
FACETS = ("type", "community", "topic", "kind", "status", "author_kind", "department", "date")


FACET_FIELDS = {"type": "type", "community": "community", "topic": "topic_ids", "kind": "kind",
                "status": "status", "author_kind": "author_kind", "department": "department", "date": "day"}


#: single-valued facets counted together through one "combination" column (see _combinations)
COMBINED_FACETS = ("type", "community", "kind", "status", "author_kind", "department")


def _filter_queries(filters: dict) -> list:
    out = []
    for key, fieldname in (("type", "type"), ("community", "community"), ("kind", "kind"), ("status", "status"),
                           ("author_kind", "author_kind"), ("department", "department")):
        value = filters.get(key)
        if value not in (None, ""):
            out.append(wq.Term(fieldname, str(value)))
    if filters.get("topic") not in (None, ""):
        out.append(wq.Term("topic_ids", str(filters["topic"])))
    return out  # (the date is a facet of the page only: new content always is recent)


def with_filters(q, filters: dict):
    """`q` narrowed by the chosen filters (type, community, kind, status, author_kind,
    department, topic; not the date), each adding nothing to the score; `q` itself when no
    filter is set. Raises nothing."""
    extra = [wq.ConstantScoreQuery(f, 0.0) for f in _filter_queries(filters)]
    return wq.And([q] + extra) if extra else q


def count_values(values: list, docs, name: str, counter: Counter) -> None:
    """Add the values (`column_values`) of `docs` to `counter` (each topic of a topic list).
    Returns None; raises nothing."""
    if name == "topic":
        counter.update(chain.from_iterable(map(values.__getitem__, docs)))
    else:
        counter.update(map(values.__getitem__, docs))


def _combinations(reader, seg_key, names: tuple[str, ...]) -> tuple[list[int], list[tuple]]:
    """For one segment: the index of each document's combination of values of the facets
    `names` (a few hundred distinct combinations in practice), and the combinations. Counting
    a result set's combinations once, then adding them up per facet, costs one pass over the
    documents instead of one per facet. Cached per segment."""
    key = (seg_key, "combinations", names)
    found = segment_cache.get(segment_cache.terms, key)
    if found is None:
        index: dict[tuple, int] = {}
        columns = [column_values(reader, seg_key, FACET_FIELDS[name]) for name in names]
        per_doc = [index.setdefault(values, len(index)) for values in zip(*columns, strict=True)]
        found = (per_doc, list(index))
        segment_cache.put(segment_cache.terms, key, found, segment_cache.size)
    return found


def count_facets(reader, seg_key, docs, names: list[str], counters: dict[str, Counter]) -> None:
    """Add the facet values of `docs` (one segment, no filter applied) to `counters`. Returns
    None; raises nothing."""
    combined = tuple(name for name in names if name in COMBINED_FACETS)
    if len(combined) > 1:
        per_doc, combos = _combinations(reader, seg_key, combined)
        for i, n in Counter(map(per_doc.__getitem__, docs)).items():
            for name, value in zip(combined, combos[i], strict=True):
                counters[name][value] += n
    else:
        combined = ()
    for name in names:
        if name not in combined:
            count_values(column_values(reader, seg_key, FACET_FIELDS[name]), docs, name, counters[name])


def date_buckets(days: Counter) -> list[tuple[str, int]]:
    """The date facet: (bucket key, count) for the DATE_BUCKETS that have documents, from a
    count per day number. Raises nothing."""
    today = day_number(clock.utcnow())
    out = []
    for key, _label, span in DATE_BUCKETS:
        if span is None:
            n = sum(c for d, c in days.items() if d and today - int(d) > 366)
        else:
            n = sum(c for d, c in days.items() if d and today - int(d) <= span)
        if n:
            out.append((key, n))
    return out


def narrow(reader, seg_key, docs: set[int], filters: dict, skip: str | None = None) -> set[int]:
    """`docs` of one segment that pass every filter but `skip` (set intersections with the
    cached term sets; the date with the day column). Raises nothing."""
    for key in ("type", "community", "kind", "status", "author_kind", "department", "topic"):
        value = filters.get(key)
        if key != skip and value not in (None, ""):
            docs = docs & segment_cache.segment_docs(reader, seg_key, FACET_FIELDS[key], str(value))
            if not docs:
                return docs
    if filters.get("date") and skip != "date":
        today = day_number(clock.utcnow())
        span = next((d for k, _l, d in DATE_BUCKETS if k == filters["date"]), 366)
        days = column_values(reader, seg_key, "day")
        if span is None:
            docs = {d for d in docs if days[d] and today - days[d] > 366}
        else:
            docs = {d for d in docs if days[d] and today - days[d] <= span}
    return docs


def since(days: int) -> int:
    """The day number (as indexed in `day`) of `days` days ago. Raises nothing."""
    return day_number(clock.utcnow() - timedelta(days=days))
