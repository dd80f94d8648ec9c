"""What the index follows, as two registries other features add to (no Whoosh here).

- `track(model, doc_ids, fields=..., bulk=...)`: a change to a row of `model` (insert, update
  of one of `fields`, delete; through the ORM or an ORM-enabled bulk UPDATE/DELETE) makes the
  documents `doc_ids(row)` be looked at again. The change log row is written in the same
  transaction (app/search/capture.py).
- `document_type(DocType(...))`: how documents of one type are built from the database
  (`build(pks) -> {pk: fields}`; a pk missing from the answer is removed from the index), how to
  list all of them for a rebuild, and which permission rule the query applies:
    "content"   readable communities (posts, comments, topics, experts of topics, chat messages)
    "community" discoverable communities (a community's own name and description)
    "person"    people the viewer may see (access.people_clause semantics); a person's document
                carries nothing that belongs to a community (not even the topics they are an
                expert of: those are "expert" documents in the topic's community)
  app/search/query/permissions.py applies exactly these rules; a document of a type without a rule is
  seen by staff only.

A feature that adds searchable content (e.g. the chat) calls both at import time.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

RULES = ("content", "community", "person")


@dataclass(frozen=True)
class Tracked:
    model: type
    doc_ids: Callable[[object], Iterable[str]]
    fields: frozenset[str] | None = None          # None: any change counts
    bulk: tuple[object, str] | None = None         # (column, prefix) for bulk UPDATE/DELETE


@dataclass(frozen=True)
class DocType:
    name: str                                      # "post"
    label: str                                     # "Posts" (tab)
    rule: str                                      # one of RULES
    build: Callable[[list[int]], dict[int, dict]]  # pk -> index fields, only rows that belong
    batches: Callable[[int], Iterator[list[int]]]  # every pk, in batches of the given size
    cascade: Callable[[dict | None, dict | None], list[str]] | None = None
    order: int = 50                                # tab order
    extra: dict = field(default_factory=dict)


_tracked: dict[type, list[Tracked]] = {}
_types: dict[str, DocType] = {}


def track(model: type, doc_ids: Callable[[object], Iterable[str]], *, fields: Iterable[str] | None = None,
          bulk: tuple[object, str] | None = None) -> None:
    """Follow changes of `model` rows (see the module docstring)."""
    entry = Tracked(model, doc_ids, frozenset(fields) if fields is not None else None, bulk)
    entries = _tracked.setdefault(model, [])
    if not any(e.doc_ids is doc_ids for e in entries):
        entries.append(entry)


def tracked_for(model: type) -> list[Tracked]:
    return _tracked.get(model, [])


def tracked_models() -> list[type]:
    return list(_tracked)


def document_type(doc_type: DocType) -> DocType:
    if doc_type.rule not in RULES:
        raise ValueError(f"unknown permission rule {doc_type.rule!r}")
    _types[doc_type.name] = doc_type
    return doc_type


def doc_types() -> list[DocType]:
    return sorted(_types.values(), key=lambda t: (t.order, t.name))


def doc_type(name: str) -> DocType | None:
    return _types.get(name)


def split_id(doc_id: str) -> tuple[str, int] | None:
    """("post", 12) from "post:12"; None for anything else."""
    kind, _, raw = (doc_id or "").partition(":")
    if not raw.isdigit() or kind not in _types:
        return None
    return kind, int(raw)
