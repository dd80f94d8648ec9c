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
"""
from __future__ import annotations

import heapq
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import chain

from whoosh import highlight as wh
from whoosh import query as wq
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher, _lenfield
from whoosh.matching import FilterMatcher, WrappingMatcher
from whoosh.qparser import FieldAliasPlugin, FuzzyTermPlugin, MultifieldParser, PlusMinusPlugin
from whoosh.scoring import BM25FScorer
from whoosh.util.numeric import byte_to_length

from app import clock
from app.search import registry
from app.search import schema as search_schema
from app.search.documents import day_number

MAX_QUERY = 300
MAX_TERMS = 24
PER_PAGE = 20

# user-facing field names -> index fields
FIELD_ALIASES = {
    "status": [], "kind": [], "author": ["by"], "topics": ["topic"], "community": ["in"], "type": ["is"],
    "department": ["dept"], "title": [], "body": ["text"],
}
USER_FIELDS = sorted({"status", "kind", "author", "by", "topic", "topics", "community", "in", "type", "is",
                      "department", "dept", "title", "body", "text"})
KIND_WORDS = {"idea": "idea", "ideas": "idea", "question": "question", "questions": "question",
              "discussion": "discussion", "discussions": "discussion"}
TYPE_WORDS = {"post": "post", "posts": "post", "comment": "comment", "comments": "comment", "person": "person",
              "people": "person", "persons": "person", "user": "person", "users": "person",
              "community": "community", "communities": "community", "topic": "topic", "topics": "topic",
              "message": "message", "messages": "message", "chat": "message", "expert": "expert",
              "experts": "expert"}
STATUS_WORDS = {"new": "new", "under review": "under_review", "under_review": "under_review",
                "under-review": "under_review", "review": "under_review", "planned": "planned",
                "in progress": "in_progress", "in_progress": "in_progress", "in-progress": "in_progress",
                "progress": "in_progress", "done": "done", "declined": "declined", "duplicate": "duplicate"}
DATE_BUCKETS = (("week", "Past week", 7), ("month", "Past month", 31), ("year", "Past year", 366),
                ("older", "Older", None))
FACETS = ("type", "community", "topic", "kind", "status", "author_kind", "department", "date")


class QueryError(ValueError):
    """A query that cannot be read; the message says why and how to fix it."""


# --- permissions ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Permissions:
    """What one viewer may see, as facts the index can filter on (built by the service from
    app.services.access, fresh for every query)."""

    active: bool
    everything: bool = False                      # staff: no filter
    readable: frozenset[int] = frozenset()        # communities whose content they may read
    discover_all: bool = False                    # employees: every community exists for them
    people_all: bool = False                      # employees: every person
    member_of: frozenset[int] = frozenset()       # externals: people of these communities
    self_id: int | None = None


class _SegmentCache:
    """Document numbers per (segment, term) (segments are immutable once written), and the
    combined global sets of the current searcher generation. Cached sets are plain `set`s
    (Whoosh accepts no frozenset as a filter) and are never modified once stored."""

    def __init__(self, size: int = 4096, combined: int = 64):
        self.terms: OrderedDict = OrderedDict()
        self.combined: OrderedDict = OrderedDict()
        self.size, self.combined_size = size, combined
        self.lock = threading.Lock()

    def _get(self, store: OrderedDict, key):
        with self.lock:
            found = store.get(key)
            if found is not None:
                store.move_to_end(key)
            return found

    def _put(self, store: OrderedDict, key, value, limit: int):
        with self.lock:
            store[key] = value
            while len(store) > limit:
                store.popitem(last=False)
        return value

    def _local(self, reader, seg_key, fieldname: str, value: str) -> frozenset[int]:
        key = (seg_key, fieldname, value)
        found = self._get(self.terms, key)
        if found is None:
            found = frozenset(reader.postings(fieldname, value).all_ids()) if (fieldname, value) in reader \
                else frozenset()
            self._put(self.terms, key, found, self.size)
        return found

    def generation(self, searcher) -> tuple:
        return tuple((_segment_key(ss.reader()), off) for ss, off in searcher.leaf_searchers())

    def docs(self, searcher, terms: frozenset[tuple[str, str]]) -> set[int]:
        """Global document numbers having any of `terms` (do not modify the answer)."""
        key = (self.generation(searcher), "terms", terms)
        found = self._get(self.combined, key)
        if found is not None:
            return found
        out: set[int] = set()
        for ss, off in searcher.leaf_searchers():
            reader = ss.reader()
            seg_key = _segment_key(reader)
            for fieldname, value in terms:
                local = self._local(reader, seg_key, fieldname, value)
                if off:
                    out.update(d + off for d in local)
                else:
                    out.update(local)
        return self._put(self.combined, key, out, self.combined_size)

    def derived(self, searcher, name: tuple, make: Callable[[], set[int]]) -> set[int]:
        key = (self.generation(searcher), "derived", name)
        found = self._get(self.combined, key)
        if found is None:
            found = self._put(self.combined, key, make(), self.combined_size)
        return found


def _segment_key(reader):
    """What identifies a segment's immutable contents: its id (random, unique per index).
    Deletions are left out on purpose: the cached sets may keep a deleted document, which is
    harmless (matchers never return deleted documents), and a vote on an old post (a deletion
    in a big segment) then does not throw away the big segment's caches."""
    segment = reader.segment() if hasattr(reader, "segment") else None
    if segment is not None:
        return segment.segment_id()
    return ("reader", id(reader))


