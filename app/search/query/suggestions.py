"""Suggestions: "did you mean" (a corrected query that finds more) and documents similar to a
text being typed (more like this), both only from what the viewer may see, so a suggestion
never reveals a word of something they may not read.
"""
from __future__ import annotations

import re

from whoosh import query as wq
from whoosh.support.levenshtein import damerau_levenshtein, levenshtein

from app.search.query.cache import segment_cache, segment_key
from app.search.query.facets import with_filters
from app.search.query.parsing import QueryError, parse
from app.search.query.permissions import Permissions, Restriction, restriction
from app.search.query.results import Hit

_WORD_RE = re.compile(r'"[^"]*"|\S+')


def _allowed_count(searcher, rest: Restriction, q, filters: dict, limit: int = 1) -> int:
    """How many documents the viewer may see match `q` (as Whoosh's len(results): all of them,
    whatever `limit`). A single term is counted from its cached document set (minus deleted
    documents), not searched."""
    if type(q) is wq.Term and not filters:
        if rest.nothing:
            return 0
        n = 0
        for ss, off in searcher.leaf_searchers():
            reader = ss.reader()
            local = segment_cache.segment_docs(reader, segment_key(reader), q.fieldname, q.text)
            if not local:
                continue
            deleted = reader.deleted_docs_set if reader.has_deletions() else None
            for d in local:
                if deleted and d in deleted:
                    continue
                if rest.allow is not None and d + off not in rest.allow:
                    continue
                if rest.mask and d + off in rest.mask:
                    continue
                n += 1
        return n
    results = searcher.search(with_filters(q, filters), limit=limit, **rest.kwargs())
    return len(results)


def _spell_words(reader, seg_key) -> dict[tuple[str, int], list[str]]:
    """The `spell` words of one segment by (first letter, length), cached per segment."""
    key = (seg_key, "spell-words")
    found = segment_cache.get(segment_cache.terms, key)
    if found is None:
        found = {}
        for raw in reader.lexicon("spell"):
            w = raw.decode() if isinstance(raw, bytes) else raw
            found.setdefault((w[:1], len(w)), []).append(w)
        segment_cache.put(segment_cache.terms, key, found, segment_cache.size)
    return found


def _within(searcher, word: str, maxdist: int) -> dict[str, tuple[int, bool]]:
    """Words of the `spell` field within `maxdist` edits of `word` (Damerau: a swap of two
    neighbouring letters is one edit), with (distance, whether a swap is among the edits).
    Candidates start with the same letter, or with the second one (a swap of the first two)."""
    out: dict[str, tuple[int, bool]] = {}
    firsts = {word[:1], word[1:2]}
    for ss, _off in searcher.leaf_searchers():
        reader = ss.reader()
        words = _spell_words(reader, segment_key(reader))
        for first in firsts:
            for length in range(len(word) - maxdist, len(word) + maxdist + 1):
                for cand in words.get((first, length), ()):
                    if cand in out or cand == word:
                        continue
                    distance = damerau_levenshtein(word, cand, limit=maxdist)
                    if distance <= maxdist:
                        out[cand] = (distance, levenshtein(word, cand, limit=maxdist + 1) > distance)
    return out


#: candidates counted within the viewer's documents per word (the likeliest by distance, then
#: by how often the whole index has them)
SUGGEST_COUNTED = 20


def _has_results(searcher, rest: Restriction, word: str) -> bool:
    """Whether `word`, searched alone as typed (stemmed, in every text field), finds something
    the viewer may see; a word too common to search for counts as found (it is left alone)."""
    try:
        q, _notes = parse(searcher.schema, word)
    except QueryError:
        return True
    return _allowed_count(searcher, rest, q, {}) > 0


def _best_correction(searcher, rest: Restriction, word: str) -> str | None:
    """The likeliest word the viewer meant by `word`, among the words of what they may read:
    the fewest edits first (one for words of three letters, up to two from four), then the most
    documents the viewer may see that have it, a swap of two letters (the commonest typo)
    counting double. Only words some of those documents have; None when there is none."""
    near = _within(searcher, word, 2 if len(word) >= 4 else 1)
    if not near:
        return None
    reader = searcher.reader()
    ranked = sorted(near.items(), key=lambda kv: (kv[1][0], -reader.doc_frequency("spell", kv[0]), kv[0]))
    best = None
    for cand, (distance, swapped) in ranked[:SUGGEST_COUNTED]:
        if best is not None and distance > best[0]:
            break  # a nearer word with results beats any farther one
        n = _allowed_count(searcher, rest, wq.Term("spell", cand), {})
        if n:
            key = (distance, -n * (2 if swapped else 1), cand)
            best = key if best is None or key < best else best
    return best[2] if best else None


def did_you_mean(searcher, rest: Restriction, text: str, q, total: int, filters: dict) -> str | None:
    """A corrected query that finds more than `total` within what the viewer may see, or None.
    Each plain word that finds nothing by itself (for the viewer) is replaced by its likeliest
    correction (_best_correction); words with results, phrases, `field:value`, operators and
    short words are kept as typed. Candidates are the words of titles, texts, names and topics
    (`spell`), counted only in documents the viewer may see, so a suggestion never reveals a
    word of something they may not read. Raises nothing (a correction that does not parse is
    no suggestion)."""
    tokens = _WORD_RE.findall(text)
    changed = False
    fixed = []
    for token in tokens:
        word = token.lower()
        if (token.startswith('"') or ":" in token or not word.isalpha() or len(word) < 3
                or token in ("AND", "OR", "NOT") or _has_results(searcher, rest, word)):
            fixed.append(token)
            continue
        best = _best_correction(searcher, rest, word)
        if best:
            fixed.append(best)
            changed = True
        else:
            fixed.append(token)
    if not changed:
        return None
    suggestion = " ".join(fixed)
    try:
        better, _notes = parse(searcher.schema, suggestion)
    except QueryError:
        return None
    return suggestion if _allowed_count(searcher, rest, better, filters, limit=10) > total else None


def similar(searcher, perms: Permissions, text: str, *, limit: int = 5, types: tuple[str, ...] = ("post",),
            community: int | None = None) -> list[Hit]:
    """Hits for the documents of `types` (in `community`, when given) like `text` (e.g. the
    title being typed) among what the viewer may see, best first, at most `limit`; [] for a text
    under three letters or a viewer who may see nothing. Raises nothing."""
    text = " ".join((text or "").split())[:300]
    if len(text) < 3:
        return []
    rest = restriction(searcher, perms)
    if rest.nothing:
        return []
    keyterms = searcher.key_terms_from_text("title", text, numterms=8, normalize=True)
    if not keyterms:
        return []
    words = wq.Or([wq.Term("title", w, boost=weight * 2) for w, weight in keyterms]
                  + [wq.Term("body", w, boost=weight * 0.5) for w, weight in keyterms])
    scope = [wq.ConstantScoreQuery(wq.Or([wq.Term("type", t) for t in types]), 0.0)]
    if community is not None:
        scope.append(wq.ConstantScoreQuery(wq.Term("community", str(community)), 0.0))
    results = searcher.search(wq.And([words] + scope), limit=limit, **rest.kwargs())
    hits = []
    for i in range(results.scored_length()):
        doc_id = searcher.stored_fields(results.docnum(i))["id"]
        kind, _, pk = doc_id.partition(":")
        hits.append(Hit(doc_id, kind, int(pk), results.score(i) or 0.0))
    return hits
