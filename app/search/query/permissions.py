"""The permission filter: what one viewer may see, as part of the Whoosh search itself.

`Permissions` are facts about the viewer (built by app/services/search.py from the access rules,
fresh for every query). Each document type is filtered by the rule it registered in
app/search/registry.py; the documents allowed (or, when that is smaller, those hidden) are
computed per segment from cached term sets and handed to Whoosh as its filter (or mask). An
empty allowed set means "nothing", never "no filter".
"""
from __future__ import annotations

from dataclasses import dataclass

from app.search import registry
from app.search.query.cache import segment_cache, segment_key


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


def _all_values(searcher, fieldname: str) -> set[str]:
    return {v.decode() if isinstance(v, bytes) else v for v in searcher.reader().lexicon(fieldname)}


@dataclass
class Restriction:
    """How Whoosh restricts a search for a viewer: nothing at all, only a set, or all but a set."""

    nothing: bool = False
    allow: set[int] | None = None
    mask: set[int] | None = None

    def kwargs(self) -> dict:
        """The keyword arguments for Whoosh's Searcher.search: `filter` and/or `mask` (empty for
        no restriction; check `nothing` first). Raises nothing."""
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
    type has no rule is seen by nobody but staff. Cached per segment; raises nothing."""
    if not perms.active:
        return "none", None
    if perms.everything:
        return "all", None

    def local(terms) -> set[int]:
        out: set[int] = set()
        for fieldname, value in terms:
            out |= segment_cache.segment_docs(reader, seg_key, fieldname, value)
        return out

    content_types, community_types = _rule_types("content"), _rule_types("community")
    person_types = _rule_types("person")
    known = frozenset(content_types + community_types + person_types)
    if perms.discover_all and perms.people_all:
        key = (seg_key, "mask", hidden, known)
        mask = segment_cache.get(segment_cache.combined, key)
        if mask is None:
            mask = local(("community", c) for c in hidden or ()) - local(("type", t) for t in community_types)
            if _unknown_types(reader, known):
                mask |= set(range(reader.doc_count_all())) - local(("type", t) for t in known)
            segment_cache.put(segment_cache.combined, key, mask, segment_cache.combined_size)
        return "mask", mask
    readable = frozenset(str(c) for c in perms.readable)
    people = _people_terms(perms)
    key = (seg_key, "allow", readable, perms.discover_all, people, known)
    allow = segment_cache.get(segment_cache.combined, key)
    if allow is None:
        in_readable = local(("community", c) for c in readable)
        allow = in_readable & local(("type", t) for t in content_types)
        communities = local(("type", t) for t in community_types)
        allow |= communities if perms.discover_all else communities & in_readable
        allow |= local(people) & local(("type", t) for t in person_types)
        segment_cache.put(segment_cache.combined, key, allow, segment_cache.combined_size)
    return "allow", allow


def _unknown_types(reader, known: frozenset[str]) -> bool:
    """Whether the segment holds documents of a type without a registered rule."""
    return any((v.decode() if isinstance(v, bytes) else v) not in known for v in reader.lexicon("type"))


def hidden_communities(searcher, perms: Permissions) -> frozenset[str] | None:
    """For a viewer who discovers every community and sees every person (an employee): the
    communities of the index whose content they may not read, as index values; None for
    anyone else (staff, inactive, externals), whose filter is an allowed set. Raises nothing."""
    if perms.active and not perms.everything and perms.discover_all and perms.people_all:
        return frozenset(_all_values(searcher, "community") - {str(c) for c in perms.readable})
    return None


def restriction(searcher, perms: Permissions) -> Restriction:
    """The documents this viewer may see, as one Whoosh filter (or mask) over the whole index:
    a Restriction (nothing, everything, an allowed set or a mask). Raises nothing."""
    if not perms.active:
        return Restriction(nothing=True)
    if perms.everything:
        return Restriction()
    hidden = hidden_communities(searcher, perms)
    parts = []
    for ss, off in searcher.leaf_searchers():
        reader = ss.reader()
        parts.append((off, local_restriction(searcher, reader, segment_key(reader), perms, hidden)))
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
    found = segment_cache.derived(searcher, key, combine)
    if kind == "mask":
        return Restriction(mask=found or None)
    if not found:
        return Restriction(nothing=True)
    return Restriction(allow=found)
