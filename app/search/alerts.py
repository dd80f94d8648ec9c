"""Matching new documents against saved searches ("percolation").

The documents of one indexer round are put in a small in-memory index and every saved query runs
against it, so the cost follows the size of the round, not of the whole index. Each saved search
only sees the documents in the communities it may cover (its owner's readable communities, or
those they manage); an empty set means no search at all, never an unfiltered one.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from whoosh import query as wq
from whoosh.filedb.filestore import RamStorage

from app.search import schema as search_schema
from app.search.query.facets import with_filters
from app.search.query.parsing import QueryError, parse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Standing:
    """One saved search to match."""

    key: int                        # the saved search id
    text: str
    filters: dict
    communities: frozenset[int]     # where it may match
    resolve: Callable | None = None


def percolate(docs: list[dict], standing: list[Standing], language: str) -> dict[int, list[str]]:
    """{saved search id: [document ids it matches]} among `docs` (index fields)."""
    if not docs or not standing:
        return {}
    ix = RamStorage().create_index(search_schema.build_schema(language))
    writer = ix.writer()
    for fields in docs:
        writer.add_document(**{k: v for k, v in fields.items() if v is not None and v != ""})
    writer.commit()
    found: dict[int, list[str]] = {}
    with ix.searcher() as searcher:
        for item in standing:
            if not item.communities:
                continue
            try:
                q, _notes = parse(searcher.schema, item.text, item.resolve)
            except QueryError:
                continue
            scope = wq.Or([wq.Term("community", str(c)) for c in sorted(item.communities)])
            allowed = set(scope.docs(searcher))
            if not allowed:
                continue
            results = searcher.search(with_filters(q, item.filters or {}), limit=None, filter=allowed)
            ids = [searcher.stored_fields(hit.docnum)["id"] for hit in results]
            if ids:
                found[item.key] = ids
    return found