_cache = _SegmentCache()


def _all_values(searcher, fieldname: str) -> set[str]:
    return {v.decode() if isinstance(v, bytes) else v for v in searcher.reader().lexicon(fieldname)}


@dataclass
class Restriction:
    """How Whoosh restricts a search for a viewer: nothing at all, only a set, or all but a set."""

    nothing: bool = False
    allow: set[int] | None = None
    mask: set[int] | None = None

    def kwargs(self) -> dict:
        out = {}
        if self.allow is not None:
            out["filter"] = self.allow
        if self.mask:
            out["mask"] = self.mask
        return out


def _people_terms(perms: Permissions) -> frozenset[tuple[str, str]]:
    if perms.people_all:
        return frozenset({("type", "person")})
    terms = {("members", str(c)) for c in perms.member_of}
    if perms.self_id:
        terms.add(("id", f"person:{perms.self_id}"))
    return frozenset(terms)


def _rule_types(rule: str) -> tuple[str, ...]:
    """The document types whose permission rule is `rule` (app/search/registry.py)."""
    return tuple(sorted(t.name for t in registry.doc_types() if t.rule == rule))


def local_restriction(searcher, reader, seg_key, perms: Permissions, hidden: frozenset[str] | None):
    """("all" | "none" | "allow" | "mask", local docnum set) for one segment and one viewer.
    `hidden` (employees only): communities whose content they may not read.

    Each document type is filtered by its registered rule: "content" (posts, comments, chat,
    topics, experts): its community must be readable; "community": readable, or for employees
    discoverable (every community); "person": the people the viewer may see. A document whose
    type has no rule is seen by nobody but staff."""
    if not perms.active:
        return "none", None
    if perms.everything:
        return "all", None

    def local(terms) -> set[int]:
        out: set[int] = set()
        for fieldname, value in terms:
            out |= _cache._local(reader, seg_key, fieldname, value)
        return out

    content_types, community_types = _rule_types("content"), _rule_types("community")
    person_types = _rule_types("person")
    known = frozenset(content_types + community_types + person_types)
    if perms.discover_all and perms.people_all:
        key = (seg_key, "mask", hidden, known)
        mask = _cache._get(_cache.combined, key)
        if mask is None:
            mask = local(("community", c) for c in hidden or ()) - local(("type", t) for t in community_types)
            if _unknown_types(reader, known):
                mask |= set(range(reader.doc_count_all())) - local(("type", t) for t in known)
            _cache._put(_cache.combined, key, mask, _cache.combined_size)
        return "mask", mask
    readable = frozenset(str(c) for c in perms.readable)
    people = _people_terms(perms)
    key = (seg_key, "allow", readable, perms.discover_all, people, known)
    allow = _cache._get(_cache.combined, key)
    if allow is None:
        in_readable = local(("community", c) for c in readable)
        allow = in_readable & local(("type", t) for t in content_types)
        communities = local(("type", t) for t in community_types)
        allow |= communities if perms.discover_all else communities & in_readable
        allow |= local(people) & local(("type", t) for t in person_types)
        _cache._put(_cache.combined, key, allow, _cache.combined_size)
    return "allow", allow


