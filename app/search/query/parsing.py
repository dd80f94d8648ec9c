"""Reading a search: validation with messages a person can act on, the Whoosh parser (fields,
boosts, `word~` with a swap as one typo, +word/-word), and friendly field values mapped to
index values (status:"under review", kind:ideas, type:people, community:…, author:…).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from whoosh import query as wq
from whoosh.qparser import FieldAliasPlugin, FuzzyTermPlugin, MultifieldParser, PlusMinusPlugin
from whoosh.support.levenshtein import damerau_levenshtein

from app.search import schema as search_schema

MAX_QUERY = 300
MAX_TERMS = 24


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


class QueryError(ValueError):
    """A query that cannot be read; the message says why and how to fix it."""


_FIELD_RE = re.compile(r'(?<![\w"])([A-Za-z_]+):(?=[^\s/])')
_STAR_RE = re.compile(r"(?<!\S)(\S{0,1})\*")


def _outside_quotes(text: str) -> str:
    return re.sub(r'"[^"]*"', lambda m: " " * len(m.group(0)), text)


def validate(text: str) -> str:
    """The query, tidied (whitespace collapsed). Raises QueryError with a message a person can
    act on (empty, too long, an open quote or bracket, an unknown field, a bare operator...)."""
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


def parser_for(schema) -> MultifieldParser:
    """The query parser for `schema` (the text fields with their boosts, fuzzy terms that count
    a swap as one typo, +word/-word, the friendly field aliases), built once per schema. It
    does not validate: use parse() for the user's text. Raises nothing."""
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
    """(whoosh query, notes for the page) for the user's text, validated and with friendly
    field values mapped to index values (`resolve` maps community, department and person
    values). Raises QueryError, with a message a person can act on."""
    text = validate(text)
    try:
        q = parser_for(schema).parse(text)
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
