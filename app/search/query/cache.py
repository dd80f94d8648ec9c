"""Per-segment caches of the query engine: the document numbers of a term in a segment, sets
combined over the current searcher generation, and a column's value for every document.

Whoosh segments never change once written, so what is cached for a segment stays true (deleted
documents aside: see segment_key). Bounded LRU dictionaries under one lock; one instance,
`segment_cache`, is shared by every query of the process.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable


class SegmentCache:
    """Document numbers per (segment, term) (segments are immutable once written), and the
    combined global sets of the current searcher generation. Cached sets are plain `set`s
    (Whoosh accepts no frozenset as a filter) and are never modified once stored."""

    def __init__(self, size: int = 4096, combined: int = 64):
        self.terms: OrderedDict = OrderedDict()
        self.combined: OrderedDict = OrderedDict()
        self.size, self.combined_size = size, combined
        self.lock = threading.Lock()

    def get(self, store: OrderedDict, key):
        """The value cached under `key` in `store` (self.terms or self.combined), marked as
        recently used, or None. Raises nothing."""
        with self.lock:
            found = store.get(key)
            if found is not None:
                store.move_to_end(key)
            return found

    def put(self, store: OrderedDict, key, value, limit: int):
        """Cache `value` under `key` in `store`, dropping the least recently used entries beyond
        `limit`; returns `value`. Raises nothing."""
        with self.lock:
            store[key] = value
            while len(store) > limit:
                store.popitem(last=False)
        return value

    def segment_docs(self, reader, seg_key, fieldname: str, value: str) -> frozenset[int]:
        """The local document numbers of one segment (`reader`, `seg_key`) having the term
        (`fieldname`, `value`); empty when the segment lacks it. Cached per segment; raises
        nothing."""
        key = (seg_key, fieldname, value)
        found = self.get(self.terms, key)
        if found is None:
            found = frozenset(reader.postings(fieldname, value).all_ids()) if (fieldname, value) in reader \
                else frozenset()
            self.put(self.terms, key, found, self.size)
        return found

    def generation(self, searcher) -> tuple:
        """What identifies the searcher's set of segments: (segment key, offset) per segment.
        Raises nothing."""
        return tuple((segment_key(ss.reader()), off) for ss, off in searcher.leaf_searchers())

    def docs(self, searcher, terms: frozenset[tuple[str, str]]) -> set[int]:
        """Global document numbers having any of `terms` (do not modify the answer). Raises
        nothing."""
        key = (self.generation(searcher), "terms", terms)
        found = self.get(self.combined, key)
        if found is not None:
            return found
        out: set[int] = set()
        for ss, off in searcher.leaf_searchers():
            reader = ss.reader()
            seg_key = segment_key(reader)
            for fieldname, value in terms:
                local = self.segment_docs(reader, seg_key, fieldname, value)
                if off:
                    out.update(d + off for d in local)
                else:
                    out.update(local)
        return self.put(self.combined, key, out, self.combined_size)

    def derived(self, searcher, name: tuple, make: Callable[[], set[int]]) -> set[int]:
        """The set cached as `name` for the searcher's generation, made with `make()` the first
        time (do not modify the answer). Raises what `make` raises."""
        key = (self.generation(searcher), "derived", name)
        found = self.get(self.combined, key)
        if found is None:
            found = self.put(self.combined, key, make(), self.combined_size)
        return found


def segment_key(reader):
    """What identifies a segment's immutable contents: its id (random, unique per index).
    Deletions are left out on purpose: the cached sets may keep a deleted document, which is
    harmless (matchers never return deleted documents), and a vote on an old post (a deletion
    in a big segment) then does not throw away the big segment's caches. Returns the segment
    id, or ("reader", id(reader)) for a reader without a segment; raises nothing."""
    segment = reader.segment() if hasattr(reader, "segment") else None
    if segment is not None:
        return segment.segment_id()
    return ("reader", id(reader))


segment_cache = SegmentCache()


def column_values(reader, seg_key, fieldname: str) -> list:
    """The value of `fieldname` for every document of one segment (from its column; interned;
    a list of tuples for the topic list), cached per segment. A field without a column gives
    None (or () for the topic list) for every document. Raises nothing."""
    key = (seg_key, "values", fieldname)
    found = segment_cache.get(segment_cache.terms, key)
    if found is None:
        seen: dict = {}
        if not reader.has_column(fieldname):
            found = [() if fieldname == "topic_ids" else None] * reader.doc_count_all()
        else:
            column = reader.column_reader(fieldname, translate=False)
            if fieldname == "topic_ids":
                found = [seen.setdefault(v, v) for v in
                         (tuple(x.decode() for x in value) for value in column)]
            elif fieldname == "day":
                found = list(column)
            else:
                found = [seen.setdefault(value, value.decode() if isinstance(value, bytes) else value)
                         for value in column]
        segment_cache.put(segment_cache.terms, key, found, segment_cache.size)
    return found