def _unknown_types(reader, known: frozenset[str]) -> bool:
    """Whether the segment holds documents of a type without a registered rule."""
    return any((v.decode() if isinstance(v, bytes) else v) not in known for v in reader.lexicon("type"))


def _hidden(searcher, perms: Permissions) -> frozenset[str] | None:
    if perms.active and not perms.everything and perms.discover_all and perms.people_all:
        return frozenset(_all_values(searcher, "community") - {str(c) for c in perms.readable})
    return None


def restriction(searcher, perms: Permissions) -> Restriction:
    """The documents this viewer may see, as one Whoosh filter (or mask) over the whole index."""
    if not perms.active:
        return Restriction(nothing=True)
    if perms.everything:
        return Restriction()
    hidden = _hidden(searcher, perms)
    parts = []
    for ss, off in searcher.leaf_searchers():
        reader = ss.reader()
        parts.append((off, local_restriction(searcher, reader, _segment_key(reader), perms, hidden)))
    if all(kind == "all" for _off, (kind, _set) in parts):
        return Restriction()
    kind = parts[0][1][0]

    def combine():
        out: set[int] = set()
        for off, (_kind, local) in parts:
            if local:
                out.update(d + off for d in local) if off else out.update(local)
        return out

    key = ("restriction", kind, perms.readable, perms.discover_all, _people_terms(perms), hidden)
    found = _cache.derived(searcher, key, combine)
    if kind == "mask":
        return Restriction(mask=found or None)
    if not found:
        return Restriction(nothing=True)
    return Restriction(allow=found)


# --- parsing ---------------------------------------------------------------------------------

_FIELD_RE = re.compile(r'(?<![\w"])([A-Za-z_]+):(?=[^\s/])')
_STAR_RE = re.compile(r"(?<!\S)(\S{0,1})\*")


def _outside_quotes(text: str) -> str:
    return re.sub(r'"[^"]*"', lambda m: " " * len(m.group(0)), text)


def validate(text: str) -> str:
    """The query, tidied; raises QueryError with a message a person can act on."""
    text = " ".join((text or "").split())
    if not text:
        raise QueryError("Type a word or two to search for.")
    if len(text) > MAX_QUERY:
        raise QueryError(f"That search is too long: use at most {MAX_QUERY} characters.")
    if text.count('"') % 2:
        raise QueryError('A quote is not closed. Put phrases between two double quotes, like "free returns".')
    bare = _outside_quotes(text)
    if bare.count("(") != bare.count(")"):
        raise QueryError("The brackets do not match: every ( needs a ).")
    for name in _FIELD_RE.findall(bare):
        if name.lower() not in USER_FIELDS:
            raise QueryError(f"There is no field “{name}:”. You can use status:, kind:, author:, topic:, "
                             "community:, type:, department:, title: and body:.")
    if _STAR_RE.search(bare):
        raise QueryError("Put at least two letters before * (for example retur*).")
    words = [w for w in re.split(r"[\s()]+", bare) if w]
    if words and all(w.upper() in ("AND", "OR", "NOT", "ANDNOT", "ANDMAYBE") for w in words):
        raise QueryError("AND, OR and NOT join words: add the words to search for.")
    if len(words) > MAX_TERMS:
        raise QueryError(f"That search has too many words: use at most {MAX_TERMS}.")
    first, last = words[0].upper() if words else "", words[-1].upper() if words else ""
    if first in ("AND", "OR") or last in ("AND", "OR", "NOT"):
        raise QueryError(f"“{last if last in ('AND', 'OR', 'NOT') else first}” needs a word on each side.")
    return text


class SwapFuzzyTerm(wq.FuzzyTerm):
    """`word~`: words within the given number of typos, a swap of two neighbouring letters
    counting as one (Damerau; Whoosh's own FuzzyTerm counts it as two, so `tnet~` missed "tent")."""

    def _btexts(self, ixreader):
        from whoosh.support.levenshtein import damerau_levenshtein

        text, maxdist = self.text, self.maxdist
        # Whoosh's own word-graph walk with twice the distance (a swap is two plain edits) finds
        # every candidate fast; keep those within `maxdist` when a swap counts as one
        for word in ixreader.terms_within(self.fieldname, text, 2 * maxdist, prefix=self.prefixlength):
            if damerau_levenshtein(word, text, limit=maxdist) <= maxdist:
                yield word


