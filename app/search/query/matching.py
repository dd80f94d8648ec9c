"""Matching and scoring: the documents of a segment matching a query by set algebra over the
posting lists (no matcher tree walked posting by posting), and the page's documents scored
exactly as Whoosh's BM25F scores them (or sorted by date or votes), only those left after the
permission filter and the filters.
"""
from __future__ import annotations

import heapq

from whoosh import query as wq
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher, _lenfield
from whoosh.matching import FilterMatcher, WrappingMatcher
from whoosh.scoring import BM25FScorer
from whoosh.util.numeric import byte_to_length

from app.search import schema as search_schema
from app.search.query.cache import column_values, segment_cache, segment_key


def _postings(m) -> tuple[W3LeafMatcher | None, float, set | None]:
    """(the term's posting list, its boost, the deleted documents filtered out) of a term's
    matcher as Whoosh builds it (postings, maybe without deleted documents, maybe boosted);
    (None, 1.0, None) for any other matcher."""
    boost = 1.0
    while type(m) is WrappingMatcher:  # a boost
        boost *= m.boost
        m = m.child
    deleted = None
    if isinstance(m, FilterMatcher) and m._exclude:
        deleted, m = m._ids, m.child
    return (m, boost, deleted) if type(m) is W3LeafMatcher else (None, 1.0, None)


def _leaf_ids(m, memo: dict | None = None, key=None) -> set[int]:
    """Every document number of a matcher; posting lists are read block by block (Whoosh's
    generic all_ids() steps one posting at a time through Python calls). With `memo`, the
    decoded blocks of a term's postings (ids, term frequencies) are kept under `key` for
    scoring the same term afterwards (`_scores`), so no block is unpickled twice."""
    postings, _boost, deleted = _postings(m)
    if postings is not None:
        m = postings
        out: set[int] = set()
        blocks = [] if memo is not None and m.is_active() and m._i == 0 else None
        while m.is_active():
            if m._ids is None:
                m._read_ids()
            ids = m._ids
            out.update(ids[m._i:] if m._i else ids)
            if blocks is not None:
                if m._weights is None:
                    m._read_weights()
                blocks.append((ids, m._weights))
            m._next_block()
        if blocks is not None:
            memo[key] = blocks
        return out - deleted if deleted else out
    return set(m.all_ids()) if m.is_active() else set()


def matching_docs(q, ss, context, memo: dict | None = None) -> set[int]:
    """The local document numbers of one segment matching `q`, by set algebra over the posting
    lists of its terms (the same documents Whoosh's matcher tree would visit, without scoring
    and without stepping through the tree posting by posting). Query types without a known
    meaning here are asked for their own matcher. `memo`: see _leaf_ids. Raises nothing of its
    own."""
    kind = type(q)
    if kind is wq.Term:
        return _leaf_ids(q.matcher(ss, context), memo, (id(ss), q.fieldname, q.text))
    if kind is wq.And:
        positive = [sub for sub in q.subqueries if not isinstance(sub, wq.Not)]
        if positive:
            out: set[int] | None = None
            for sub in positive:
                docs = matching_docs(sub, ss, context, memo)
                out = docs if out is None else out & docs
                if not out:
                    return set()
            for sub in q.subqueries:
                if isinstance(sub, wq.Not) and out:
                    out -= matching_docs(sub.query, ss, context)
            return out
    elif kind is wq.Or and not q.minmatch and not any(isinstance(sub, wq.Not) for sub in q.subqueries):
        out = set()
        for sub in q.subqueries:
            out |= matching_docs(sub, ss, context, memo)
        return out
    elif kind is wq.AndNot:
        out = matching_docs(q.a, ss, context, memo)
        return out - matching_docs(q.b, ss, context) if out else out
    elif kind is wq.AndMaybe:
        return matching_docs(q.a, ss, context, memo)
    m = q.matcher(ss, context)
    return set(m.all_ids()) if m.is_active() else set()


def _scoring_leaves(q) -> list | None:
    """The terms whose scores Whoosh adds up for a matching document of `q` (And, Or and
    AndMaybe add their children's scores, AndNot those of its left side), or None when the
    query has another shape (Not, phrases, prefixes, fuzzy terms, `field:value`, boosted groups):
    then Whoosh scores it itself. Plain words, the common case, take the fast way."""
    kind = type(q)
    if kind is wq.Term:
        return [q] if q.fieldname in search_schema.TEXT_FIELDS else None
    if kind in (wq.And, wq.Or, wq.AndNot, wq.AndMaybe):
        if q.boost != 1.0 or (kind is wq.Or and (q.minmatch or q.scale)):
            return None
        subs = [q.a] if kind is wq.AndNot else [q.a, q.b] if kind is wq.AndMaybe else q.subqueries
        out: list = []
        for sub in subs:
            found = _scoring_leaves(sub)
            if found is None:
                return None
            out.extend(found)
        return out
    return None