class _FuzzyPlugin(FuzzyTermPlugin):
    class FuzzyTermNode(FuzzyTermPlugin.FuzzyTermNode):
        qclass = SwapFuzzyTerm


_parsers: dict[int, MultifieldParser] = {}


def _parser(schema) -> MultifieldParser:
    parser = _parsers.get(id(schema))
    if parser is None:
        parser = MultifieldParser(list(search_schema.TEXT_FIELDS), schema,
                                  fieldboosts={"title": 3.0, "topics": 1.5, "expertise": 2.0})
        parser.add_plugin(_FuzzyPlugin())
        # +word / -word only at the start of a word (so "tent-pole" stays one phrase)
        parser.add_plugin(PlusMinusPlugin(plusexpr=r"(?<![^\s(])\+(?=\S)", minusexpr=r"(?<![^\s(])-(?=\S)"))
        parser.add_plugin(FieldAliasPlugin(FIELD_ALIASES))
        _parsers[id(schema)] = parser
    return parser


#: fields whose value names a person (a handle, the start of one, a first name, a word of the
#: name); the resolver says which handles it means (app/services/search.py)
PERSON_FIELDS = ("author",)


@dataclass(frozen=True)
class Resolved:
    """What a resolver found for a value: the index values, and a note for the page (e.g. that
    a name matched several people)."""

    values: list[str]
    note: str | None = None


Resolver = Callable[[str, str], "list[str] | Resolved | None"]  # (field, value) -> index values, None: unknown


def _value_of(q) -> str:
    value = q.text if isinstance(q, wq.Term) else " ".join(q.words)
    return (value.decode() if isinstance(value, bytes) else str(value)).strip().lower()


def _rewrite(q, resolve: Resolver | None, notes: list[str]):
    """Map friendly values to index values (status:"under review", kind:ideas, type:people,
    community:customer-ideas, author:anna). Raises QueryError for a community or department
    that names nothing; a person field that names nobody keeps its value (and finds nothing).
    Notes for the page are added to `notes`."""
    special = ("status", "kind", "type", "community", "department", *PERSON_FIELDS)
    if isinstance(q, (wq.Term, wq.Phrase)) and q.fieldname in special:
        fieldname, value = q.fieldname, _value_of(q)
        if fieldname == "status":
            mapped = STATUS_WORDS.get(value)
            if mapped is None:
                raise QueryError(f"status: can be new, under review, planned, in progress, done, declined "
                                 f"or duplicate (not “{value}”).")
            return wq.Term("status", mapped)
        if fieldname == "kind":
            mapped = KIND_WORDS.get(value)
            if mapped is None:
                raise QueryError(f"kind: can be idea, question or discussion (not “{value}”).")
            return wq.Term("kind", mapped)
        if fieldname == "type":
            mapped = TYPE_WORDS.get(value)
            if mapped is None:
                raise QueryError(f"type: can be post, comment, message, person, expert, community or topic (not “{value}”).")
            return wq.Term("type", mapped)
        if fieldname in PERSON_FIELDS:
            value = value.lstrip("@")
            found = resolve(fieldname, value) if resolve else None
            if isinstance(found, Resolved):
                if found.note and found.note not in notes:
                    notes.append(found.note)
                found = found.values
            values = found or [value]
            return wq.Or([wq.Term(fieldname, v) for v in values]) if len(values) > 1 else wq.Term(fieldname, values[0])
        values = resolve(fieldname, value) if resolve else None
        if isinstance(values, Resolved):
            values = values.values
        if not values:
            raise QueryError(f"No {fieldname} you can see matches “{value}”.")
        return wq.Or([wq.Term(fieldname, v) for v in values]) if len(values) > 1 else wq.Term(fieldname, values[0])
    if q.is_leaf():
        return q
    return q.apply(lambda child: _rewrite(child, resolve, notes))


def parse(schema, text: str, resolve: Resolver | None = None) -> tuple[object, list[str]]:
    """(whoosh query, notes) for the user's text. Raises QueryError."""
    text = validate(text)
    try:
        q = _parser(schema).parse(text)
    except Exception as exc:  # noqa: BLE001 - Whoosh's parser is lenient; anything else is ours to explain
        raise QueryError("We could not read this search. Try plain words, \"phrases\", AND, OR, NOT.") from exc
    notes: list[str] = []
    q = _rewrite(q, resolve, notes).normalize()
    if isinstance(q, wq.Not) or (isinstance(q, wq.NullQuery.__class__)
                                 and all(w.startswith("-") for w in _outside_quotes(text).split())):
        raise QueryError("NOT and -word leave words out: add a word to search for, like tent -tarp.")
    if q is wq.NullQuery or isinstance(q, wq.NullQuery.__class__):
        raise QueryError("Those words are too common to search for: add a more specific word.")
    if isinstance(q, wq.Every):
        raise QueryError("Type a word or two to search for.")
    return q, notes


# --- search ---------------------------------------------------------------------------------

@dataclass
class Hit:
    doc_id: str
    type: str
    pk: int
    score: float


@dataclass
class Outcome:
    total: int = 0
    hits: list[Hit] = field(default_factory=list)
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    type_counts: dict[str, int] = field(default_factory=dict)
    terms: dict[str, set[str]] = field(default_factory=dict)   # field -> terms to highlight
    suggestion: str | None = None                              # "did you mean"
    notes: list[str] = field(default_factory=list)


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


def _with_filters(q, filters: dict):
    extra = [wq.ConstantScoreQuery(f, 0.0) for f in _filter_queries(filters)]
    return wq.And([q] + extra) if extra else q


def _highlight_terms(searcher, q) -> dict[str, set[str]]:
    """field -> the index terms of the query (prefixes and fuzzy terms expanded), for highlights."""
    terms: dict[str, set[str]] = {}
    found = set()
    reader = searcher.reader()
    # leaf by leaf: Whoosh's Query.existing_terms reuses its `fieldname` argument as a loop
    # variable and so stops after the first field
    for leaf in q.leaves():
        try:
            found |= leaf.existing_terms(reader, expand=True)
        except Exception:  # noqa: BLE001 - highlighting is a nicety
            found |= set(leaf.terms())
    for fieldname, text in found:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "ignore")
        terms.setdefault(fieldname, set()).add(text)
    return terms


def _values(reader, seg_key, fieldname: str) -> list:
    """The value of `fieldname` for every document of one segment (from its column; interned;
    a list of tuples for the topic list), cached per segment."""
    key = (seg_key, "values", fieldname)
    found = _cache._get(_cache.terms, key)
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
        _cache._put(_cache.terms, key, found, _cache.size)
    return found


FACET_FIELDS = {"type": "type", "community": "community", "topic": "topic_ids", "kind": "kind",
                "status": "status", "author_kind": "author_kind", "department": "department", "date": "day"}


def _count(values: list, docs, name: str, counter: Counter) -> None:
    if name == "topic":
        counter.update(chain.from_iterable(map(values.__getitem__, docs)))
    else:
        counter.update(map(values.__getitem__, docs))


#: single-valued facets counted together through one "combination" column (see _combinations)
COMBINED_FACETS = ("type", "community", "kind", "status", "author_kind", "department")


def _combinations(reader, seg_key, names: tuple[str, ...]) -> tuple[list[int], list[tuple]]:
    """For one segment: the index of each document's combination of values of the facets
    `names` (a few hundred distinct combinations in practice), and the combinations. Counting
    a result set's combinations once, then adding them up per facet, costs one pass over the
    documents instead of one per facet. Cached per segment."""
    key = (seg_key, "combinations", names)
    found = _cache._get(_cache.terms, key)
    if found is None:
        index: dict[tuple, int] = {}
        columns = [_values(reader, seg_key, FACET_FIELDS[name]) for name in names]
        per_doc = [index.setdefault(values, len(index)) for values in zip(*columns, strict=True)]
        found = (per_doc, list(index))
        _cache._put(_cache.terms, key, found, _cache.size)
    return found