def _length_bytes(reader, seg_key, fieldname: str):
    """The field-length byte of every document of one segment (what Whoosh's
    doc_field_length decodes), cached per segment; None when the field has no lengths."""
    key = (seg_key, "lengths", fieldname)
    found = segment_cache.get(segment_cache.terms, key)
    if found is None:
        column = reader._perdoc._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN) \
            if hasattr(reader, "_perdoc") else None
        if column is None:
            found = b""
        elif getattr(column, "_typecode", None) == "B" and column._count <= column._doccount:
            # one byte per document, stored in a row: read it in one go (load() decodes one at a time)
            found = bytes(column._dbfile.get(column._basepos, column._count)) + bytes(column._doccount - column._count)
        else:
            found = bytes(column.load())
        segment_cache.put(segment_cache.terms, key, found, segment_cache.size)
    return found or None


#: byte -> field length, as Whoosh's byte_to_length (a document in a posting list has length >= 1)
_LENGTH_OF_BYTE = [byte_to_length(b) or 1 for b in range(256)]


def _bm25_leaf(m):
    """(posting matcher, boost, idf, avgfl, B, K1) when `m` is a term's postings scored with
    BM25F (possibly boosted, possibly with deleted documents filtered out: the wanted
    documents are live ones already), else None."""
    postings, boost, _deleted = _postings(m)
    if postings is None or type(postings.scorer) is not BM25FScorer:
        return None
    sc = postings.scorer
    return postings, boost, sc.idf, sc.avgfl, sc.B, sc.K1


def _scores(leaves: list, ss, context, docs: list[int], memo: dict | None = None) -> dict[int, float]:
    """Whoosh's relevance score of each of `docs` (local, sorted, all matching the query):
    the sum of the scores of the leaves matching it.

    A BM25F-scored term is scored block by block: each block of its posting list that can hold
    a wanted document is decoded once (ids and term frequencies) and the BM25 formula applied
    to the wanted documents in it, with the field lengths read from the segment's cached length
    column; the same arithmetic as Whoosh's BM25FScorer, without a skip_to, id(), weight() and
    doc_field_length() call per document (a word in 10,000 documents cost ~50 ms that way).
    Blocks that `matching_docs` decoded already are taken from `memo`. Other leaves are skipped
    to the wanted documents one by one."""
    scores = dict.fromkeys(docs, 0.0)
    if not docs:
        return scores
    reader = ss.reader()
    seg_key = segment_key(reader)
    wanted = scores.keys()
    for leaf in leaves:
        m = leaf.matcher(ss, context)
        fast = _bm25_leaf(m) if m.is_active() else None
        lengths = _length_bytes(reader, seg_key, leaf.fieldname) if fast else None
        if fast and lengths:
            pm, boost, idf, avgfl, b, k1 = fast
            k1_1, one_b, lengths_of = k1 + 1, 1 - b, _LENGTH_OF_BYTE
            first, last = docs[0], docs[-1]
            blocks = memo.get((id(ss), leaf.fieldname, leaf.text)) if memo is not None else None
            if blocks is None:
                blocks = []
                while pm.is_active() and pm._maxid < first:
                    pm._next_block()
                while pm.is_active():
                    if pm._ids is None:
                        pm._read_ids()
                    if pm._weights is None:
                        pm._read_weights()
                    blocks.append((pm._ids, pm._weights))
                    if pm._maxid >= last:
                        break
                    pm._next_block()
            for ids, weights in blocks:
                if ids[-1] < first or ids[0] > last:
                    continue
                for d, tf in zip(ids, weights, strict=True):
                    if d in wanted:
                        # whoosh.scoring.bm25, then WrappingMatcher's boost, in the same order
                        scores[d] += (idf * ((tf * k1_1) / (tf + k1 * (one_b + b * lengths_of[lengths[d]] / avgfl)))) \
                            * boost
            continue
        for d in docs:
            if not m.is_active():
                break
            m.skip_to(d)
            if m.is_active() and m.id() == d:
                scores[d] += m.score()
    return scores


def best_documents(searcher, q, parts: list[tuple[object, int, list[int]]], sort: str, limit: int,
                   memo: dict | None = None) -> list[tuple[int, float]]:
    """(global docnum, score) of the best `limit` documents of `parts` (per segment: searcher,
    offset, local docnums), in Whoosh's order: best score first, then the lower docnum; or
    newest first; or most votes, then newest. Only these documents are scored or sorted.
    Raises nothing of its own (Whoosh's errors pass through)."""
    if sort in ("newest", "votes"):
        keyed = []
        for ss, off, docs in parts:
            reader = ss.reader()
            seg_key = segment_key(reader)
            created = column_values(reader, seg_key, "created")
            if sort == "votes":
                votes = column_values(reader, seg_key, "votes")
                keyed.extend((-(votes[d] or 0), -(created[d] or 0), d + off) for d in docs)
            else:
                keyed.extend((-(created[d] or 0), d + off) for d in docs)
        return [(key[-1], 0.0) for key in heapq.nsmallest(limit, keyed)]
    leaves = _scoring_leaves(q)
    if leaves is None:
        final = {d + off for _ss, off, docs in parts for d in docs}
        results = searcher.search(q, limit=limit, filter=final)
        return [(results.docnum(i), results.score(i) or 0.0) for i in range(results.scored_length())]
    context = searcher.context()
    scored = []
    for ss, off, docs in parts:
        scored.extend((-score, d + off) for d, score in _scores(leaves, ss, context, sorted(docs), memo=memo).items())
    return [(docnum, -neg) for neg, docnum in heapq.nsmallest(limit, scored)]