def _count_facets(reader, seg_key, docs, names: list[str], counters: dict[str, Counter]) -> None:
    """Add the facet values of `docs` (one segment, no filter applied) to `counters`."""
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
            _count(_values(reader, seg_key, FACET_FIELDS[name]), docs, name, counters[name])


def _date_buckets(days: Counter) -> list[tuple[str, int]]:
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


def _narrow(reader, seg_key, docs: set[int], filters: dict, skip: str | None = None) -> set[int]:
    """`docs` of one segment that pass every filter but `skip` (set intersections with the
    cached term sets; the date with the day column)."""
    for key in ("type", "community", "kind", "status", "author_kind", "department", "topic"):
        value = filters.get(key)
        if key != skip and value not in (None, ""):
            docs = docs & _cache._local(reader, seg_key, FACET_FIELDS[key], str(value))
            if not docs:
                return docs
    if filters.get("date") and skip != "date":
        today = day_number(clock.utcnow())
        span = next((d for k, _l, d in DATE_BUCKETS if k == filters["date"]), 366)
        days = _values(reader, seg_key, "day")
        if span is None:
            docs = {d for d in docs if days[d] and today - days[d] > 366}
        else:
            docs = {d for d in docs if days[d] and today - days[d] <= span}
    return docs


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


def _matching(q, ss, context, memo: dict | None = None) -> set[int]:
    """The local document numbers of one segment matching `q`, by set algebra over the posting
    lists of its terms (the same documents Whoosh's matcher tree would visit, without scoring
    and without stepping through the tree posting by posting). Query types without a known
    meaning here are asked for their own matcher. `memo`: see _leaf_ids."""
    kind = type(q)
    if kind is wq.Term:
        return _leaf_ids(q.matcher(ss, context), memo, (id(ss), q.fieldname, q.text))
    if kind is wq.And:
        positive = [sub for sub in q.subqueries if not isinstance(sub, wq.Not)]
        if positive:
            out: set[int] | None = None
            for sub in positive:
                docs = _matching(sub, ss, context, memo)
                out = docs if out is None else out & docs
                if not out:
                    return set()
            for sub in q.subqueries:
                if isinstance(sub, wq.Not) and out:
                    out -= _matching(sub.query, ss, context)
            return out
    elif kind is wq.Or and not q.minmatch and not any(isinstance(sub, wq.Not) for sub in q.subqueries):
        out = set()
        for sub in q.subqueries:
            out |= _matching(sub, ss, context, memo)
        return out
    elif kind is wq.AndNot:
        out = _matching(q.a, ss, context, memo)
        return out - _matching(q.b, ss, context) if out else out
    elif kind is wq.AndMaybe:
        return _matching(q.a, ss, context, memo)
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
    found = _cache._get(_cache.terms, key)
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
        _cache._put(_cache.terms, key, found, _cache.size)
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
    Blocks that `_matching` decoded already are taken from `memo`. Other leaves are skipped
    to the wanted documents one by one."""
    scores = dict.fromkeys(docs, 0.0)
    if not docs:
        return scores
    reader = ss.reader()
    seg_key = _segment_key(reader)
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


def _page(searcher, q, parts: list[tuple[object, int, list[int]]], sort: str, limit: int,
          memo: dict | None = None) -> list[tuple[int, float]]:
    """(global docnum, score) of the best `limit` documents of `parts` (per segment: searcher,
    offset, local docnums), in Whoosh's order: best score first, then the lower docnum; or
    newest first; or most votes, then newest. Only these documents are scored or sorted."""
    if sort in ("newest", "votes"):
        keyed = []
        for ss, off, docs in parts:
            reader = ss.reader()
            seg_key = _segment_key(reader)
            created = _values(reader, seg_key, "created")
            if sort == "votes":
                votes = _values(reader, seg_key, "votes")
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


def search(searcher, perms: Permissions, text: str, *, filters: dict | None = None, sort: str = "relevance",
           page: int = 1, per_page: int = PER_PAGE, facets: tuple[str, ...] = FACETS,
           resolve: Resolver | None = None, suggest: bool = True) -> Outcome:
    """Run a search for a viewer. Raises QueryError.

    Per segment: the documents matching the query (set algebra over posting lists, no scoring),
    minus what the viewer may not see, narrowed by the filters; totals, tab counts and facets
    are counted from those sets (column values cached per segment). Only the documents left
    are then scored (or sorted by date or votes) to find the page of hits."""
    filters = filters or {}
    q, notes = parse(searcher.schema, text, resolve)
    outcome = Outcome(notes=notes)
    outcome.terms = _highlight_terms(searcher, q)
    if not perms.active:
        return outcome
    hidden = _hidden(searcher, perms)
    wanted = [f for f in facets if f in FACET_FIELDS]
    counters = {name: Counter() for name in wanted}
    parts: list[tuple[object, int, list[int]]] = []
    boolean = searcher.boolean_context()
    memo: dict = {}  # decoded posting blocks of the query's terms, for scoring (see _leaf_ids)
    for ss, off in searcher.leaf_searchers():
        reader = ss.reader()
        seg_key = _segment_key(reader)
        kind, local = local_restriction(searcher, reader, seg_key, perms, hidden)
        if kind == "none" or (kind == "allow" and not local):
            continue
        matched = _matching(q, ss, boolean, memo)
        if kind == "allow":
            matched &= local
        elif kind == "mask":
            matched -= local
        if not matched:
            continue
        narrowed = _narrow(reader, seg_key, matched, filters)
        unfiltered = [name for name in wanted if not filters.get(name)]
        if narrowed and unfiltered:
            _count_facets(reader, seg_key, narrowed, unfiltered, counters)
        for name in wanted:
            if filters.get(name):  # a facet in use counts the documents that pass the other filters
                docs = _narrow(reader, seg_key, matched, filters, skip=name)
                if docs:
                    _count(_values(reader, seg_key, FACET_FIELDS[name]), docs, name, counters[name])
        if narrowed:
            parts.append((ss, off, list(narrowed)))
    outcome.total = sum(len(docs) for _ss, _off, docs in parts)
    for name, counter in counters.items():
        if name == "date":
            outcome.facets[name] = _date_buckets(counter)
        else:
            outcome.facets[name] = sorted(((str(k), n) for k, n in counter.items() if k not in (None, "")),
                                          key=lambda kv: (-kv[1], kv[0]))
    if "type" in counters:
        outcome.type_counts = dict(outcome.facets.pop("type"))
    if parts:
        page = max(1, page)
        start = (page - 1) * per_page
        for docnum, score in _page(searcher, q, parts, sort, page * per_page, memo)[start:start + per_page]:
            doc_id = searcher.stored_fields(docnum)["id"]
            kind_, _, pk = doc_id.partition(":")
            outcome.hits.append(Hit(doc_id, kind_, int(pk), score))
    elif suggest:
        outcome.suggestion = _suggest(searcher, restriction(searcher, perms), text, q, 0, filters)
    return outcome


# --- did you mean ---------------------------------------------------------------------------

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
            local = _cache._local(reader, _segment_key(reader), q.fieldname, q.text)
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
    results = searcher.search(_with_filters(q, filters), limit=limit, **rest.kwargs())
    return len(results)


def _spell_words(reader, seg_key) -> dict[tuple[str, int], list[str]]:
    """The `spell` words of one segment by (first letter, length), cached per segment."""
    key = (seg_key, "spell-words")
    found = _cache._get(_cache.terms, key)
    if found is None:
        found = {}
        for raw in reader.lexicon("spell"):
            w = raw.decode() if isinstance(raw, bytes) else raw
            found.setdefault((w[:1], len(w)), []).append(w)
        _cache._put(_cache.terms, key, found, _cache.size)
    return found


def _within(searcher, word: str, maxdist: int) -> dict[str, tuple[int, bool]]:
    """Words of the `spell` field within `maxdist` edits of `word` (Damerau: a swap of two
    neighbouring letters is one edit), with (distance, whether a swap is among the edits).
    Candidates start with the same letter, or with the second one (a swap of the first two)."""
    from whoosh.support.levenshtein import damerau_levenshtein, levenshtein

    out: dict[str, tuple[int, bool]] = {}
    firsts = {word[:1], word[1:2]}
    for ss, _off in searcher.leaf_searchers():
        reader = ss.reader()
        words = _spell_words(reader, _segment_key(reader))
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


def _suggest(searcher, rest: Restriction, text: str, q, total: int, filters: dict) -> str | None:
    """A corrected query that finds more than `total` within what the viewer may see, or None.
    Each plain word that finds nothing by itself (for the viewer) is replaced by its likeliest
    correction (_best_correction); words with results, phrases, `field:value`, operators and
    short words are kept as typed. Candidates are the words of titles, texts, names and topics
    (`spell`), counted only in documents the viewer may see, so a suggestion never reveals a
    word of something they may not read."""
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


# --- more like this --------------------------------------------------------------------------

def similar(searcher, perms: Permissions, text: str, *, limit: int = 5, types: tuple[str, ...] = ("post",),
            community: int | None = None) -> list[Hit]:
    """Documents like `text` (e.g. the title being typed) among what the viewer may see."""
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


# --- highlights -----------------------------------------------------------------------------

class _Segments(wh.Formatter):
    """A formatter that returns (text, matched) pairs instead of markup: the template escapes
    every piece, so a highlight can never inject HTML."""

    between = None

    def format_token(self, text, token, replace=False):
        return (wh.get_text(text, token, replace), True)

    def format_fragment(self, fragment, replace=False):
        output = []
        index = fragment.startchar
        text = fragment.text
        for t in sorted(fragment.matches, key=lambda tok: (tok.startchar, -(tok.endchar - tok.startchar))):
            if t.startchar is None or t.startchar < index:
                continue
            if t.startchar > index:
                output.append((text[index:t.startchar], False))
            output.append(self.format_token(text, t, replace))
            index = t.endchar
        output.append((text[index:fragment.endchar], False))
        return fragment.startchar, fragment.endchar, output

    def format(self, fragments, replace=False):
        return [self.format_fragment(f, replace=replace) for f in fragments]


_analyzers: dict[str, object] = {}


def segments(text: str, terms: set[str], language: str, *, whole: bool = False, maxchars: int = 220,
             top: int = 2) -> list[tuple[str, bool]]:
    """`text` (or its best fragments) as (piece, matched) pairs; "…" marks text left out.
    Without a match: the start of the text, unmarked."""
    text = text or ""
    if not text:
        return []
    analyzer = _analyzers.get(language)
    if analyzer is None:
        analyzer = _analyzers.setdefault(language, search_schema.text_analyzer(language))
    offset, window = 0, text
    if terms and not whole and len(text) > 3 * maxchars:
        # analyse only the stretch around the first place a term (or its stem) appears: the
        # analyser is the cost of a snippet, and a long body would be analysed whole
        lowered = text.lower()
        found = [lowered.find(t[:max(3, len(t) - 1)]) for t in terms if t]
        found = [f for f in found if f >= 0]
        if not found:
            terms = set()  # no term in the text: the start of the text, without analysing it
        else:
            first = min(found)
            offset = max(0, text.rfind(" ", 0, max(0, first - maxchars)) + 1)
            window = text[offset:first + 3 * maxchars]
    if terms:
        fragmenter = wh.WholeFragmenter() if whole else wh.ContextFragmenter(maxchars=maxchars, surround=60)
        try:
            fragments = wh.highlight(window, terms, analyzer, fragmenter, _Segments(), top=top)
        except Exception:  # noqa: BLE001 - never fail a page over a snippet
            fragments = []
        if fragments:
            out: list[tuple[str, bool]] = []
            end_of_text = len(text.rstrip(" .!?…\n"))
            fragments = [(start + offset, end + offset, pieces) for start, end, pieces in fragments]
            for i, (start, end, pieces) in enumerate(sorted(fragments, key=lambda f: f[0])):
                if start > 0 and not whole:
                    out.append(("… " if i == 0 else " … ", False))
                elif i:
                    out.append((" ", False))
                out.extend(piece for piece in pieces if piece[0])
                if i == len(fragments) - 1 and end < end_of_text and not whole:
                    out.append((" …", False))
            return out
    if whole or len(text) <= maxchars:
        return [(text, False)]
    cut = text[:maxchars].rsplit(" ", 1)[0]
    return [(cut + " …", False)]


def since(days: int) -> int:
    return day_number(clock.utcnow() - timedelta(days=days))
